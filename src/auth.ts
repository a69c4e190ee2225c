/**
 * Authentication: verify a bearer JWT (HS256 shared secret and/or RS256/ES256 from a remote
 * JWKS), read its identity and role claims, and mint development tokens for the demo page when
 * DEV_TOKENS=true. Roles in a stream are resolved from these claims plus Postgres by src/roles.ts.
 */
import { cleanLine } from "./rules/text";
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { Config } from "./env";
import { isUuid } from "./protocol";

/** A role a token can grant in one stream (`stream_roles` claim); `viewer` needs no grant. */
export type StreamGrant = "owner" | "moderator";

/**
 * At most this many `stream_roles` entries are read from one token; the rest are ignored. A token
 * travels in a header (Cloudflare allows 32 KiB of request headers, ~45 bytes per entry), so a
 * real one never gets near it; the cap bounds the work a single verified token can cause.
 */
export const MAX_STREAM_ROLES = 1_000;

/** Who a verified JWT says the caller is (DESIGN.md "Auth", "Room events"). */
export interface Identity {
  /** The `sub` claim, a UUID, lower-cased. */
  userId: string;
  /** From the JWT's `username`/`preferred_username` claim; Postgres may override it later. */
  claimUsername: string | null;
  /** The claim `role: "admin"` (exactly that string): platform staff, who act as owner in every stream. */
  admin: boolean;
  /**
   * The claim `stream_roles: {"<stream_id>": "owner" | "moderator"}`, keys lower-cased. Entries
   * whose key is not a UUID or whose value is not one of the two roles are dropped, as is the
   * whole claim when it is not a JSON object; at most MAX_STREAM_ROLES entries are kept (the first
   * valid ones in the claim's order). A stream named twice (case aside) keeps the stronger role.
   * A null-prototype object: look up with `Object.hasOwn` or after checking the key is a UUID.
   */
  streamRoles: Record<string, StreamGrant>;
  /**
   * The claim `stream_members: ["<stream_id>", …]`: the streams whose members/subscribers the user is
   * (members-only mode; README "Chat modes"). Lower-cased UUIDs; anything else is dropped; at most
   * MAX_STREAM_ROLES entries. Absent on identities made before it existed.
   */
  streamMembers?: ReadonlySet<string>;
  /**
   * The claim `account_created_at`: when the account was created, a NumericDate (seconds, like `iat`),
   * turned into ms; null when absent or not a finite number ≥ 0. Postgres `users.created_at` wins over it.
   */
  accountCreatedAt?: number | null;
}

export class AuthError extends Error {
  override name = "AuthError";
}

const ASYMMETRIC_ALGS = ["RS256", "ES256"];
const CLOCK_TOLERANCE_S = 5;
/** Longest username shown, in code points (claims and Postgres alike). */
export const MAX_USERNAME_CODE_POINTS = 64;

// One remote key set per URL per isolate: jose caches the keys and refetches on an unknown
// `kid` (rate-limited by its cooldown), so key rotation works without a deploy.
const jwksByUrl = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
function remoteJwks(url: string) {
  let set = jwksByUrl.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 });
    jwksByUrl.set(url, set);
  }
  return set;
}

const encoder = new TextEncoder();

export function bearerToken(header: string | undefined | null): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

export async function verifyJwt(token: string, cfg: Config): Promise<Identity> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new AuthError("malformed token");
  }
  const options = {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ["sub", "exp"],
  };
  let payload: JWTPayload;
  try {
    if (alg === "HS256" && cfg.JWT_SECRET) {
      ({ payload } = await jwtVerify(token, encoder.encode(cfg.JWT_SECRET), { ...options, algorithms: ["HS256"] }));
    } else if (alg && ASYMMETRIC_ALGS.includes(alg) && cfg.JWT_JWKS_URL) {
      ({ payload } = await jwtVerify(token, remoteJwks(cfg.JWT_JWKS_URL), { ...options, algorithms: ASYMMETRIC_ALGS }));
    } else {
      // Covers `alg: none` and any algorithm we were not configured for.
      throw new AuthError(`unsupported token algorithm ${JSON.stringify(alg ?? null)}`);
    }
  } catch (err) {
    if (err instanceof AuthError) throw err;
    if (err instanceof errors.JWTExpired) throw new AuthError("token expired");
    if (err instanceof errors.JWTClaimValidationFailed) throw new AuthError(`token claim check failed: ${err.claim}`);
    if (err instanceof errors.JWKSNoMatchingKey) throw new AuthError("no matching signing key");
    if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
      // The identity provider is unreachable or broken: still a 401 for the client, but log it.
      console.error(`auth: JWKS fetch failed: ${(err as Error).message}`);
      throw new AuthError("signing keys unavailable");
    }
    if (err instanceof errors.JOSEError) throw new AuthError("invalid token");
    throw err;
  }
  const sub = payload.sub;
  if (!sub || !isUuid(sub)) throw new AuthError("token `sub` must be a UUID");
  return {
    userId: sub.toLowerCase(),
    claimUsername: claimUsername(payload),
    admin: payload.role === "admin",
    streamRoles: claimStreamRoles(payload.stream_roles),
    streamMembers: claimStreamMembers(payload.stream_members),
    accountCreatedAt: typeof payload.account_created_at === "number" && Number.isFinite(payload.account_created_at) && payload.account_created_at >= 0 ? Math.round(payload.account_created_at * 1000) : null,
  };
}

