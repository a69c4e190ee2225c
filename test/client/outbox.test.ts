import { describe, expect, it } from "vitest";
import { ChatError, Outbox } from "../../src/client/index.js";

describe("outbox: unacknowledged messages", () => {
  it("keeps messages in the order they were added and resolves each on its ack", async () => {
    const box = new Outbox(10);
    const a = box.add("a", "first");
    const b = box.add("b", "second");
    expect(box.frames()).toEqual([
      { type: "message", text: "first", client_msg_id: "a" },
      { type: "message", text: "second", client_msg_id: "b" },
    ]);
    expect(box.ack({ client_msg_id: "b", id: "id-b", seq: 8 })).toBe(true);
    await expect(b).resolves.toEqual({ clientMsgId: "b", id: "id-b", seq: 8 });
    // Commands other than messages may be acked without a comment or an event (blocked_terms).
    const t = box.add("t", { type: "blocked_terms", add: ["spam"] });
    expect(box.frames()[1]).toEqual({ type: "blocked_terms", add: ["spam"], client_msg_id: "t" });
    box.ack({ client_msg_id: "t" });
    await expect(t).resolves.toEqual({ clientMsgId: "t" });
    expect(box.entries()).toEqual([{ clientMsgId: "a", command: { type: "message", text: "first" } }]);
    // A second ack for the same id (a resend answered twice) is harmless.
    expect(box.ack({ client_msg_id: "b", id: "id-b", seq: 8 })).toBe(false);
    box.ack({ client_msg_id: "a", id: "id-a", seq: 7 });
    await expect(a).resolves.toMatchObject({ seq: 7 });
    expect(box.size).toBe(0);
  });

  it("returns the same promise when the same id is added twice, and stores it once", () => {
    const box = new Outbox(10);
    const p1 = box.add("x", "hello");
    const p2 = box.add("x", "hello");
    expect(p2).toBe(p1);
    expect(box.size).toBe(1);
  });

  it("refuses a message past its limit with a clear outbox_full error", () => {
    const box = new Outbox(2);
    void box.add("1", "a");
    void box.add("2", "b");
    let caught: unknown;
    try {
      void box.add("3", "c");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ChatError);
    expect(caught).toMatchObject({ code: "outbox_full", clientMsgId: "3" });
    expect((caught as Error).message).toMatch(/2 messages are still waiting/);
    expect(box.size).toBe(2);
  });

  it("rejects one entry with its error, and all entries on failAll", async () => {
    const box = new Outbox(5);
    const a = box.add("a", "x");
    const b = box.add("b", "y");
    const c = box.add("c", "z");
    box.fail("a", new ChatError("rate_limited", "slow down", { retryAfterMs: 120, clientMsgId: "a" }));
    await expect(a).rejects.toMatchObject({ code: "rate_limited", retryAfterMs: 120 });
    box.failAll((id) => new ChatError("closed", "closed", { clientMsgId: id }));
    await expect(b).rejects.toMatchObject({ code: "closed", clientMsgId: "b" });
    await expect(c).rejects.toMatchObject({ code: "closed", clientMsgId: "c" });
    expect(box.size).toBe(0);
  });

  it("hands out queued messages oldest first; a throttled one is queued again and counted", () => {
    const box = new Outbox(5);
    void box.add("a", "x");
    void box.add("b", "y");
    expect(box.nextQueued()).toMatchObject({ client_msg_id: "a" });
    box.markSent("a");
    expect(box.nextQueued()).toMatchObject({ client_msg_id: "b" });
    box.markSent("b");
    expect(box.nextQueued()).toBeNull();
    expect(box.throttled("b")).toBe(1);
    expect(box.throttled("b")).toBe(2);
    expect(box.nextQueued()).toMatchObject({ client_msg_id: "b" });
    expect(box.throttled("unknown")).toBe(0);
    box.requeueAll();
    expect(box.nextQueued()).toMatchObject({ client_msg_id: "a" });
  });
});
