/** Helpers for issue 18's workerd suites (moderation tools, review queue, mod log, user card). */
import type { ServerFrame } from "../../src/protocol";
import { Client, connect, fetchWorker, newUserId, postAction, staffToken, token } from "./helpers";

export type Frame<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** A stream with an owner and a moderator connected, and their tokens (for HTTP). */
export async function staffed(sid: string) {
  const ownerId = newUserId();
  const modId = newUserId();
  const ownerToken = await staffToken(sid, "owner", ownerId);
  const modToken = await staffToken(sid, "moderator", modId);
  const owner = await connect(sid, { token: ownerToken });
  const mod = await connect(sid, { token: modToken });
  return { ownerId, modId, ownerToken, modToken, owner, mod };
}

/** A viewer's token and socket; `claims` adds token claims (stream_members, account_created_at). */
export async function viewer(sid: string, o: { sub?: string; username?: string; claims?: Record<string, unknown>; query?: string } = {}) {
  const userId = o.sub ?? newUserId();
  const t = await token({ sub: userId, username: o.username ?? "vee", claims: o.claims });
  const c = await connect(sid, { token: t, query: o.query });
  return { userId, token: t, c };
}

type Answer = Frame<"ack"> | Frame<"error"> | Frame<"held">;

/** Sends `frame` with a fresh client_msg_id and waits for its answer: an ack, an error or a `held` frame. */
export async function reply(c: Client, frame: Record<string, unknown>): Promise<Answer> {
  const id = crypto.randomUUID();
  c.send({ ...frame, client_msg_id: id });
  const pick = (x: Client) => x.frames.find((f): f is Answer => (f.type === "ack" || f.type === "error" || f.type === "held") && f.client_msg_id === id);
  await c.until((x) => pick(x) !== undefined, `answer to ${JSON.stringify(frame)}`);
  return pick(c)!;
}

export async function okay(c: Client, frame: Record<string, unknown>): Promise<Frame<"ack">> {
  const r = await reply(c, frame);
  if (r.type !== "ack") throw new Error(`${JSON.stringify(frame)} not acknowledged: ${JSON.stringify(r)}`);
  return r;
}

export async function refusal(c: Client, frame: Record<string, unknown>): Promise<Frame<"error">> {
  const r = await reply(c, frame);
  if (r.type !== "error") throw new Error(`${JSON.stringify(frame)} was not refused: ${JSON.stringify(r)}`);
  return r;
}

export async function heldFor(c: Client, frame: Record<string, unknown>): Promise<Frame<"held">> {
  const r = await reply(c, frame);
  if (r.type !== "held") throw new Error(`${JSON.stringify(frame)} was not held: ${JSON.stringify(r)}`);
  return r;
}

/** POST …/chat/actions and the parsed body. */
export async function act(sid: string, t: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await postAction(sid, t, body);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GET a JSON route with bearer `t`. */
export async function getJson<T = Record<string, unknown>>(path: string, t: string): Promise<{ status: number; body: T }> {
  const res = await fetchWorker(path, { headers: { authorization: `Bearer ${t}` } });
  return { status: res.status, body: (await res.json()) as T };
}

/** Waits until `c` has a moderation frame of `action` (and `pred`), and returns the last one. */
export async function moderation(c: Client, action: string, pred: (m: Frame<"moderation">) => boolean = () => true): Promise<Frame<"moderation">> {
  const find = (x: Client) => x.of("moderation").filter((m) => m.action === action && pred(m)).at(-1);
  await c.until((x) => find(x) !== undefined, `a ${action} event`);
  return find(c)!;
}
