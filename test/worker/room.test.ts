import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Client, connect, newStreamId, newUserId, openSockets, roomStub, setLimits, sleep, token } from "./helpers";

const msg = (text: string, client_msg_id?: string) => ({ type: "message", text, ...(client_msg_id ? { client_msg_id } : {}) });

describe("broadcast", () => {
  it("reaches every socket of the stream, the sender included, and none of another stream", async () => {
    const sid = newStreamId();
    const viewers: Client[] = [];
    for (let i = 0; i < 5; i++) viewers.push(await connect(sid, { token: await token({ username: `v${i}` }) }));
    const other = await connect(newStreamId());
    viewers[0]!.send(msg("hello everyone"));
    for (const v of viewers) await v.until((c) => c.comments().length === 1, "the comment");
    const frames = viewers.map((v) => v.comments()[0]!);
    for (const f of frames) expect(f).toEqual(frames[0]);
    const f = frames[0]!;
    expect(f.seq).toBe(1);
    expect(Object.keys(f.comment).sort()).toEqual(["created_at", "id", "message", "stream_id", "user_id", "username"]);
    expect(f.comment).toMatchObject({ stream_id: sid, message: "hello everyone", username: "v0" });
    expect(f.comment.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    await sleep(100);
    expect(other.comments()).toHaveLength(0);
    await Promise.all([...viewers, other].map((v) => v.close()));
  });

  it("builds the comment from validated fields only (extra fields are not forwarded)", async () => {
    const sid = newStreamId();
    const c = await connect(sid);
    c.send({ type: "message", text: "hi", user_id: "spoofed", username: "admin", __proto__: { x: 1 }, html: "<b>" });
    await c.until((x) => x.comments().length === 1, "comment");
    const comment = c.comments()[0]!.comment;
    expect(comment.user_id).not.toBe("spoofed");
    expect(comment.username).not.toBe("admin");
    expect(c.raw.at(-1)).not.toContain("<b>");
    await c.close();
  });
});

describe("message rules", () => {
  it("trims, ignores empty, accepts 500 code points (emoji and CJK count as one), rejects 501", async () => {
    const c = await connect(newStreamId());
    c.send(msg("   padded   "));
    c.send(msg("    "));
    c.send(msg("\n\t"));
    const emoji500 = "😀".repeat(250) + "漢".repeat(250);
    c.send(msg(emoji500));
    c.send(msg("字".repeat(500) + "!", "too-long"));
    c.send(msg("👍".repeat(501)));
    await c.until((x) => x.of("error").length === 2, "two errors");
    await c.until((x) => x.comments().length === 2, "two comments");
    expect(c.comments().map((f) => f.comment.message)).toEqual(["padded", emoji500]);
    const errors = c.of("error");
    expect(errors[0]).toEqual({
      type: "error",
      code: "message_too_long",
      message: "Message too long (max 500 chars)",
      client_msg_id: "too-long",
    });
    expect(errors[1]!.code).toBe("message_too_long");
    expect(c.closed).toBeNull();
    await c.close();
  });

  it("answers invalid JSON, unknown frames, binary and oversized frames with typed errors and keeps the socket", async () => {
    const c = await connect(newStreamId());
    c.send("{not json");
    c.send({ type: "shout", text: "x" });
    c.send({ type: "message" });
    c.send({ type: "message", text: 42 });
    c.send({ type: "message", text: "x", client_msg_id: "y".repeat(65) });
    c.ws.send(new Uint8Array([1, 2, 3]));
    c.send({ type: "message", text: "a".repeat(9000) });
    await c.until((x) => x.of("error").length === 7, "seven errors");
    expect(c.of("error").map((e) => e.code)).toEqual([
      "invalid_json",
      "invalid_frame",
      "invalid_frame",
      "invalid_frame",
      "invalid_frame",
      "unsupported_binary",
      "frame_too_large",
    ]);
    c.send(msg("still here"));
    await c.until((x) => x.comments().length === 1, "a comment after the errors");
    expect(c.closed).toBeNull();
    await c.close();
  });

  it("closes a socket that keeps sending garbage with 1008", async () => {
    const c = await connect(newStreamId());
    for (let i = 0; i < 30; i++) c.send("garbage");
    await c.until((x) => x.closed !== null, "close");
    expect(c.closed!.code).toBe(1008);
  });

  it("rate-limits per user per stream with retry_after_ms, shared across that user's sockets", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const a = await connect(sid, { token: await token({ sub }) });
    const b = await connect(sid, { token: await token({ sub }) });
    const other = await connect(sid);
    // 1 message/s (burst 1) for this room, so the outcome does not depend on how fast a loaded
    // machine sends the frames (the default 10/s is covered by the config tests).
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1 });
    a.send(msg("a0"));
    a.send(msg("a1"));
    b.send(msg("b0", "b0"));
    other.send(msg("not limited"));
    await other.until((x) => x.comments().length === 2, "one comment of the user and one of the other");
    await a.until(() => a.of("error").length + b.of("error").length === 2, "two rate errors");
    const errors = [...a.of("error"), ...b.of("error")];
    for (const e of errors) {
      expect(e.code).toBe("rate_limited");
      expect(e.retry_after_ms).toBeGreaterThan(0);
      expect(e.retry_after_ms).toBeLessThanOrEqual(1000);
    }
    expect(b.of("error")[0]!.client_msg_id).toBe("b0");
    expect(other.comments().map((f) => f.comment.message)).toEqual(["a0", "not limited"]);
    // The token comes back after retry_after_ms.
    await sleep(Math.max(...errors.map((e) => e.retry_after_ms!)) + 50);
    b.send(msg("later"));
    await other.until((x) => x.comments().some((f) => f.comment.message === "later"), "a later message");
    await Promise.all([a.close(), b.close(), other.close()]);
  });
});

