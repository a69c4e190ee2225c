/**
 * Usernames: from Postgres (`SELECT username FROM users WHERE id = $1`, Neon serverless driver over
 * WebSockets) when DATABASE_URL is set, cached for 5 minutes; otherwise — or when the row is
 * missing or the database is unreachable — the JWT's username claim; otherwise null.
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
const memo = new Map<string, { name: string | null; until: number }>();
const CACHE_PREFIX = "https://usernames.chat.internal/v1/";

/** No answer within this long (connect + query) → the claim decides, like any database failure. */
export const USERNAME_LOOKUP_TIMEOUT_MS = 5_000;

/** The username of `userId` in Postgres (cleaned by cleanLine), or null. Rejects on a database failure. */
export async function lookupUsername(cfg: Config, userId: string): Promise<string | null> {
  return withNeonClient(cfg, "usernames", USERNAME_LOOKUP_TIMEOUT_MS, async (client) => {
    const res = await client.query<{ username: string }>("SELECT username FROM users WHERE id = $1", [userId]);
    // Shown to every viewer: the message text rules apply (cleanLine); an unusable name counts as none.
    const raw = res.rows[0]?.username;
    return typeof raw === "string" ? cleanLine(raw, MAX_USERNAME_CODE_POINTS) : null;
  });
}

export async function resolveUsername(
  cfg: Config,
  identity: Identity,
  ctx?: Pick<ExecutionContext, "waitUntil">,
): Promise<string | null> {
  if (!cfg.DATABASE_URL) return identity.claimUsername;
  const now = Date.now();
  const hit = memo.get(identity.userId);
  if (hit && hit.until > now) return hit.name ?? identity.claimUsername;

  const cacheKey = new Request(CACHE_PREFIX + identity.userId);
  const cache = typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined;
  try {
    const cached = await cache?.match(cacheKey);
    if (cached) {
      const { name } = (await cached.json()) as { name: string | null };
      remember(identity.userId, name, now);
      return name ?? identity.claimUsername;
    }
  } catch {
    // a cache miss is fine
  }

  let name: string | null;
  try {
    name = await lookupUsername(cfg, identity.userId);
  } catch (err) {
    console.error(`usernames: Postgres lookup failed for ${identity.userId}, using the token's claim: ${describeError(err)}`);
    return identity.claimUsername;
  }
  remember(identity.userId, name, now);
  if (cache) {
    const put = cache
      .put(
        cacheKey,
        new Response(JSON.stringify({ name }), {
          headers: { "content-type": "application/json", "cache-control": `max-age=${USERNAME_TTL_MS / 1000}` },
        }),
      )
      .catch(() => undefined);
    if (ctx) ctx.waitUntil(put);
  }
  return name ?? identity.claimUsername;
}

function remember(userId: string, name: string | null, now: number) {
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(userId, { name, until: now + USERNAME_TTL_MS });
}
