/**
 * A shard's mirror and the review queue (src/mirror.ts RoomMirror.heldGone): the room's review
 * queue answer and its `held` frames reach a shard by other RPCs than the sequenced events, so a
 * shard must know which held messages it already saw decided — reviewed, purged, or their author
 * banned — to keep them from coming back to staff.
 */
import { describe, expect, it } from "vitest";
import type { RoomEvent } from "../../src/protocol";
import { REMOVED_HELD_MAX, RoomMirror, snapshotOf, type RingEntry } from "../../src/mirror";
import { T0, alice, bob, carol, fresh, mod, run, type Fixture } from "./rules-fixture";

const entry = (e: RoomEvent): RingEntry => ({ seq: e.seq, comment: e.type === "comment", json: e.type === "comment" ? JSON.stringify({ seq: e.seq, comment: e.comment }) : JSON.stringify(e) });

function heldId(f: Fixture, who = alice, text = "my link"): string {
  const o = run(f, who, { type: "message", text });
  if (o.kind !== "held") throw new Error(`not held: ${JSON.stringify(o)}`);
  return o.held.comment.id;
}

describe("RoomMirror.heldGone", () => {
  it("knows the held messages reviewed, purged, or of a banned author since its snapshot — and nothing else", () => {
    const f = fresh();
    run(f, mod, { type: "blocked_terms", add: ["link"], action: "hold" });
    const mirror = new RoomMirror(JSON.parse(JSON.stringify(snapshotOf(f.state, "e", []))));
    const [reviewed, purged, banned, waiting] = [heldId(f, alice), heldId(f, bob, "a link"), heldId(f, carol, "link?"), heldId(f, alice, "another link")];
    run(f, mod, { type: "review", id: reviewed, decision: "deny" });
    run(f, mod, { type: "purge", phrase: "a link", seconds: 60 }, T0 + 1_000);
    run(f, mod, { type: "ban", user_id: carol.userId });
    const { gap } = mirror.accept("e", f.log.map((l) => entry(l.e)), T0);
    expect(gap).toBe(false);
    expect(mirror.heldGone(reviewed, alice.userId)).toBe(true);
    expect(mirror.heldGone(purged, bob.userId)).toBe(true);
    expect(mirror.heldGone(banned, carol.userId)).toBe(true);
    expect(mirror.heldGone(waiting, alice.userId)).toBe(false);
    // Unbanned: their new held messages are not gone.
    run(f, mod, { type: "unban", user_id: carol.userId });
    mirror.accept("e", f.log.map((l) => entry(l.e)), T0);
    expect(mirror.heldGone("00000000-0000-4000-9000-999999999999", carol.userId)).toBe(false);
  });

  it("remembers a bounded number of them", () => {
    const f = fresh();
    const mirror = new RoomMirror(JSON.parse(JSON.stringify(snapshotOf(f.state, "e", []))));
    const ids = Array.from({ length: REMOVED_HELD_MAX + 1 }, (_, i) => `00000000-0000-4000-9000-${String(i).padStart(12, "0")}`);
    const events: RoomEvent[] = ids.map((id, i) => ({ type: "moderation", seq: i + 1, action: "review", id, decision: "deny", user_id: alice.userId, by: mod.userId }));
    mirror.accept("e", events.map(entry), T0);
    expect(mirror.heldGone(ids[0]!, alice.userId)).toBe(false);
    expect(mirror.heldGone(ids.at(-1)!, alice.userId)).toBe(true);
  });
});
