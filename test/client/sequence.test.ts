import { describe, expect, it } from "vitest";
import { SequenceTracker, type SeqComment } from "../../src/client/index.js";

const STREAM = "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11";
const sc = (seq: number): SeqComment => ({
  seq,
  comment: {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    stream_id: STREAM,
    user_id: "u",
    username: "u",
    message: `m${seq}`,
    created_at: "2026-01-01T00:00:00.000Z",
  },
});
const seqs = (list: SeqComment[]) => list.map((c) => c.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => sc(from + i));

/** A tracker that went through a first connection with comments 1..n. */
function synced(n: number, epoch = "e1"): SequenceTracker<SeqComment> {
  const t = new SequenceTracker<SeqComment>();
  t.beginConnection();
  t.welcome(epoch, n);
  t.history(range(1, n), false);
  return t;
}

describe("sequence tracker: first connection", () => {
  it("delivers the backlog in seq order and continues from the welcome's seq", () => {
    const t = new SequenceTracker<SeqComment>();
    expect(t.resumePoint()).toBeNull();
    t.beginConnection();
    t.welcome("e1", 5);
    const out = t.history([sc(4), sc(3), sc(5)], false);
    expect(out).toMatchObject({ kind: "history", recovered: false, resumed: false });
    expect(seqs(out.items)).toEqual([3, 4, 5]);
    expect(t.resumePoint()).toEqual({ since: 5, epoch: "e1" });
    expect(seqs(t.live(sc(6)))).toEqual([6]);
  });

  it("on an empty stream starts at 0 and delivers seq 1 live", () => {
    const t = new SequenceTracker<SeqComment>();
    t.beginConnection();
    t.welcome("e1", 0);
    expect(t.history([], false).items).toEqual([]);
    expect(t.resumePoint()).toEqual({ since: 0, epoch: "e1" });
    expect(seqs(t.live(sc(1)))).toEqual([1]);
  });

  it("takes the welcome's seq as the baseline even when the backlog is shorter", () => {
    // The backlog is only the last N comments; the stream is at 120. The next live one is 121.
    const t = new SequenceTracker<SeqComment>();
    t.beginConnection();
    t.welcome("e1", 120);
    expect(seqs(t.history(range(71, 120), false).items)).toEqual(range(71, 120).map((c) => c.seq));
    expect(seqs(t.live(sc(121)))).toEqual([121]);
    expect(t.hasGap).toBe(false);
  });

  it("holds comments that arrive before the history and merges them in order", () => {
    const t = new SequenceTracker<SeqComment>();
    t.beginConnection();
    t.welcome("e1", 2);
    expect(t.live(sc(3))).toEqual([]);
    expect(t.live(sc(2))).toEqual([]); // also in the history: must come out once
    const out = t.history([sc(1), sc(2)], false);
    expect(seqs(out.items)).toEqual([1, 2, 3]);
    expect(t.lastSeq).toBe(3);
  });
});

describe("sequence tracker: live comments", () => {
  it("drops duplicates by seq", () => {
    const t = synced(3);
    expect(seqs(t.live(sc(4)))).toEqual([4]);
    expect(t.live(sc(4))).toEqual([]);
    expect(t.live(sc(2))).toEqual([]);
    expect(t.lastSeq).toBe(4);
  });

  it("holds comments behind a hole and releases them, in order, when it fills", () => {
    const t = synced(3);
    expect(t.live(sc(6))).toEqual([]);
    expect(t.live(sc(5))).toEqual([]);
    expect(t.hasGap).toBe(true);
    expect(t.pendingCount).toBe(2);
    expect(seqs(t.live(sc(4)))).toEqual([4, 5, 6]);
    expect(t.hasGap).toBe(false);
    // The resume point never moves past a hole: a resync asks for what is missing.
    expect(t.live(sc(9))).toEqual([]);
    expect(t.resumePoint()).toEqual({ since: 6, epoch: "e1" });
  });
});

