import { describe, expect, it } from "vitest";
import { DEFAULT_SEND_RATE_PER_SEC, SendPacer } from "../../src/client/pacer.js";

/** A pacer on a hand-driven clock. */
function pacer(rate?: number) {
  const clock = { now: 0 };
  return { p: new SendPacer(rate, () => clock.now), clock };
}

describe("SendPacer: the client's token bucket", () => {
  it("starts full (burst = rate), then allows one message per 1/rate s", () => {
    const { p, clock } = pacer();
    expect(p.rate).toBe(DEFAULT_SEND_RATE_PER_SEC);
    for (let i = 0; i < 10; i++) {
      expect(p.delay()).toBe(0);
      p.take();
    }
    expect(p.delay()).toBe(100);
    clock.now = 100;
    expect(p.delay()).toBe(0);
  });

  it("adopts the server's rate, capping what is stored to the new burst", () => {
    const { p, clock } = pacer(10);
    p.setRate(2);
    p.take();
    p.take();
    expect(p.delay()).toBe(500);
    clock.now = 10_000; // a long pause refills only up to the burst
    for (let i = 0; i < 2; i++) p.take();
    expect(p.delay()).toBe(500);
    expect(() => p.setRate(0)).toThrow(/positive/);
    expect(() => new SendPacer(Number.NaN)).toThrow(/positive/);
  });

  it("hold(ms): nothing before the server's time, then one message, then the normal pace", () => {
    const { p, clock } = pacer(10);
    p.hold(300);
    expect(p.delay()).toBe(300);
    clock.now = 300;
    expect(p.delay()).toBe(0);
    p.take();
    expect(p.delay()).toBe(100);
    p.hold(50); // a shorter hold never shortens a longer one already running
    p.hold(20);
    expect(p.delay()).toBe(50);
  });
});
