/**
 * A user's role in a stream, for the worker to hand to the room (DESIGN.md "Room events": roles
 * come from Postgres and from signed JWT claims; platform admins act as owner).
 *
 * Sources, each only ever granting (the strongest grant wins, so no source can take away what
 * another gives):
 *   1. the claim `role: "admin"`                      → owner
 *   2. the claim `stream_roles[<stream_id>]`          → owner | moderator
 *   3. Postgres, when DATABASE_URL is set:
 *        streams(id, owner_id)                        → owner when owner_id = the user
 *        stream_moderators(stream_id, user_id)        → moderator when the row exists
 *   otherwise                                         → viewer
 * Grants made in the room with `role` frames are stored and applied by the room, not here.
 *
 * `ownerId` is the stream's owner according to Postgres (null when DATABASE_URL is unset, the
 * stream has no row, or the database failed), so the room can protect the owner from moderators
 * even while the owner is offline.
 *
 * Cache (like src/usernames.ts): the Postgres answer per (stream, user) is kept 5 minutes in a
 * small in-isolate map in front of the Cache API (shared by the isolates of a colo); the entry
 * carries its own expiry, so moving it between the two layers never extends it. A change in
 * Postgres is therefore seen within ROLE_TTL_MS (promotion and demotion alike). Claims are never
 * cached: they are re-read from every token. A database failure is never cached: the role falls back to the claims, the cause is
 * logged, and the next call asks Postgres again.
 */
import type { Identity } from "./auth";
import type { Config } from "./env";
import { describeError } from "./errors";
import { withNeonClient } from "./neon";
import { isUuid, type Role } from "./protocol";

/** How long a Postgres answer is reused (ms): the staleness a role change in Postgres may have. */
export const ROLE_TTL_MS = 5 * 60_000;
/** A Postgres lookup that takes longer (connect + query, ms) counts as a failure: claims only. */
export const ROLE_LOOKUP_TIMEOUT_MS = 5_000;
const MEMO_MAX = 10_000;
const CACHE_PREFIX = "https://roles.chat.internal/v1/";

/** The result of resolveRole. */
export interface ResolvedRole {
  role: Role;
  /** The stream's owner (user id, lower-case UUID) according to Postgres; null when not known. */
  ownerId: string | null;
}

/** What Postgres says about one (stream, user) pair: the row the cache holds. */
export interface StreamRoleRow {
  /** `streams.owner_id`, or null when the stream has no row. */
  ownerId: string | null;
  /** Whether (stream, user) is in `stream_moderators`. */
  moderator: boolean;
}

// One round trip: both sub-selects always yield one row, also for a stream without a `streams`
// row (moderators do not depend on it: there is no foreign key, streams may be created elsewhere).
const ROLE_SQL = `SELECT
  (SELECT owner_id::text FROM streams WHERE id = $1) AS owner_id,
  EXISTS (SELECT 1 FROM stream_moderators WHERE stream_id = $1 AND user_id = $2) AS moderator`;

/**
 * Reads the (stream, user) row from Postgres through the Neon driver: one query, one round trip.
 * Both ids must be UUIDs. Rejects with the driver's error or a DatabaseTimeoutError.
 */
export async function lookupStreamRole(
  cfg: Pick<Config, "DATABASE_URL" | "NEON_WS_PROXY">,
  streamId: string,
  userId: string,
): Promise<StreamRoleRow> {
  return withNeonClient(cfg, "roles", ROLE_LOOKUP_TIMEOUT_MS, async (client) => {
    const res = await client.query<{ owner_id: string | null; moderator: boolean }>(ROLE_SQL, [streamId, userId]);
    const row = res.rows[0];
    return { ownerId: row?.owner_id?.toLowerCase() ?? null, moderator: row?.moderator === true };
  });
}

const RANK: Record<Role, number> = { viewer: 0, moderator: 1, owner: 2 };
const stronger = (a: Role, b: Role): Role => (RANK[b] > RANK[a] ? b : a);

/** The role the token alone grants in `streamId` (a lower-case UUID). */
export function roleFromClaims(identity: Identity, streamId: string): Role {
  if (identity.admin) return "owner";
  const roles = identity.streamRoles;
  return roles && Object.hasOwn(roles, streamId) ? roles[streamId]! : "viewer";
}

