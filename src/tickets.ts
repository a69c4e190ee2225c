/**
 * One-time WebSocket tickets that the worker can verify by itself (issue 9, kind 4: nothing
 * unauthenticated may create or write a Durable Object).
 *
 * A ticket is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, where payload is the
 * JSON `{"v":1,"s":stream_id,"u":user_id,"n":username|null,"r":role,"o":owner_id|null,"e":expires_at_ms,"j":nonce}`.
 * The worker checks the MAC, the expiry and the stream before it touches any object, so a forged,
 * malformed or foreign ticket costs one HMAC and never reaches a room. One-time use is the room's job:
 * it remembers the nonce `j` until `e` (a write made only for an authentic ticket).
 *
 * Key: TICKET_SECRET when set, else derived from JWT_SECRET (HMAC(JWT_SECRET, "edge-stream-chat
 * ticket v1"), so a ticket is never a valid JWT signature); src/env.ts requires one of the two.
 */
import { base64url } from "jose";

/** Ticket lifetime, seconds (DESIGN.md: `expires_in: 30`). */
export const TICKET_TTL_S = 30;
/** Longest ticket accepted, characters: a payload with a 64-character username is ~330. */
export const MAX_TICKET_LENGTH = 512;

/** What a verified ticket says: who may open a socket to which stream, until when. */
export interface TicketClaims {
  streamId: string;
  userId: string;
  username: string | null;
  /** The role the worker resolved when minting (DESIGN.md "Room events"); the room re-checks it. */
  role: string;
  /** The stream's owner from Postgres when the worker knew it, else null. */
  ownerId: string | null;
  /** A member of the stream (claim `stream_members`), and the account's creation (ms; null = unknown): chat modes. */
  member?: boolean;
  createdAt?: number | null;
  /** Unix time, ms. */
  expiresAt: number;
  /** Random, 16 bytes base64url: the room's one-time-use key. */
  nonce: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(secret, k);
  }
  return k;
}

/**
 * The ticket signing secret for a configuration: TICKET_SECRET, or one derived from JWT_SECRET.
 * Throws when neither is set (src/env.ts rejects that configuration first).
 */
export async function ticketSecret(cfg: { TICKET_SECRET?: string; JWT_SECRET?: string }): Promise<string> {
  if (cfg.TICKET_SECRET) return cfg.TICKET_SECRET;
  if (!cfg.JWT_SECRET) throw new Error("tickets need TICKET_SECRET or JWT_SECRET");
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(cfg.JWT_SECRET), encoder.encode("edge-stream-chat ticket v1"));
  return base64url.encode(new Uint8Array(mac));
}

/** Mints a ticket for `claims` (minus the nonce and expiry, which are made here). */
export async function mintTicket(
  secret: string,
  claims: Omit<TicketClaims, "expiresAt" | "nonce">,
  now = Date.now(),
): Promise<string> {
  const payload = {
    v: 1,
    s: claims.streamId,
    u: claims.userId,
    n: claims.username,
    r: claims.role,
    o: claims.ownerId,
    ...(claims.member ? { m: 1 } : {}),
    ...(typeof claims.createdAt === "number" ? { c: claims.createdAt } : {}),
    e: now + TICKET_TTL_S * 1000,
    j: base64url.encode(crypto.getRandomValues(new Uint8Array(16))),
  };
  const body = base64url.encode(encoder.encode(JSON.stringify(payload)));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(body));
  return `${body}.${base64url.encode(new Uint8Array(mac))}`;
}

/**
 * Verifies a ticket for `streamId`. Returns its claims, or null when it is malformed, forged,
 * expired or for another stream — the caller answers 401 for all of them alike. Never throws on
 * input (any string is safe to pass, including control characters).
 */
export async function verifyTicket(secret: string, ticket: string, streamId: string, now = Date.now()): Promise<TicketClaims | null> {
  if (ticket.length > MAX_TICKET_LENGTH) return null;
  const m = /^([A-Za-z0-9_-]{16,480})\.([A-Za-z0-9_-]{43})$/.exec(ticket);
  if (!m) return null;
  let mac: Uint8Array<ArrayBuffer>;
  let payload: unknown;
  try {
    mac = new Uint8Array(base64url.decode(m[2]!));
    if (!(await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, encoder.encode(m[1]!)))) return null;
    payload = JSON.parse(decoder.decode(base64url.decode(m[1]!)));
  } catch {
    return null;
  }
  const p = payload as Record<string, unknown>;
  if (
    p.v !== 1 ||
    typeof p.s !== "string" ||
    typeof p.u !== "string" ||
    (p.n !== null && typeof p.n !== "string") ||
    typeof p.r !== "string" ||
    (p.o !== null && p.o !== undefined && typeof p.o !== "string") ||
    typeof p.e !== "number" ||
    typeof p.j !== "string"
  ) {
    return null;
  }
  if (p.s !== streamId || p.e < now) return null;
  return {
    streamId: p.s,
    userId: p.u,
    username: p.n as string | null,
    role: p.r,
    ownerId: typeof p.o === "string" ? p.o : null,
    member: p.m === 1,
    createdAt: typeof p.c === "number" && Number.isFinite(p.c) ? p.c : null,
    expiresAt: p.e,
    nonce: p.j,
  };
}
