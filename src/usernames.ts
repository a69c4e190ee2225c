/**
 * Usernames and account ages: from Postgres (the `users` row of the id, Neon serverless driver over
 * WebSockets) when DATABASE_URL is set, cached for 5 minutes; otherwise — or when the row is
 * missing or the database is unreachable — the JWT's `username` / `account_created_at` claims;
 * otherwise null. The account's age (chat mode `account_age`, the user card) is the row's
 * `created_at` when the table has that column and the row a value: Postgres wins over the claim.
 *
 * Cache: a small in-isolate map in front of the Cache API (shared by the isolates of a colo).
 * A database failure is never cached, so the name comes back as soon as Postgres does.
 */
import { cleanLine } from "./rules/text";
import { MAX_USERNAME_CODE_POINTS } from "./auth";
import { withNeonClient } from "./neon";
import type { Identity } from "./auth";
import type { Config } from "./env";
import { describeError } from "./errors";

export const USERNAME_TTL_MS = 5 * 60_000;
const MEMO_MAX = 10_000;
const memo = new Map<string, { name: string | null; createdAt: number | null; until: number }>();
const CACHE_PREFIX = "https://usernames.chat.internal/v1/";

/** No answer within this long (connect + query) → the claim decides, like any database failure. */
export const USERNAME_LOOKUP_TIMEOUT_MS = 5_000;

/** A user's row as the chat reads it: the name (null = none usable) and account creation (ms, null = unknown). */
export interface UserRow {
  name: string | null;
  createdAt: number | null;
}

/**
 * The `users` row of `userId` in Postgres: the username (cleaned by cleanLine) and `created_at` (ms)
 * when the table has that column (read through `to_jsonb(u)->>'created_at'`, so a table without it
 * works unchanged; only these two values are selected). Rejects on a database failure.
 */
export async function lookupUser(cfg: Config, userId: string): Promise<UserRow> {
  return withNeonClient(cfg, "usernames", USERNAME_LOOKUP_TIMEOUT_MS, async (client) => {
    // Only the two columns leave Postgres: `to_jsonb(u)->>'created_at'` is null (not an error) on a
    // table without that column, and the rest of the row (e-mail, hashes …) is never sent.
    const res = await client.query<{ username?: unknown; created_at?: unknown }>(
      "SELECT username, to_jsonb(u)->>'created_at' AS created_at FROM users u WHERE id = $1",
      [userId],
    );
    const row = res.rows[0];
    // Shown to every viewer: the message text rules apply (cleanLine); an unusable name counts as none.
    const name = typeof row?.username === "string" ? cleanLine(row.username, MAX_USERNAME_CODE_POINTS) : null;
    const created = typeof row?.created_at === "string" ? Date.parse(row.created_at) : NaN;
    return { name, createdAt: Number.isFinite(created) ? created : null };
  });
}

/** The username of `userId` in Postgres, or null. Rejects on a database failure. */
export async function lookupUsername(cfg: Config, userId: string): Promise<string | null> {
  return (await lookupUser(cfg, userId)).name;
}

/** The name of `identity`: Postgres, else the token's claim (see the module's header). */
export async function resolveUsername(
  cfg: Config,
  identity: Identity,
  ctx?: Pick<ExecutionContext, "waitUntil">,
): Promise<string | null> {
  return (await resolveUser(cfg, identity, ctx)).username;
}

/**
 * The name and account creation (ms) of `identity`: Postgres's row where it has them, else the
 * token's `username` / `account_created_at` claims, else null. Never rejects (a database failure
 * falls back to the claims and is logged, never cached).
 */
export async function resolveUser(
  cfg: Config,
  identity: Identity,
  ctx?: Pick<ExecutionContext, "waitUntil">,
): Promise<{ username: string | null; createdAt: number | null }> {
  const claims = { username: identity.claimUsername, createdAt: identity.accountCreatedAt ?? null };
  const merged = (row: UserRow) => ({ username: row.name ?? claims.username, createdAt: row.createdAt ?? claims.createdAt });
  if (!cfg.DATABASE_URL) return claims;
  const now = Date.now();
  const hit = memo.get(identity.userId);
  if (hit && hit.until > now) return merged({ name: hit.name, createdAt: hit.createdAt });

  const cacheKey = new Request(CACHE_PREFIX + identity.userId);
  const cache = typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined;
  try {
    const cached = await cache?.match(cacheKey);
    if (cached) {
      const { name, createdAt } = (await cached.json()) as { name: string | null; createdAt?: number | null };
      remember(identity.userId, name, createdAt ?? null, now);
      return merged({ name, createdAt: createdAt ?? null });
    }
  } catch {
    // a cache miss is fine
  }

  let row: UserRow;
  try {
    row = await lookupUser(cfg, identity.userId);
  } catch (err) {
    console.error(`usernames: Postgres lookup failed for ${identity.userId}, using the token's claim: ${describeError(err)}`);
    return claims;
  }
  const { name, createdAt } = row;
  remember(identity.userId, name, createdAt, now);
  if (cache) {
    const put = cache
      .put(
        cacheKey,
        new Response(JSON.stringify({ name, createdAt }), {
          headers: { "content-type": "application/json", "cache-control": `max-age=${USERNAME_TTL_MS / 1000}` },
        }),
      )
      .catch(() => undefined);
    if (ctx) ctx.waitUntil(put);
  }
  return merged(row);
}

function remember(userId: string, name: string | null, createdAt: number | null, now: number) {
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(userId, { name, createdAt, until: now + USERNAME_TTL_MS });
}
