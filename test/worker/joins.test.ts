/**
 * The room's join gate (ROOM_MAX_JOINS_PER_SEC, src/rules/joins.ts) through the worker, in both modes
 * (unsharded: the room's fetch; sharded: the room's admit() and the worker's refusal). The gate is
 * drained deterministically — a JoinGate made an hour ahead and emptied, so no token comes back
 * during the test — instead of racing the clock on a loaded machine.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ChatRoom } from "../../src/room";
import { CLOSE_TRY_AGAIN_LATER, JOINS_BUSY_MIN_RETRY_MS, JoinGate, parseJoinsBusyReason } from "../../src/rules/joins";
import { Client, connect, fetchWorker, newStreamId, openSockets, roomStub, setLimits, staffToken, token, upgrade } from "./helpers";

/** Gives the room a gate of 1 join/s whose one token was taken an hour from now: every viewer join is refused. */
async function drainGate(sid: string): Promise<void> {
  await setLimits(roomStub(sid), { ROOM_MAX_JOINS_PER_SEC: 1 });
  await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
    const later = Date.now() + 3_600_000;
    const gate = new JoinGate(1, later);
    gate.join(false, later);
    (room as unknown as { joinGate: JoinGate }).joinGate = gate;
  });
}

/** Lets the room make a fresh, full gate on its next join. */
async function refillGate(sid: string): Promise<void> {
  await runInDurableObject(roomStub(sid), (room: ChatRoom) => {
    (room as unknown as { joinGate: JoinGate | null }).joinGate = null;
  });
}

async function ticketFor(sid: string, bearer: string): Promise<string> {
  const res = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${bearer}` } });
  return ((await res.json()) as { ticket: string }).ticket;
}

/** Upgrades and waits for the 1013 close; returns the advised wait. */
async function expectJoinsBusy(res: Response): Promise<number> {
  expect(res.status).toBe(101);
  const c = new Client(res.webSocket!);
  await c.until((x) => x.closed !== null, "the 1013 close");
  expect(c.frames).toEqual([]); // no welcome, no history: never joined
  expect(c.closed!.code).toBe(CLOSE_TRY_AGAIN_LATER);
  expect(JSON.parse(c.closed!.reason)).toMatchObject({ error: "joins_busy" });
  return parseJoinsBusyReason(c.closed!.reason)!;
}

describe("join gate: ROOM_MAX_JOINS_PER_SEC", () => {
  it("past the rate a viewer's socket is closed 1013 joins_busy with retry_after_ms, and holds no place in the room", async () => {
    const sid = newStreamId();
    const first = await connect(sid);
    await drainGate(sid);
    const wait = await expectJoinsBusy(await upgrade(sid, { token: await token() }));
    expect(wait).toBeGreaterThanOrEqual(JOINS_BUSY_MIN_RETRY_MS);
    expect(await openSockets(sid)).toBe(1);
    await first.close();
  });

  it("a refused join does not use up its ticket", async () => {
    const sid = newStreamId();
    const first = await connect(sid);
    await drainGate(sid);
    const ticket = await ticketFor(sid, await token());
    await expectJoinsBusy(await upgrade(sid, { query: `?ticket=${ticket}` }));
    await refillGate(sid);
    const again = await upgrade(sid, { query: `?ticket=${ticket}` });
    expect(again.status).toBe(101);
    const c = new Client(again.webSocket!);
    await c.until((x) => x.of("history").length > 0, "welcome + history with the same ticket");
    await Promise.all([c.close(), first.close()]);
  });

  it("staff get in while viewers are refused", async () => {
    const sid = newStreamId();
    const first = await connect(sid);
    await drainGate(sid);
    const owner = await connect(sid, { token: await staffToken(sid, "owner") });
    const mod = await connect(sid, { token: await staffToken(sid, "moderator") });
    expect(owner.of("welcome")[0]!.role).toBe("owner");
    expect(mod.of("welcome")[0]!.role).toBe("moderator");
    await expectJoinsBusy(await upgrade(sid, { token: await token() }));
    await Promise.all([owner.close(), mod.close(), first.close()]);
  });

  it("admits a burst of `rate` viewers and refuses the rest of a crowd that arrives at once", async () => {
    const sid = newStreamId();
    await setLimits(roomStub(sid), { ROOM_MAX_JOINS_PER_SEC: 3 });
    const tokens = await Promise.all(Array.from({ length: 12 }, () => token()));
    const results = await Promise.all(tokens.map((t) => upgrade(sid, { token: t })));
    const clients = results.map((r) => new Client(r.webSocket!));
    await Promise.all(clients.map((c) => c.until((x) => x.closed !== null || x.of("history").length > 0, "joined or refused")));
    const joined = clients.filter((c) => c.closed === null);
    const refused = clients.filter((c) => c.closed?.code === CLOSE_TRY_AGAIN_LATER);
    // 12 joins within far less than 3 s on any machine: at least 3 admitted, and (12 − 3 − refill) refused.
    expect(joined.length).toBeGreaterThanOrEqual(3);
    expect(refused.length).toBeGreaterThan(0);
    expect(joined.length + refused.length).toBe(12);
    expect(await openSockets(sid)).toBe(joined.length);
    await Promise.all(joined.map((c) => c.close()));
  });
});