describe("acks and duplicates", () => {
  it("acks a client_msg_id, and a repeat gets the same ack without a second broadcast", async () => {
    const sid = newStreamId();
    const sender = await connect(sid);
    const viewer = await connect(sid);
    sender.send(msg("once", "m-1"));
    await sender.until((x) => x.of("ack").length === 1, "ack");
    sender.send(msg("once (retry)", "m-1"));
    await sender.until((x) => x.of("ack").length === 2, "second ack");
    const [a1, a2] = sender.of("ack");
    expect(a1).toEqual(a2);
    expect(a1).toMatchObject({ type: "ack", client_msg_id: "m-1", seq: 1 });
    expect(a1!.id).toBe(sender.comments()[0]!.comment.id);
    sender.send(msg("next", "m-2"));
    await viewer.until((x) => x.comments().length === 2, "second comment");
    expect(viewer.comments().map((f) => f.comment.message)).toEqual(["once", "next"]);
    await Promise.all([sender.close(), viewer.close()]);
  });

  it("remembers client_msg_ids across a reconnect and an eviction", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const t = await token({ sub });
    const first = await connect(sid, { token: t });
    first.send(msg("hello", "dup-1"));
    await first.until((x) => x.of("ack").length === 1, "ack");
    await first.close();
    await evictDurableObject(roomStub(sid));
    const again = await connect(sid, { token: t });
    again.send(msg("hello", "dup-1"));
    await again.until((x) => x.of("ack").length === 1, "ack after reconnect");
    expect(again.of("ack")[0]).toEqual(first.of("ack")[0]);
    await sleep(100);
    expect(again.comments()).toHaveLength(0);
    await again.close();
  });
});

describe("ping", () => {
  it("answers the exact ping string and a parsed ping with pong", async () => {
    const c = await connect(newStreamId());
    c.send('{"type":"ping"}');
    c.send('{ "type" : "ping" }');
    await c.until((x) => x.of("pong").length === 2, "two pongs");
    await c.close();
  });
});

