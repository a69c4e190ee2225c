/**
 * Hostile input (issue 9): one viewer must never be able to freeze a room, bypass a close, or make
 * the platform do work for free. Each `describe` is one kind of fault; each input is the reported one.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CLOSE_POLICY_VIOLATION, CLOSE_TOO_MANY_SOCKETS } from "../../src/protocol";
import { Client, connect, fetchWorker, newStreamId, newUserId, openSockets, roomStub, setLimits, sleep, token, upgrade } from "./helpers";

const msg = (text: string, client_msg_id?: string) => JSON.stringify({ type: "message", text, ...(client_msg_id ? { client_msg_id } : {}) });
/** A ping the runtime's exact-string auto-response does not catch, so the room must parse it. */
const SPACED_PING = '{ "type": "ping" }';

async function expect401(res: Response) {
  expect(res.status).toBe(401);
  expect(((await res.json()) as { error: string }).error).toBe("unauthorized");
}

/** Sends `n` copies of `frame` without waiting (as fast as the socket takes them). */
function flood(c: Client, frame: string, n: number) {
  for (let i = 0; i < n; i++) {
    try {
      c.ws.send(frame);
    } catch {
      return; // closed under us: the point of the test
    }
  }
}

describe("kind 1: every frame draws on a per-socket budget", () => {
  for (const [what, frame] of [
    ["pings with other spacing", SPACED_PING],
    ["whitespace-only messages", msg("   \n  ")],
  ] as const) {
    it(`a flood of ${what} closes the sender with 1008; another viewer is still answered`, async () => {
      const sid = newStreamId();
      const flooder = await connect(sid);
      const viewer = await connect(sid);
      flood(flooder, frame, 20_000);
      await flooder.until((x) => x.closed !== null, "the flooder's close", 15_000);
      expect(flooder.closed!.code).toBe(CLOSE_POLICY_VIOLATION);
      viewer.send(SPACED_PING);
      await viewer.until((x) => x.of("pong").length === 1, "the other viewer's pong");
      await viewer.close();
    });
  }

  it("repeats of an acknowledged client_msg_id count too", async () => {
    const sid = newStreamId();
    const flooder = await connect(sid);
    flooder.send(msg("once", "same-id"));
    await flooder.until((x) => x.of("ack").length === 1, "first ack");
    flood(flooder, msg("once", "same-id"), 5_000);
    await flooder.until((x) => x.closed !== null, "the flooder's close", 15_000);
    expect(flooder.closed!.code).toBe(CLOSE_POLICY_VIOLATION);
    // Within the budget the repeats were acked (never broadcast again), beyond it dropped unread.
    expect(flooder.comments()).toHaveLength(1);
    expect(flooder.of("ack").length).toBeLessThan(200);
  });

  it("a client within the budget is never closed", async () => {
    const sid = newStreamId();
    const c = await connect(sid);
    for (let i = 0; i < 30; i++) c.send(SPACED_PING);
    await c.until((x) => x.of("pong").length === 30, "30 pongs");
    expect(c.closed).toBeNull();
    await c.close();
  });
});

describe("kind 2: a socket the room has closed is never served again", () => {
  it("3,000 distinct messages: after the 1008 nothing more of the flooder is broadcast", async () => {
    const sid = newStreamId();
    const flooder = await connect(sid, { token: await token({ username: "flood" }) });
    const viewer = await connect(sid);
    for (let i = 0; i < 3_000; i++) {
      try {
        flooder.ws.send(msg(`flood ${i}`));
      } catch {
        break;
      }
    }
    await flooder.until((x) => x.closed !== null, "the flooder's close", 15_000);
    expect(flooder.closed!.code).toBe(CLOSE_POLICY_VIOLATION);
    // Give any queued frame the chance to be (wrongly) processed, then look.
    viewer.send(msg("marker"));
    await viewer.until((x) => x.comments().some((f) => f.comment.message === "marker"), "marker");
    await sleep(200);
    const fromFlooder = viewer.comments().filter((f) => f.comment.username === "flood");
    // Everything of the flooder's that was broadcast, it saw itself before its close frame: nothing
    // was processed after the close. The user's rate limit (10/s, burst 10) kept it to a handful.
    expect(fromFlooder.map((f) => f.seq)).toEqual(flooder.comments().map((f) => f.seq));
    expect(fromFlooder.length).toBeLessThan(50);
    expect(await openSockets(sid)).toBe(1);
    await viewer.close();
  });
});

