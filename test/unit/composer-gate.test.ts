/**
 * The demo page's composer gate (src/client/composer-gate.ts, issue 18 §6 item 4): closed while
 * banned, timed out, warned or waiting out slow mode — by the room's rules (the owner never restricted,
 * staff exempt from slow mode only) — with a countdown that says the wait and knows when it changes.
 */
import { describe, expect, it } from "vitest";
import { composerGate, countdown, gateCountdown, gateReason, nextChangeIn, type GateFacts } from "../../src/client/composer-gate";

const NOW = 1_000_000;
const viewer: GateFacts = { role: "viewer", banned: false, mutedUntil: null, warned: false, slowModeS: 0, lastOwnCommentAt: null, slowUntil: null };

describe("composerGate", () => {
  it("is open for a viewer with nothing against them", () => {
    expect(composerGate(viewer, NOW)).toEqual({ kind: "open" });
  });

  it("closes for a ban, whatever else holds, and for a running timeout until it ends", () => {
    expect(composerGate({ ...viewer, banned: true, mutedUntil: NOW + 5000 }, NOW)).toEqual({ kind: "banned" });
    expect(composerGate({ ...viewer, mutedUntil: NOW + 5000 }, NOW)).toEqual({ kind: "muted", until: NOW + 5000 });
    expect(composerGate({ ...viewer, mutedUntil: NOW + 5000 }, NOW + 5000)).toEqual({ kind: "open" });
    expect(composerGate({ ...viewer, mutedUntil: NOW - 1 }, NOW)).toEqual({ kind: "open" });
  });

  it("closes while a warning waits for its acknowledgement, after a ban or timeout and before slow mode", () => {
    expect(composerGate({ ...viewer, warned: true }, NOW)).toEqual({ kind: "warned" });
    expect(composerGate({ ...viewer, warned: true, banned: true }, NOW)).toEqual({ kind: "banned" });
    expect(composerGate({ ...viewer, warned: true, mutedUntil: NOW + 5000 }, NOW)).toEqual({ kind: "muted", until: NOW + 5000 });
    expect(composerGate({ ...viewer, warned: true, mutedUntil: NOW + 5000 }, NOW + 5000)).toEqual({ kind: "warned" });
    expect(composerGate({ ...viewer, warned: true, slowModeS: 30, lastOwnCommentAt: NOW }, NOW)).toEqual({ kind: "warned" });
    expect(composerGate({ ...viewer, role: "moderator", warned: true }, NOW)).toEqual({ kind: "warned" });
    expect(composerGate({ ...viewer, role: "owner", warned: true }, NOW)).toEqual({ kind: "open" });
    expect(gateReason({ kind: "warned" })).toMatch(/I understand/);
    expect(gateCountdown({ kind: "warned" }, NOW)).toBe("");
    expect(nextChangeIn({ kind: "warned" }, NOW)).toBeNull();
  });

  it("holds a moderator to bans and timeouts, never the owner", () => {
    expect(composerGate({ ...viewer, role: "moderator", banned: true }, NOW).kind).toBe("banned");
    expect(composerGate({ ...viewer, role: "moderator", mutedUntil: NOW + 1 }, NOW).kind).toBe("muted");
    expect(composerGate({ ...viewer, role: "owner", banned: true, mutedUntil: NOW + 1 }, NOW).kind).toBe("open");
  });

  it("spaces a viewer's messages by slow mode from their last comment, or by a slow_mode refusal, whichever ends later", () => {
    const slow = { ...viewer, slowModeS: 30 };
    expect(composerGate(slow, NOW)).toEqual({ kind: "open" });
    expect(composerGate({ ...slow, lastOwnCommentAt: NOW - 10_000 }, NOW)).toEqual({ kind: "slow", until: NOW + 20_000 });
    expect(composerGate({ ...slow, lastOwnCommentAt: NOW - 30_000 }, NOW)).toEqual({ kind: "open" });
    expect(composerGate({ ...slow, slowUntil: NOW + 4000 }, NOW)).toEqual({ kind: "slow", until: NOW + 4000 });
    expect(composerGate({ ...slow, lastOwnCommentAt: NOW - 10_000, slowUntil: NOW + 25_000 }, NOW)).toEqual({ kind: "slow", until: NOW + 25_000 });
    // A new spacing applies to the last comment at once, as in the room.
    expect(composerGate({ ...slow, slowModeS: 60, lastOwnCommentAt: NOW - 10_000 }, NOW)).toEqual({ kind: "slow", until: NOW + 50_000 });
  });

  it("lets staff through slow mode, and nobody once it is off", () => {
    const spaced = { ...viewer, slowModeS: 30, lastOwnCommentAt: NOW, slowUntil: NOW + 30_000 };
    expect(composerGate({ ...spaced, role: "moderator" }, NOW).kind).toBe("open");
    expect(composerGate({ ...spaced, role: "owner" }, NOW).kind).toBe("open");
    expect(composerGate({ ...spaced, slowModeS: 0 }, NOW).kind).toBe("open");
  });
});

describe("the gate's words and countdown", () => {
  it("says why in a sentence, and the wait left as a countdown", () => {
    expect(gateReason({ kind: "open" })).toBe("");
    expect(gateReason({ kind: "banned" })).toBe("You are banned from this chat. You can still read it.");
    expect(gateReason({ kind: "muted", until: NOW })).toMatch(/^You are timed out/);
    expect(gateReason({ kind: "slow", until: NOW })).toMatch(/^Slow mode is on/);
    expect(gateCountdown({ kind: "banned" }, NOW)).toBe("");
    expect(gateCountdown({ kind: "muted", until: NOW + 598_200 }, NOW)).toBe("9:59 left");
    expect(gateCountdown({ kind: "slow", until: NOW + 4_100 }, NOW)).toBe("5 s left");
  });

  it("rounds up to whole seconds: s under a minute, m:ss under an hour, then h:mm:ss", () => {
    expect([0, 1, 999, 1000, 1001, 59_000, 59_001, 60_000, 61_000, 3_599_000, 3_600_000, 86_400_000].map(countdown)).toEqual([
      "0 s",
      "1 s",
      "1 s",
      "1 s",
      "2 s",
      "59 s",
      "1:00",
      "1:00",
      "1:01",
      "59:59",
      "1:00:00",
      "24:00:00",
    ]);
  });

  it("redraws exactly when the shown second changes, or when the wait is over; never for open or banned", () => {
    expect(nextChangeIn({ kind: "open" }, NOW)).toBeNull();
    expect(nextChangeIn({ kind: "banned" }, NOW)).toBeNull();
    expect(nextChangeIn({ kind: "slow", until: NOW + 4_300 }, NOW)).toBe(300);
    expect(nextChangeIn({ kind: "slow", until: NOW + 4_000 }, NOW)).toBe(1000);
    expect(nextChangeIn({ kind: "muted", until: NOW }, NOW)).toBe(1);
    // After the wait the shown value is one second less (or the gate opens).
    const gate = { kind: "slow", until: NOW + 4_300 } as const;
    const at = NOW + nextChangeIn(gate, NOW)!;
    expect([gateCountdown(gate, NOW), gateCountdown(gate, at)]).toEqual(["5 s left", "4 s left"]);
  });
});