describe("welcome, history and resume", () => {
  it("welcomes with the user, seq and epoch, then the backlog", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const empty = await connect(sid, { token: await token({ sub, username: "first" }) });
    expect(empty.frames[0]).toMatchObject({ type: "welcome", stream_id: sid, user: { id: sub, username: "first" }, seq: 0 });
    expect(empty.frames[1]).toEqual({ type: "history", comments: [], recovered: false });
    for (let i = 1; i <= 3; i++) empty.send(msg(`m${i}`));
    await empty.until((x) => x.comments().length === 3, "3 comments");
    const late = await connect(sid);
    const welcome = late.frames[0]!;
    expect(welcome).toMatchObject({ type: "welcome", seq: 3, epoch: empty.of("welcome")[0]!.epoch });
    const history = late.of("history")[0]!;
    expect(history.recovered).toBe(false);
    expect(history.comments.map((c) => [c.seq, c.comment.message])).toEqual([
      [1, "m1"],
      [2, "m2"],
      [3, "m3"],
    ]);
    expect(history.comments[0]!.comment).toEqual(empty.comments()[0]!.comment);
    await Promise.all([empty.close(), late.close()]);
  });

  it("resumes with since/epoch: exactly the missed comments; stale epoch or too-old since gives a fresh backlog", async () => {
    const sid = newStreamId();
    const writer = await connect(sid, { token: await token() });
    const reader = await connect(sid);
    const epoch = reader.of("welcome")[0]!.epoch;
    writer.send(msg("one"));
    await reader.until((x) => x.comments().length === 1, "one");
    await reader.close();
    for (const t of ["two", "three"]) writer.send(msg(t));
    await writer.until((x) => x.comments().length === 3, "three");

    const resumed = await connect(sid, { query: `?since=1&epoch=${epoch}` });
    const h = resumed.of("history")[0]!;
    expect(h.recovered).toBe(true);
    expect(h.comments.map((c) => c.comment.message)).toEqual(["two", "three"]);

    const upToDate = await connect(sid, { query: `?since=3&epoch=${epoch}` });
    expect(upToDate.of("history")[0]).toEqual({ type: "history", comments: [], recovered: true });

    const wrongEpoch = await connect(sid, { query: `?since=1&epoch=elsewhere` });
    expect(wrongEpoch.of("history")[0]!.recovered).toBe(false);
    expect(wrongEpoch.of("history")[0]!.comments).toHaveLength(3);

    const future = await connect(sid, { query: `?since=99&epoch=${epoch}` });
    expect(future.of("history")[0]!.recovered).toBe(false);
    await Promise.all([writer.close(), resumed.close(), upToDate.close(), wrongEpoch.close(), future.close()]);
  });

  it("keeps only the last 200 comments for resume", async () => {
    const sid = newStreamId();
    const stub = roomStub(sid);
    const c = await connect(sid, { token: await token() });
    const epoch = c.of("welcome")[0]!.epoch;
    // Fill the ring faster than the rate limit allows by writing through the object itself.
    await setLimits(stub, { RATE_LIMIT_PER_SEC: 1_000_000, ROOM_MAX_MESSAGES_PER_SEC: 1_000_000, SOCKET_MAX_FRAMES_PER_SEC: 1_000_000 });
    for (let i = 1; i <= 205; i++) c.send(msg(`n${i}`));
    await c.until((x) => x.comments().length === 205, "205 comments", 15_000);
    const tooOld = await connect(sid, { query: `?since=2&epoch=${epoch}` });
    const h1 = tooOld.of("history")[0]!;
    expect(h1.recovered).toBe(false);
    expect(h1.comments).toHaveLength(50);
    expect(h1.comments.at(-1)!.seq).toBe(205);
    const edge = await connect(sid, { query: `?since=5&epoch=${epoch}` });
    const h2 = edge.of("history")[0]!;
    expect(h2.recovered).toBe(true);
    expect(h2.comments.map((x) => x.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 6));
    const rows = await runInDurableObject(stub, (_room, state) => state.storage.sql.exec("SELECT count(*) AS n FROM events").one().n);
    expect(rows).toBe(200);
    await Promise.all([c.close(), tooOld.close(), edge.close()]);
  });
});

describe("hibernation and close", () => {
  it("a socket survives evictDurableObject: identity, seq and the ring come back from storage", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const c = await connect(sid, { token: await token({ sub, username: "sleeper" }) });
    const other = await connect(sid);
    c.send(msg("before"));
    await other.until((x) => x.comments().length === 1, "before");
    await evictDurableObject(roomStub(sid));
    c.send(msg("after", "after-1"));
    await other.until((x) => x.comments().length === 2, "after eviction");
    const after = other.comments()[1]!;
    expect(after.seq).toBe(2);
    expect(after.comment).toMatchObject({ user_id: sub, username: "sleeper", message: "after" });
    await c.until((x) => x.of("ack").length === 1, "ack after eviction");
    // The ping auto-response works while the object is evicted, too.
    await evictDurableObject(roomStub(sid));
    c.send('{"type":"ping"}');
    await c.until((x) => x.of("pong").length === 1, "pong");
    await Promise.all([c.close(), other.close()]);
  });

  it("reciprocates a client's close (with or without a code) and skips closed sockets", async () => {
    const sid = newStreamId();
    const a = await connect(sid);
    const b = await connect(sid);
    const d = await connect(sid);
    a.ws.close(4001, "going");
    await a.until((x) => x.closed !== null, "close of a");
    expect(a.closed!.code).toBe(4001);
    b.ws.close();
    await b.until((x) => x.closed !== null, "close of b");
    expect([1000, 1005]).toContain(b.closed!.code);
    d.send(msg("after closes"));
    await d.until((x) => x.comments().length === 1, "broadcast after closes");
    expect(await openSockets(sid)).toBe(1);
    await d.close();
  });
});