describe("kind 3: hitting the rate limit is not abuse", () => {
  it("32 messages at once on one socket: 10 broadcast, 22 rate_limited, the socket stays open", async () => {
    const sid = newStreamId();
    const c = await connect(sid);
    // A burst the per-user limit (10/s) and a single ack wait cannot blur: one frame each.
    for (let i = 0; i < 32; i++) c.send(msg(`m${i}`, `id-${i}`));
    await c.until((x) => x.of("ack").length + x.of("error").length === 32, "32 answers");
    const errors = c.of("error");
    expect(errors.every((e) => e.code === "rate_limited" && e.retry_after_ms! > 0)).toBe(true);
    expect(c.of("ack").length).toBeGreaterThanOrEqual(10);
    await sleep(100);
    expect(c.closed).toBeNull();
    c.send(SPACED_PING);
    await c.until((x) => x.of("pong").length === 1, "still served");
    await c.close();
  });
});

describe("kind 4: nothing unauthenticated creates or writes a Durable Object", () => {
  it("?ticket=<anything> on 200 random streams: all 401, no object created", async () => {
    const names = Array.from({ length: 200 }, newStreamId);
    for (const [i, sid] of names.entries()) {
      const guess = i % 2 === 0 ? `guess-${i}` : `${"A".repeat(40)}.${"B".repeat(43)}`;
      await expect401(await upgrade(sid, { query: `?ticket=${guess}` }));
    }
    const created = new Set((await listDurableObjectIds(env.CHAT_ROOM)).map((id) => id.toString()));
    const touched = names.filter((sid) => created.has(env.CHAT_ROOM.idFromName(sid).toString()));
    expect(touched).toEqual([]);
  });

  it("minting a ticket touches no object either; a forged or tampered ticket is 401", async () => {
    const sid = newStreamId();
    const res = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${await token()}` } });
    const { ticket } = (await res.json()) as { ticket: string };
    const created = new Set((await listDurableObjectIds(env.CHAT_ROOM)).map((id) => id.toString()));
    expect(created.has(env.CHAT_ROOM.idFromName(sid).toString())).toBe(false);
    const [body, mac] = ticket.split(".");
    const flipped = mac!.startsWith("A") ? `B${mac!.slice(1)}` : `A${mac!.slice(1)}`;
    await expect401(await upgrade(sid, { query: `?ticket=${body}.${flipped}` }));
    const payload = JSON.parse(atob(body!.replaceAll("-", "+").replaceAll("_", "/")));
    const other = btoa(JSON.stringify({ ...payload, u: newUserId() })).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
    await expect401(await upgrade(sid, { query: `?ticket=${other}.${mac}` }));
    // The genuine one still works (once).
    const ok = await upgrade(sid, { query: `?ticket=${ticket}` });
    expect(ok.status).toBe(101);
    ok.webSocket!.accept();
    ok.webSocket!.close(1000);
  });
});

describe("kind 5: a room-wide message budget", () => {
  it("users each within their own limit are shed with room_busy past the room's budget; sockets stay open", async () => {
    const sid = newStreamId();
    const stub = roomStub(sid);
    const users = [await connect(sid), await connect(sid), await connect(sid)];
    await setLimits(stub, { ROOM_MAX_MESSAGES_PER_SEC: 5 });
    for (const [u, c] of users.entries()) for (let i = 0; i < 4; i++) c.send(msg(`u${u} m${i}`, `u${u}-${i}`));
    for (const c of users) await c.until((x) => x.of("ack").length + x.of("error").length === 4, "4 answers");
    const acks = users.flatMap((c) => c.of("ack"));
    const errors = users.flatMap((c) => c.of("error"));
    expect(acks.length).toBeGreaterThanOrEqual(5);
    expect(acks.length).toBeLessThanOrEqual(6); // 5 + what refills while the frames arrive
    expect(errors.length).toBe(12 - acks.length);
    for (const e of errors) {
      expect(e.code).toBe("room_busy");
      expect(e.retry_after_ms).toBeGreaterThan(0);
    }
    await sleep(100);
    for (const c of users) expect(c.closed).toBeNull();
    await Promise.all(users.map((c) => c.close()));
  });
});

describe("kind 5b: the room budget follows the audience (ROOM_MAX_DELIVERIES_PER_SEC)", () => {
  it("with 5 unbatched viewers and 10 sends/s allowed, the room takes ~2 messages/s; batched viewers cost nothing", async () => {
    const sid = newStreamId();
    const stub = roomStub(sid);
    const viewers = [await connect(sid), await connect(sid), await connect(sid), await connect(sid)];
    const sender = await connect(sid);
    const batched = [await connect(sid, { query: "?batch=1" }), await connect(sid, { query: "?batch=1" })];
    await setLimits(stub, { ROOM_MAX_DELIVERIES_PER_SEC: 10 });
    await sleep(20); // let the room bucket settle to the smaller burst
    for (let i = 0; i < 6; i++) sender.send(msg(`m${i}`, `d-${i}`));
    await sender.until((x) => x.of("ack").length + x.of("error").length === 6, "6 answers");
    expect(sender.of("ack").length).toBeLessThanOrEqual(3);
    expect(sender.of("error").every((e) => e.code === "room_busy" && e.retry_after_ms! > 0)).toBe(true);
    await Promise.all([...viewers, sender, ...batched].map((c) => c.close()));
  });
});

describe("kind 5c: refused and blank messages do not spend the room's budget (issue 19 §4)", () => {
  // Found by the flood bench: the stream's budget was taken before the rules decided, so a socket's
  // blank or refused messages (each within its own user limit) shed everybody else with room_busy.
  it("after one user's blank and too-long messages, another viewer's message is accepted at once", async () => {
    const sid = newStreamId();
    const stub = roomStub(sid);
    const flooder = await connect(sid);
    const viewer = await connect(sid);
    await setLimits(stub, { ROOM_MAX_MESSAGES_PER_SEC: 1 });
    await sleep(20); // let the room bucket settle to the smaller burst (1 token, 1 per second)
    for (let i = 0; i < 4; i++) flooder.send(msg("  \n ", `blank-${i}`));
    for (let i = 0; i < 4; i++) flooder.send(msg("z".repeat(501), `long-${i}`));
    await flooder.until((x) => x.of("ack").length + x.of("error").length === 8, "8 answers");
    expect(flooder.of("ack").every((a) => a.seq === undefined)).toBe(true);
    expect(flooder.of("error").map((e) => e.code)).toEqual(Array(4).fill("message_too_long"));
    viewer.send(msg("still heard", "v-1"));
    await viewer.until((x) => x.of("ack").length + x.of("error").length === 1, "the viewer's answer");
    expect(viewer.of("error")).toEqual([]);
    expect(viewer.of("ack")[0]!.seq).toBeGreaterThan(0);
    await flooder.until((x) => x.comments().some((c) => c.comment.message === "still heard"), "the broadcast");
    await Promise.all([flooder.close(), viewer.close()]);
  });
});

describe("kind 6: sockets per user per stream are capped", () => {
  it("the 6th socket of one user closes their oldest with 4429; other users are unaffected", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const mine: Client[] = [];
    for (let i = 0; i < 5; i++) mine.push(await connect(sid, { token: await token({ sub }) }));
    const other = await connect(sid);
    mine.push(await connect(sid, { token: await token({ sub }) }));
    await mine[0]!.until((x) => x.closed !== null, "the oldest socket's close");
    expect(mine[0]!.closed!.code).toBe(CLOSE_TOO_MANY_SOCKETS);
    for (const c of mine.slice(1)) expect(c.closed).toBeNull();
    other.send(msg("still here"));
    for (const c of mine.slice(1)) await c.until((x) => x.comments().length === 1, "broadcast to the 5 newest");
    expect(mine[0]!.comments()).toHaveLength(0);
    await Promise.all([...mine.slice(1), other].map((c) => c.close()));
  });
});

describe("kind 8: the refusal that closes a socket still reaches it (found by the fuzzer, issue 19 §5)", () => {
  // MAX_STRIKES (20) malformed frames, then a rule refusal that is a strike too (message_too_long):
  // the 21st strike closes the socket with 1008, and the sender must first get that command's
  // answer — unsharded, the room used to close the socket before sending it, so the error was lost.
  for (const [what, last] of [
    ["message_too_long", msg("z".repeat(501), "the-21st")],
    ["invalid_text", msg("a\u0007b", "the-21st")],
  ] as const) {
    it(`the 21st strike (${what}) is answered with its error, then the socket is closed with 1008`, async () => {
      const sid = newStreamId();
      const c = await connect(sid);
      for (let i = 0; i < 20; i++) c.send("{");
      await c.until((x) => x.of("error").length === 20, "20 invalid_json");
      expect(c.closed).toBeNull();
      c.send(last);
      await c.until((x) => x.closed !== null, "the close");
      expect(c.closed!.code).toBe(CLOSE_POLICY_VIOLATION);
      expect(c.of("error").at(-1)).toMatchObject({ code: what, client_msg_id: "the-21st" });
    });
  }
});

describe("kind 7: a request value copied into a header", () => {
  it("?ticket=ab%00cd is a 401, not a 500", async () => {
    await expect401(await upgrade(newStreamId(), { query: "?ticket=ab%00cd" }));
    await expect401(await upgrade(newStreamId(), { query: "?ticket=%0d%0aX-Evil:%201" }));
    await expect401(await upgrade(newStreamId(), { query: `?ticket=${"%E2%80%8B".repeat(100)}` }));
  });
});

describe("admission: MAX_VIEWERS_PER_STREAM", () => {
  it("past the cap a viewer's upgrade is 503 stream_full with Retry-After, before any upgrade; staff still get in", async () => {
    const sid = newStreamId();
    const first = await connect(sid);
    await setLimits(roomStub(sid), { MAX_VIEWERS_PER_STREAM: 2 });
    const second = await connect(sid);
    const res = await upgrade(sid, { token: await token() });
    expect(res.status).toBe(503);
    expect(res.webSocket).toBeNull();
    expect(res.headers.get("retry-after")).toBe("30");
    expect(await res.json()).toMatchObject({ error: "stream_full" });
    // A ticket is not used up by a refused attempt.
    const tres = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${await token()}` } });
    const { ticket } = (await tres.json()) as { ticket: string };
    expect((await upgrade(sid, { query: `?ticket=${ticket}` })).status).toBe(503);
    const owner = await connect(sid, { token: await token({ claims: { stream_roles: { [sid]: "owner" } } }) });
    expect(owner.of("welcome")[0]!.role).toBe("owner");
    await Promise.all([second.close(), owner.close()]); // room again below the cap
    const again = await upgrade(sid, { query: `?ticket=${ticket}` });
    expect(again.status).toBe(101);
    again.webSocket!.accept();
    again.webSocket!.close(1000);
    await first.close();
  });
});