/**
 * The user's role in the stream and the stream's owner (see the module comment for the sources,
 * the cache and its 5-minute staleness). `streamId` must be a UUID (any case); anything else
 * throws a TypeError — the worker answers 400 before it gets here. Never rejects because of the
 * database: a failure or timeout is logged with its cause (`roles: Postgres lookup failed …`) and
 * the claims decide, with `ownerId: null`. `ctx.waitUntil`, when given, keeps the Cache API write
 * alive after the response.
 */
export async function resolveRole(
  cfg: Config,
  identity: Identity,
  streamId: string,
  ctx?: Pick<ExecutionContext, "waitUntil">,
): Promise<ResolvedRole> {
  if (typeof streamId !== "string" || !isUuid(streamId)) throw new TypeError("resolveRole: streamId must be a UUID");
  const sid = streamId.toLowerCase();
  const fromClaims = roleFromClaims(identity, sid);
  if (!cfg.DATABASE_URL) return { role: fromClaims, ownerId: null };

  let row: StreamRoleRow;
  try {
    row = await cachedRow(cfg, sid, identity.userId, ctx);
  } catch (err) {
    const who = `stream ${sid} user ${identity.userId}`;
    console.error(`roles: Postgres lookup failed for ${who}, using the token's claims (${fromClaims}): ${describeError(err)}`);
    return { role: fromClaims, ownerId: null };
  }
  const fromDb: Role = row.ownerId === identity.userId ? "owner" : row.moderator ? "moderator" : "viewer";
  return { role: stronger(fromClaims, fromDb), ownerId: row.ownerId };
}

const memo = new Map<string, { row: StreamRoleRow; until: number }>();

/** The Cache API key of a (stream, user) pair (both lower-case UUIDs); exported for tests. */
export function roleCacheKey(streamId: string, userId: string): string {
  return `${CACHE_PREFIX}${streamId}/${userId}`;
}

async function cachedRow(
  cfg: Config,
  streamId: string,
  userId: string,
  ctx: Pick<ExecutionContext, "waitUntil"> | undefined,
): Promise<StreamRoleRow> {
  const key = `${streamId}/${userId}`;
  const hit = memo.get(key);
  if (hit && hit.until > Date.now()) return hit.row;
  // Concurrent misses for one pair each ask (no shared in-flight promise): in workerd a promise
  // settled by another request's I/O hangs this request if that one is cancelled first.
  return fetchRow(cfg, key, streamId, userId, ctx);
}

async function fetchRow(
  cfg: Config,
  key: string,
  streamId: string,
  userId: string,
  ctx: Pick<ExecutionContext, "waitUntil"> | undefined,
): Promise<StreamRoleRow> {
  const cache = typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined;
  const cacheKey = new Request(roleCacheKey(streamId, userId));
  try {
    const cached = await cache?.match(cacheKey);
    const entry = cached ? parseEntry(await cached.json()) : null;
    if (entry && entry.until > Date.now()) {
      remember(key, entry.row, entry.until);
      return entry.row;
    }
  } catch {
    // a cache miss is fine
  }

  const row = await lookupStreamRole(cfg, streamId, userId); // a failure propagates, uncached
  const until = Date.now() + ROLE_TTL_MS;
  remember(key, row, until);
  if (cache) {
    const put = cache
      .put(
        cacheKey,
        new Response(JSON.stringify({ ...row, until }), {
          headers: { "content-type": "application/json", "cache-control": `max-age=${ROLE_TTL_MS / 1000}` },
        }),
      )
      .catch(() => undefined);
    ctx?.waitUntil(put);
  }
  return row;
}

/**
 * A Cache API entry, checked: anything else (an older layout, a corrupted entry) is a miss. It
 * carries its own expiry (`until`, epoch ms), so copying it into the memo does not restart the
 * clock: an answer is never used more than ROLE_TTL_MS after Postgres gave it.
 */
function parseEntry(v: unknown): { row: StreamRoleRow; until: number } | null {
  if (typeof v !== "object" || v === null) return null;
  const { ownerId, moderator, until } = v as Record<string, unknown>;
  if (typeof moderator !== "boolean" || typeof until !== "number" || !Number.isFinite(until)) return null;
  if (ownerId !== null && (typeof ownerId !== "string" || !isUuid(ownerId))) return null;
  return { row: { ownerId, moderator }, until };
}

function remember(key: string, row: StreamRoleRow, until: number) {
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(key, { row, until });
}
