/**
 * Authentication: verify a bearer JWT (HS256 shared secret and/or RS256/ES256 from a remote
 * JWKS), and mint development tokens for the demo page when DEV_TOKENS=true.
 */
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { Config } from "./env";
import { isUuid } from "./protocol";

export interface Identity {
  userId: string;
  /** From the JWT's `username`/`preferred_username` claim; Postgres may override it later. */
  claimUsername: string | null;
}

export class AuthError extends Error {
  override name = "AuthError";
}

const ASYMMETRIC_ALGS = ["RS256", "ES256"];
const CLOCK_TOLERANCE_S = 5;
const MAX_USERNAME_LEN = 64;

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
  return { userId: sub.toLowerCase(), claimUsername: claimUsername(payload) };
}

function claimUsername(p: JWTPayload): string | null {
  for (const key of ["username", "preferred_username"]) {
    const v = p[key];
    if (typeof v === "string") {
      const t = v.trim();
      if (t.length > 0 && t.length <= MAX_USERNAME_LEN) return t;
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

export async function mintDevToken(cfg: Config, username: string): Promise<{ token: string; userId: string }> {
  if (!cfg.JWT_SECRET) throw new Error("DEV_TOKENS needs JWT_SECRET");
  const userId = await devUserId(username);
  let jwt = new SignJWT({ username })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(`${DEV_TOKEN_TTL_S}s`);
  if (cfg.JWT_ISSUER) jwt = jwt.setIssuer(cfg.JWT_ISSUER);
  if (cfg.JWT_AUDIENCE) jwt = jwt.setAudience(cfg.JWT_AUDIENCE);
  return { token: await jwt.sign(encoder.encode(cfg.JWT_SECRET)), userId };
}
