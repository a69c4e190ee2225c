/**
 * What the worker and a stream's Durable Objects exchange over an upgrade and over the room's RPC
 * methods: the internal headers, the identity the worker resolved, the checks every internal
 * upgrade passes (room and shard alike), and the results of the room's RPCs (commands, state,
 * uploads). The worker imports this module, never the room's internals. What only the fan-out
 * shards exchange is src/shard-api.ts; the rates and caps are src/rules/limits.ts.
 */
import { Role, isUuid, type CommandError, type RoomEvent } from "./protocol";
import type { RoomState } from "./rules/room-state";
import type { UploadContentType } from "./upload-rules";

/**
 * Internal headers set by the worker on requests to this object, after it has authenticated the
 * request; the worker builds them from validated values, never copies them from the request.
 */
export const H_STREAM = "x-chat-stream";
export const H_IDENTITY = "x-chat-identity";
/** A verified ticket's nonce and expiry (ms), `<nonce>.<expires_at>`: the room enforces one use. */
export const H_TICKET_NONCE = "x-chat-ticket-nonce";
/** The viewer's region, src/metrics.ts regionOf(request.cf): counted per socket for the stats. */
export const H_REGION = "x-chat-region";

/** Who the worker says the user is. `owner` = the stream's owner from Postgres, when known. */
export interface RoomIdentity {
  id: string;
  username: string | null;
  role: Role;
  owner?: string | null;
  /** A member/subscriber of this stream: the token's `stream_members` claim names it (README "Chat modes"). */
  member?: boolean;
  /** When the account was created, ms: Postgres `users.created_at`, else the token's `account_created_at` claim; null = unknown. */
  created_at?: number | null;
}

/**
 * The answer to a command, for the socket (frames) or the HTTP actions route (JSON): nothing (a
 * visually empty text), a refusal ({@link CommandError}), or the sequenced events it made with what
 * the ack names (the comment created or acted on, the first event's seq).
 */
export type CommandResult =
  | { kind: "ignored" }
  | CommandError
  | { kind: "ok"; events: RoomEvent[]; id?: string; seq?: number }
  | HeldResult;

/** A message held for review (issue 18 §2): its comment id and when it expires (RFC 3339). */
export interface HeldResult {
  kind: "held";
  id: string;
  expires_at: string;
}

/**
 * An upgrade refused before any socket exists and before a ticket is used up (ChatRoom admission,
 * both modes): 503 `stream_full` + Retry-After seconds past MAX_VIEWERS_PER_STREAM, 401 for a used
 * ticket, `joins_busy` (a socket closed 1013) past ROOM_MAX_JOINS_PER_SEC.
 */
export type AdmissionRefusal =
  | { ok: false; status: 401 | 503; error: "unauthorized" | "stream_full"; message: string; retry_after_s?: number }
  /**
   * Past ROOM_MAX_JOINS_PER_SEC (src/rules/joins.ts): the upgrade is accepted and the socket closed
   * at once with 1013 and reason `{"error":"joins_busy","retry_after_ms":N}` (src/join-refusal.ts),
   * so that a browser — which sees no HTTP status of a refused upgrade — learns when to come back.
   */
  | { ok: false; status: 101; error: "joins_busy"; retry_after_ms: number };

/** An upload the worker has checked (type by magic bytes, size, header bounds) and asks the room to record. */
export interface UploadRegistration {
  /** src/upload-rules.ts newUploadId() */
  id: string;
  content_type: UploadContentType;
  /** bytes */
  size: number;
  /** px, as the image's header declares them (src/rules/image-header.ts, within its bounds) */
  width: number;
  height: number;
  /** 1 for a still image */
  frames: number;
}

/** The room's answer to {@link ChatRoom.registerUpload}: go ahead, or why not (HTTP 429 / 403). */
export type UploadVerdict =
  | { ok: true }
  | { ok: false; code: "rate_limited" | "too_many_uploads" | "banned"; message: string; retry_after_ms?: number };

