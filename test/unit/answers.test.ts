/** src/answers.ts: a shard's answers leave in command order, an ack only once its seq is broadcast (or after holdMs). */
import { afterEach, describe, expect, it, vi } from "vitest";
import { AnswerQueue } from "../../src/answers";

function setup(holdMs = 5_000) {
  const sent: Array<[string, string]> = [];
  const open = new Set(["a", "b"]);
  let seq = 0;
  const q = new AnswerQueue<string>(
    (conn, frame) => sent.push([conn, frame]),
    (conn) => open.has(conn),
    () => seq,
    holdMs,
  );
  return { q, sent, open, setSeq: (n: number) => (seq = n) };
}

afterEach(() => vi.useRealTimers());

describe("AnswerQueue", () => {
  it("answers leave in the order the commands came, whatever order they are filled in", () => {
    const { q, sent } = setup();
    const s1 = q.slot("a");
    const s2 = q.slot("a");
    const s3 = q.slot("a");
    q.fill("a", s3, "third", 0, 1);
    q.fill("a", s2, "second", 0, 1);
    expect(sent).toEqual([]);
    q.fill("a", s1, "first", 0, 1);
    expect(sent.map(([, f]) => f)).toEqual(["first", "second", "third"]);
    expect(q.has("a")).toBe(false);
  });

  it("an ack waits for its seq to be broadcast; other sockets' answers do not wait for it", () => {
    const { q, sent, setSeq } = setup();
    q.fill("a", q.slot("a"), "ack 5", 5, 1);
    const behind = q.slot("a");
    q.fill("a", behind, "error after it", 0, 1);
    q.fill("b", q.slot("b"), "b's answer", 0, 1);
    expect(sent).toEqual([["b", "b's answer"]]);
    setSeq(5);
    q.release(2);
    expect(sent.slice(1)).toEqual([
      ["a", "ack 5"],
      ["a", "error after it"],
    ]);
  });

  it("an empty answer takes its turn and sends nothing", () => {
    const { q, sent } = setup();
    const s1 = q.slot("a");
    q.fill("a", q.slot("a"), "second", 0, 1);
    q.fill("a", s1, "", 0, 1);
    expect(sent).toEqual([["a", "second"]]);
  });

  it("a held ack goes after holdMs even when its seq never comes, and later ones follow (the timer re-arms)", () => {
    vi.useFakeTimers();
    const { q, sent } = setup(1_000);
    q.fill("a", q.slot("a"), "ack 9", 9, Date.now());
    vi.advanceTimersByTime(600);
    q.fill("a", q.slot("a"), "ack 10", 10, Date.now());
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(600); // the first is 1,200 ms old
    expect(sent.map(([, f]) => f)).toEqual(["ack 9"]);
    vi.advanceTimersByTime(800); // the second is 1,400 ms old
    expect(sent.map(([, f]) => f)).toEqual(["ack 9", "ack 10"]);
    expect(q.has("a")).toBe(false);
  });

  it("a closed connection's queue is forgotten", () => {
    const { q, open } = setup();
    q.slot("a");
    q.fill("a", q.slot("a"), "x", 0, 1);
    expect(q.has("a")).toBe(true);
    open.delete("a");
    q.release(2);
    expect(q.has("a")).toBe(false);
  });
});