describe("sequence tracker: resuming on a new connection", () => {
  it("delivers exactly the missed comments when the server recovered", () => {
    const t = synced(5);
    t.live(sc(6));
    expect(t.resumePoint()).toEqual({ since: 6, epoch: "e1" });
    t.beginConnection();
    t.welcome("e1", 9);
    const out = t.history([sc(7), sc(8), sc(9)], true);
    expect(out).toMatchObject({ kind: "history", recovered: true, resumed: true });
    expect(seqs(out.items)).toEqual([7, 8, 9]);
  });

  it("forgets comments held behind a hole on the old connection (the resume sends them again)", () => {
    const t = synced(5);
    t.live(sc(8)); // 6 and 7 never came
    expect(t.hasGap).toBe(true);
    t.beginConnection();
    expect(t.pendingCount).toBe(0);
    t.welcome("e1", 8);
    expect(seqs(t.history([sc(6), sc(7), sc(8)], true).items)).toEqual([6, 7, 8]);
    expect(t.hasGap).toBe(false);
  });

  it("resets on a not-recovered backlog even when it reaches back to our last seq (edits and deletions in between are unknown)", () => {
    const t = synced(10);
    t.beginConnection();
    t.welcome("e1", 14);
    const out = t.history(range(8, 14), false);
    expect(out.kind).toBe("reset");
    expect(seqs(out.items)).toEqual([8, 9, 10, 11, 12, 13, 14]);
    expect(out.baseline).toBe(14);
  });

  it("resets when the backlog starts after our last seq (comments were lost to us)", () => {
    const t = synced(10);
    t.beginConnection();
    t.welcome("e1", 300);
    const out = t.history(range(251, 300), false);
    expect(out.kind).toBe("reset");
    expect(seqs(out.items)).toEqual(range(251, 300).map((c) => c.seq));
    expect(t.resumePoint()).toEqual({ since: 300, epoch: "e1" });
  });

  it("resets on a new epoch even when the seq numbers look familiar", () => {
    const t = synced(10, "old");
    t.beginConnection();
    t.welcome("new", 3);
    const out = t.history(range(1, 3), false);
    expect(out.kind).toBe("reset");
    expect(seqs(out.items)).toEqual([1, 2, 3]); // lower than our old lastSeq, delivered anyway
    expect(t.epoch).toBe("new");
    expect(seqs(t.live(sc(4)))).toEqual([4]);
  });

  it("resets when nothing came back and the stream moved on", () => {
    const t = synced(10);
    t.beginConnection();
    t.welcome("e1", 15);
    expect(t.history([], false).kind).toBe("reset");
    // ...but not when the stream did not move.
    t.beginConnection();
    t.welcome("e1", 15);
    expect(t.history([], false)).toMatchObject({ kind: "history", items: [] });
  });
});

describe("sequence tracker: every sequenced frame shares the counter", () => {
  type Frame = { seq: number; type: "comment" | "comment_edited" | "pinned" | "moderation" };
  const f = (seq: number, type: Frame["type"] = "comment"): Frame => ({ seq, type });

  it("sees no hole when a comment follows an edit, a pin and a moderation event", () => {
    const t = new SequenceTracker<Frame>();
    t.beginConnection();
    t.welcome("e1", 2);
    t.history([f(1), f(2, "pinned")], false);
    expect(t.live(f(3, "comment_edited")).map((x) => x.type)).toEqual(["comment_edited"]);
    expect(t.live(f(4, "moderation"))).toHaveLength(1);
    expect(t.live(f(5))).toHaveLength(1);
    expect(t.hasGap).toBe(false);
    expect(t.resumePoint()).toEqual({ since: 5, epoch: "e1" });
  });

  it("holds a comment behind a missing moderation event and releases both in order", () => {
    const t = new SequenceTracker<Frame>();
    t.beginConnection();
    t.welcome("e1", 0);
    t.history([], false);
    expect(t.live(f(2))).toEqual([]);
    expect(t.hasGap).toBe(true);
    expect(t.live(f(1, "moderation")).map((x) => x.seq)).toEqual([1, 2]);
  });

  it("merges a resume's comments and events by seq, dropping what the old socket delivered", () => {
    const t = new SequenceTracker<Frame>();
    t.beginConnection();
    t.welcome("e1", 1);
    t.history([f(1)], false);
    t.live(f(2, "comment_edited"));
    t.beginConnection();
    t.welcome("e1", 5);
    const out = t.history([f(5), f(2, "comment_edited"), f(3), f(4, "moderation")], true);
    expect(out).toMatchObject({ kind: "history", recovered: true, resumed: true, baseline: 5 });
    expect(out.items).toEqual([f(3), f(4, "moderation"), f(5)]);
  });
});