/** `GET /v1/streams/{id}/chat/state`; the staff-only fields are absent for viewers. */
export interface StateSnapshot {
  role: Role;
  pinned: RoomState["pinned"];
  slow_mode_s: number;
  viewers: number;
  bans?: Array<{ user_id: string; by: string; at: string; reason?: string }>;
  timeouts?: Array<{ user_id: string; until: string; by: string }>;
  moderators?: string[];
  blocked_terms?: string[];
  /** issue 18, staff only: the blocked terms whose action is `hold` (a subset of blocked_terms) */
  hold_terms?: string[];
  /** everyone: the chat modes, whether a lockdown holds them, the title */
  modes?: RoomState["modes"];
  lockdown?: boolean;
  title?: string;
  /** staff only: what `lockdown` turns on, the shadow-hidden users, messages waiting for review */
  lockdown_preset?: RoomState["lockdownPreset"];
  hidden?: string[];
  held?: number;
}

/** The identity header's value, parsed; null when missing or malformed. */
export function readIdentity(header: string | null): RoomIdentity | null {
  if (!header) return null;
  try {
    const v = JSON.parse(decodeURIComponent(header)) as Partial<RoomIdentity>;
    if (typeof v.id !== "string" || !v.id) return null;
    return {
      id: v.id,
      username: typeof v.username === "string" ? v.username : null,
      role: Role.safeParse(v.role).data ?? "viewer",
      owner: typeof v.owner === "string" ? v.owner : null,
      ...(v.member === true ? { member: true } : {}),
      ...(typeof v.created_at === "number" && Number.isFinite(v.created_at) ? { created_at: v.created_at } : {}),
    };
  } catch {
    return null;
  }
}

/** The identity header's value (URI-encoded JSON: header-safe whatever the username holds). */
export function encodeIdentity(identity: RoomIdentity): string {
  return encodeURIComponent(JSON.stringify(identity));
}

/** A JSON response (DESIGN.md's error bodies `{"error","message"}` and the like) with `status` and extra `headers`. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

/** An internal upgrade that passed {@link checkUpgrade}: its URL, stream id (lower case), identity and extra credentials. */
export interface CheckedUpgrade<C> {
  url: URL;
  streamId: string;
  identity: RoomIdentity;
  /** What `more.credentials` read (a shard: the room's welcome); `true` when there was nothing more to read. */
  credentials: C;
}

/**
 * The checks every upgrade the worker forwards to a room or a shard passes, in DESIGN.md's order:
 * stream id header not a UUID (or `streamOk` false) → 400 `invalid_stream_id`; path not `/ws` → 404;
 * not a WebSocket upgrade → 426 (workerd throws if a socket is returned to any other request); no
 * identity header (or `credentials` null) → 401. Returns the refusal, or the checked request.
 */
export function checkUpgrade<C = true>(
  request: Request,
  more: { streamOk?: (streamId: string) => boolean; credentials?: () => C | null } = {},
): CheckedUpgrade<C> | Response {
  const url = new URL(request.url);
  const streamId = request.headers.get(H_STREAM)?.toLowerCase() ?? "";
  if (!isUuid(streamId) || (more.streamOk && !more.streamOk(streamId))) return jsonResponse(400, { error: "invalid_stream_id", message: "Missing stream id" });
  if (url.pathname !== "/ws") return jsonResponse(404, { error: "not_found", message: "No such route" });
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return jsonResponse(426, { error: "upgrade_required", message: "Expected a WebSocket upgrade" });
  }
  const identity = readIdentity(request.headers.get(H_IDENTITY));
  const credentials = more.credentials ? more.credentials() : (true as C);
  if (!identity || credentials === null) return jsonResponse(401, { error: "unauthorized", message: "Missing credentials" });
  return { url, streamId, identity, credentials };
}

/** The command actor of an identity: who, the role the worker resolved, and what the chat modes ask (member, account age). */
export function actorOf(identity: RoomIdentity): { userId: string; username: string | null; role: Role; member?: boolean; accountCreatedAt?: number | null } {
  return {
    userId: identity.id,
    username: identity.username,
    role: identity.role,
    ...(identity.member ? { member: true } : {}),
    ...(typeof identity.created_at === "number" ? { accountCreatedAt: identity.created_at } : {}),
  };
}