describe("batched delivery (?batch=1)", () => {
  it("never holds back a lone message and coalesces a burst into batch frames, in order", async () => {
    const sid = newStreamId();
    const batched = await connect(sid, { query: "?batch=1" });
    const plain = await connect(sid);
    const sender = await connect(sid, { token: await token() });
    // Three sockets never load a core: model sends as costly as a big room's, so the room coalesces.
    await setLimits(roomStub(sid), {}, { sendCostUs: 1_000_000 });
    sender.send(msg("lone"));
    await batched.until((x) => x.comments().length === 1, "lone message");
    expect(JSON.parse(batched.raw.at(-1)!).type).toBe("comment");
    await sleep(60); // let the window close
    for (let i = 0; i < 8; i++) sender.send(msg(`burst ${i}`));
    await batched.until((x) => x.comments().length === 9, "burst");
    await plain.until((x) => x.comments().length === 9, "burst (plain)");
    expect(batched.comments().map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batched.raw.some((r) => JSON.parse(r).type === "batch")).toBe(true);
    expect(plain.raw.some((r) => JSON.parse(r).type === "batch")).toBe(false);
    expect(plain.comments().map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await Promise.all([batched.close(), plain.close(), sender.close()]);
  });

  it("a batched sender's acks follow its own comments while frames are coalesced", async () => {
    const sid = newStreamId();
    const other = await connect(sid, { token: await token() });
    const sender = await connect(sid, { token: await token(), query: "?batch=1" });
    await setLimits(roomStub(sid), { RATE_LIMIT_PER_SEC: 1_000, ROOM_MAX_MESSAGES_PER_SEC: 1_000 }, { sendCostUs: 1_000_000 });
    for (let i = 0; i < 6; i++) {
      other.send(msg(`other ${i}`));
      sender.send({ type: "message", text: `mine ${i}`, client_msg_id: `m${i}` });
    }
    await sender.until((x) => x.frames.filter((f) => f.type === "ack").length === 6 && x.comments().length === 12, "six acks and every comment");
    const acks = sender.frames.flatMap((f, i) => (f.type === "ack" ? [{ at: i, seq: f.seq! }] : []));
    for (const { at, seq } of acks) expect(sender.frames.findIndex((f) => f.type === "comment" && f.seq === seq)).toBeLessThan(at);
    expect(sender.raw.some((r) => JSON.parse(r).type === "batch")).toBe(true);
    await Promise.all([other.close(), sender.close()]);
  });

  describe("a batched socket the room closes while the window holds its accepted comment still gets the comment and its ack first", () => {
    const coalescing = { BATCH_MAX_WINDOW_MS: 3_000, RATE_LIMIT_PER_SEC: 100, SOCKET_MAX_FRAMES_PER_SEC: 100 };
    const lastWords = async (sid: string, a: Client, b: Client) => {
      b.send(msg("opens the window", "open"));
      await a.until((x) => x.comments().length === 1, "the first comment, at once");
      a.send(msg("last words", "last"));
      await b.until((x) => x.frames.some((f) => f.type === "ack" && f.client_msg_id === "open"), "b's ack");
      await sleep(50); // the room has accepted a's comment; the window (3 s) holds it
    };
    const saw = (a: Client) => ({ comment: a.comments().some((c) => c.comment.message === "last words"), ack: a.frames.some((f) => f.type === "ack" && f.client_msg_id === "last") });

    it("closed 1008 for abuse", async () => {
      const sid = newStreamId();
      const a = await connect(sid, { query: "?batch=1" });
      const b = await connect(sid, { token: await token(), query: "?batch=1" });
      await setLimits(roomStub(sid), coalescing, { sendCostUs: 1_000_000 });
      await lastWords(sid, a, b);
      for (let i = 0; i < 25; i++) a.ws.send("not json");
      await a.until((x) => x.closed !== null, "the 1008", 8_000);
      expect(a.closed!.code).toBe(1008);
      expect(saw(a)).toEqual({ comment: true, ack: true });
      await b.close();
    });

    it("closed 4429 by the same user's newer socket", async () => {
      const sid = newStreamId();
      const user = newUserId();
      const a = await connect(sid, { token: await token({ sub: user }), query: "?batch=1" });
      const b = await connect(sid, { token: await token(), query: "?batch=1" });
      await setLimits(roomStub(sid), { ...coalescing, MAX_SOCKETS_PER_USER: 1 }, { sendCostUs: 1_000_000 });
      await lastWords(sid, a, b);
      const again = await connect(sid, { token: await token({ sub: user }), query: "?batch=1" });
      await a.until((x) => x.closed !== null, "the 4429", 8_000);
      expect(a.closed!.code).toBe(4429);
      expect(saw(a)).toEqual({ comment: true, ack: true });
      await Promise.all([b.close(), again.close()]);
    });
  });

  it("does not coalesce while every frame at once fits the room's CPU target (src/rules/limits.ts coalescingWindowMs)", async () => {
    const sid = newStreamId();
    const batched = await connect(sid, { query: "?batch=1" });
    const sender = await connect(sid, { token: await token() });
    for (let i = 0; i < 8; i++) sender.send(msg(`burst ${i}`));
    await batched.until((x) => x.comments().length === 8, "burst");
    expect(batched.comments().map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(batched.raw.filter((r) => JSON.parse(r).type === "batch")).toEqual([]);
    await Promise.all([batched.close(), sender.close()]);
  });
});