/** The valid entries of a `stream_members` claim (see Identity.streamMembers); anything else → an empty set. */
function claimStreamMembers(claim: unknown): ReadonlySet<string> {
  const out = new Set<string>();
  if (!Array.isArray(claim)) return out;
  for (const v of claim) {
    if (out.size >= MAX_STREAM_ROLES) break;
    if (typeof v === "string" && isUuid(v)) out.add(v.toLowerCase());
  }
  return out;
}

/** The valid entries of a `stream_roles` claim (see Identity.streamRoles); anything else → {}. */
function claimStreamRoles(claim: unknown): Record<string, StreamGrant> {
  const out = Object.create(null) as Record<string, StreamGrant>;
  if (typeof claim !== "object" || claim === null || Array.isArray(claim)) return out;
  let kept = 0;
  for (const [key, value] of Object.entries(claim)) {
    if (kept >= MAX_STREAM_ROLES) break;
    if (!isUuid(key) || (value !== "owner" && value !== "moderator")) continue;
    const id = key.toLowerCase();
    if (Object.hasOwn(out, id)) {
      if (value === "owner") out[id] = "owner";
      continue;
    }
    out[id] = value;
    kept += 1;
  }
  return out;
}

/**
 * The first usable name claim. Shown to every viewer, so the message text rules apply (cleanLine:
 * no control characters, lone surrogates or line breaks; bidi overrides removed; at most
 * MAX_USERNAME_CODE_POINTS): `"admin\u202E\u0007"` is no name at all.
 */
function claimUsername(p: JWTPayload): string | null {
  for (const key of ["username", "preferred_username"]) {
    const v = p[key];
    if (typeof v === "string") {
      const name = cleanLine(v, MAX_USERNAME_CODE_POINTS);
      if (name !== null) return name;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Development tokens (DEV_TOKENS=true only)
// ---------------------------------------------------------------------------------------------

export const DEV_TOKEN_TTL_S = 3600;
export const DEV_USERNAME_RE = /^[\p{L}\p{N}_.\- ]{1,32}$/u;

/** A stable user id for a dev username, so two tabs with the same name are the same user. */
export async function devUserId(username: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`dev-user:${username.toLowerCase()}`)));
  digest[6] = (digest[6]! & 0x0f) | 0x50; // version nibble: name-based (SHA), v5-style
  digest[8] = (digest[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = [...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A one-hour HS256 token for a dev username (sub = devUserId(username), claim `username`). With
 * `ownerOf` (a stream id) it also carries `stream_roles: {[ownerOf]: "owner"}`, so the demo can
 * make a streamer (DESIGN.md "Dev tokens"). `extra.memberOf` (a stream id) adds `stream_members`,
 * `extra.accountCreatedAtS` (NumericDate seconds) adds `account_created_at`. Throws when JWT_SECRET
 * is not set, and a RangeError when `ownerOf`/`memberOf` is not a UUID (the route answers 400 first).
 */
export async function mintDevToken(
  cfg: Config,
  username: string,
  ownerOf?: string,
  extra: { memberOf?: string; accountCreatedAtS?: number } = {},
): Promise<{ token: string; userId: string }> {
  if (!cfg.JWT_SECRET) throw new Error("DEV_TOKENS needs JWT_SECRET");
  if (ownerOf !== undefined && !isUuid(ownerOf)) throw new RangeError("owner_of must be a stream id (UUID)");
  if (extra.memberOf !== undefined && !isUuid(extra.memberOf)) throw new RangeError("member_of must be a stream id (UUID)");
  const userId = await devUserId(username);
  const claims: Record<string, unknown> = ownerOf === undefined ? { username } : { username, stream_roles: { [ownerOf.toLowerCase()]: "owner" } };
  // Issue 18's chat modes: a member of a stream, and an account's age (README "Chat modes").
  if (extra.memberOf !== undefined) claims.stream_members = [extra.memberOf.toLowerCase()];
  if (extra.accountCreatedAtS !== undefined) claims.account_created_at = extra.accountCreatedAtS;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(`${DEV_TOKEN_TTL_S}s`);
  if (cfg.JWT_ISSUER) jwt = jwt.setIssuer(cfg.JWT_ISSUER);
  if (cfg.JWT_AUDIENCE) jwt = jwt.setAudience(cfg.JWT_AUDIENCE);
  return { token: await jwt.sign(encoder.encode(cfg.JWT_SECRET)), userId };
}
