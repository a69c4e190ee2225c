/**
 * The bridge's produce dedupe window (src/bridge/produced.ts): what a retry of a record finds —
 * new, pending (waits for the write in flight) or written (its first offset) — and that a failed
 * write is forgotten, the window is bounded, and identities tell a null key or value from an empty one.
 */
import { describe, expect, it } from "vitest";
import { ProducedWindow, recordFingerprint } from "../../src/bridge/produced";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("recordFingerprint", () => {
  it("differs by topic, key and value, and tells null from empty", () => {
    const base = recordFingerprint("t", bytes("k"), bytes("v"));
    expect(recordFingerprint("t", bytes("k"), bytes("v"))).toBe(base);
    expect(recordFingerprint("u", bytes("k"), bytes("v"))).not.toBe(base);
    expect(recordFingerprint("t", bytes("k2"), bytes("v"))).not.toBe(base);
    expect(recordFingerprint("t", bytes("k"), bytes("v2"))).not.toBe(base);
    expect(recordFingerprint("t", null, bytes("v"))).not.toBe(recordFingerprint("t", bytes(""), bytes("v")));
    expect(recordFingerprint("t", bytes("k"), null)).not.toBe(recordFingerprint("t", bytes("k"), bytes("")));
    // No ambiguity where key and value meet.
    expect(recordFingerprint("t", bytes("ab"), bytes("c"))).not.toBe(recordFingerprint("t", bytes("a"), bytes("bc")));
  });
});

describe("ProducedWindow", () => {
  it("new → pending while the write is in flight → written with its offset", async () => {
    const w = new ProducedWindow(10);
    expect(w.lookup("a")).toEqual({ state: "new" });
    let finish!: (v: Array<{ partition: number; offset: number }>) => void;
    const produce = new Promise<Array<{ partition: number; offset: number }>>((r) => (finish = r));
    const tracked = w.track(["a", "b"], produce);
    const pending = w.lookup("b");
    expect(pending.state).toBe("pending");
    finish([{ partition: 0, offset: 7 }, { partition: 0, offset: 8 }]);
    await tracked;
    expect(await (pending as { outcome: Promise<unknown> }).outcome).toEqual({ partition: 0, offset: 8 });
    await Promise.resolve();
    expect(w.lookup("a")).toEqual({ state: "written", at: { partition: 0, offset: 7 } });
  });

  it("a failed write is forgotten: a waiting retry learns it failed, the next one writes", async () => {
    const w = new ProducedWindow(10);
    const produce = Promise.reject(new Error("broker down"));
    const tracked = w.track(["a"], produce);
    const waiting = w.lookup("a") as { state: "pending"; outcome: Promise<unknown> };
    await expect(tracked).rejects.toThrow("broker down");
    expect(await waiting.outcome).toBeNull();
    await Promise.resolve();
    expect(w.lookup("a")).toEqual({ state: "new" });
  });

  it("holds at most maxRecords, dropping the oldest", async () => {
    const w = new ProducedWindow(3);
    for (const fp of ["a", "b", "c", "d"]) await w.track([fp], Promise.resolve([{ partition: 0, offset: fp.charCodeAt(0) }]));
    await Promise.resolve();
    expect(w.size).toBe(3);
    expect(w.lookup("a")).toEqual({ state: "new" });
    expect(w.lookup("d").state).toBe("written");
  });

  it("refuses a size that is not a positive whole number", () => {
    expect(() => new ProducedWindow(0)).toThrow(RangeError);
    expect(() => new ProducedWindow(1.5)).toThrow(RangeError);
  });
});
