/**
 * The exhaustiveness helpers (src/rules/never.ts): what they do when a value outside its union
 * reaches them at run time. (What they do at compile time is the point of them: README "Adding a
 * room event".)
 */
import { describe, expect, it } from "vitest";
import { assertNever, exhaustive } from "../../src/rules/never";

describe("exhaustiveness helpers", () => {
  it("assertNever throws a TypeError naming the place and the frame's type or action", () => {
    expect(() => assertNever({ type: "typing", seq: 3 } as never, "kafkaEvent")).toThrow(new TypeError('kafkaEvent: unexpected type "typing"'));
    expect(() => assertNever({ action: "mute" } as never, "apply")).toThrow('apply: unexpected action "mute"');
    expect(() => assertNever("half" as never, "backoffMs jitter")).toThrow('backoffMs jitter: unexpected "half"');
    expect(() => assertNever(undefined as never, "x")).toThrow("x: unexpected undefined");
  });

  it("exhaustive does nothing at run time, so the caller's fallback runs", () => {
    expect(exhaustive({ type: "typing" } as never)).toBeUndefined();
  });
});
