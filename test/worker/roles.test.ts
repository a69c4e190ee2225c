/**
 * Roles from signed JWT claims, inside workerd (DESIGN.md "Room events": `role: "admin"` acts as
 * owner, `stream_roles: {"<stream_id>": "owner"|"moderator"}`; dev tokens with `owner_of`).
 * This suite's worker has no DATABASE_URL, so the claims alone decide and `ownerId` is null; the
 * Postgres side (streams, stream_moderators, cache, outage) is test/e2e/roles.test.ts.
 */
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_STREAM_ROLES, mintDevToken, verifyJwt, type Identity } from "../../src/auth";
import { loadConfig } from "../../src/env";
import { resolveRole, roleCacheKey, roleFromClaims } from "../../src/roles";
import { AUDIENCE, ISSUER, newStreamId, newUserId, token } from "./helpers";

const cfg = () => loadConfig(env);

/** Signs `claims` exactly as given (a raw JSON object keeps keys such as `__proto__` as own keys). */
async function tokenWith(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(newUserId())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(env.JWT_SECRET!));
}

async function identityWith(claims: Record<string, unknown>): Promise<Identity> {
  return verifyJwt(await token({ claims }), cfg());
}

async function roleOf(identity: Identity, streamId: string) {
  return resolveRole(cfg(), identity, streamId);
}

describe("admin claim", () => {
  it('role: "admin" acts as owner in every stream', async () => {
    const admin = await identityWith({ role: "admin" });
    expect(admin.admin).toBe(true);
    for (const sid of [newStreamId(), newStreamId()]) {
      expect(await roleOf(admin, sid)).toEqual({ role: "owner", ownerId: null });
    }
  });

  it("only the exact string counts", async () => {
    for (const role of ["Admin", "ADMIN", " admin", ["admin"], true, { admin: true }, "owner", "moderator"]) {
      const id = await identityWith({ role });
      expect(id.admin, JSON.stringify(role)).toBe(false);
      expect((await roleOf(id, newStreamId())).role, JSON.stringify(role)).toBe("viewer");
    }
  });

  it("a token without role claims is a viewer", async () => {
    const id = await identityWith({});
    expect(id).toMatchObject({ admin: false, streamRoles: {} });
    expect(await roleOf(id, newStreamId())).toEqual({ role: "viewer", ownerId: null });
  });
});

describe("stream_roles claim", () => {
  it("grants the role in the streams it names and nowhere else", async () => {
    const [owned, moderated, other] = [newStreamId(), newStreamId(), newStreamId()];
    const id = await identityWith({ stream_roles: { [owned]: "owner", [moderated]: "moderator" } });
    expect(id.streamRoles).toEqual({ [owned]: "owner", [moderated]: "moderator" });
    expect((await roleOf(id, owned)).role).toBe("owner");
    expect((await roleOf(id, moderated)).role).toBe("moderator");
    expect((await roleOf(id, other)).role).toBe("viewer");
  });

  it("stream ids match whatever their case, in the claim and in the request", async () => {
    const sid = newStreamId();
    const id = await identityWith({ stream_roles: { [sid.toUpperCase()]: "moderator" } });
    expect(Object.keys(id.streamRoles)).toEqual([sid]);
    expect((await roleOf(id, sid)).role).toBe("moderator");
    expect((await roleOf(id, sid.toUpperCase())).role).toBe("moderator");
  });

  it("a stream named twice (case aside) keeps the stronger role, whatever the order", async () => {
    const sid = newStreamId();
    for (const order of [["moderator", "owner"], ["owner", "moderator"]] as const) {
      const id = await identityWith({ stream_roles: { [sid]: order[0], [sid.toUpperCase()]: order[1] } });
      expect(id.streamRoles).toEqual({ [sid]: "owner" });
    }
  });

  it("ignores a claim that is not an object, and every invalid entry of one that is", async () => {
    const sid = newStreamId();
    for (const claim of [[sid], `{"${sid}":"owner"}`, 1, true, null]) {
      const id = await identityWith({ stream_roles: claim });
      expect(id.streamRoles, JSON.stringify(claim)).toEqual({});
      expect((await roleOf(id, sid)).role, JSON.stringify(claim)).toBe("viewer");
    }
    const good = newStreamId();
    const id = await identityWith({
      stream_roles: {
        [good]: "moderator",
        [newStreamId()]: "admin",
        [newStreamId()]: "OWNER",
        [newStreamId()]: "viewer",
        [newStreamId()]: 1,
        [newStreamId()]: null,
        [newStreamId()]: { role: "owner" },
        [newStreamId()]: ["owner"],
        "not-a-uuid": "owner",
        [`${newStreamId()} `]: "owner",
        "": "owner",
      },
    });
    expect(id.streamRoles).toEqual({ [good]: "moderator" });
  });

  it("keys such as __proto__ and constructor grant nothing and leave prototypes alone", async () => {
    const sid = newStreamId();
    const claims = JSON.parse(`{"stream_roles":{"__proto__":{"${sid}":"owner"},"constructor":"owner","toString":"owner"}}`) as Record<
      string,
      unknown
    >;
    const id = await verifyJwt(await tokenWith(claims), cfg());
    expect(Object.keys(id.streamRoles)).toEqual([]);
    expect((await roleOf(id, sid)).role).toBe("viewer");
    // Even a caller that skips resolveRole's UUID check finds no inherited "role".
    expect(roleFromClaims(id, "constructor")).toBe("viewer");
    expect(roleFromClaims(id, "__proto__")).toBe("viewer");
    expect(({} as Record<string, unknown>)[sid]).toBeUndefined();
  });

  it(`keeps at most ${MAX_STREAM_ROLES} entries: the first valid ones in the claim's order`, async () => {
    const ids = Array.from({ length: MAX_STREAM_ROLES + 1 }, () => newStreamId());
    // Invalid entries in front do not use up the cap.
    const claim: Record<string, string> = { "not-a-uuid": "owner", [newStreamId()]: "admin" };
    for (const sid of ids) claim[sid] = "moderator";
    const id = await identityWith({ stream_roles: claim });
    expect(Object.keys(id.streamRoles)).toHaveLength(MAX_STREAM_ROLES);
    expect((await roleOf(id, ids[0]!)).role).toBe("moderator");
    expect((await roleOf(id, ids[MAX_STREAM_ROLES - 1]!)).role).toBe("moderator");
    expect((await roleOf(id, ids[MAX_STREAM_ROLES]!)).role).toBe("viewer");
  });

  it("is only believed when the token verifies", async () => {
    const sid = newStreamId();
    const forged = await token({ secret: "another-secret-0123456789", claims: { role: "admin", stream_roles: { [sid]: "owner" } } });
    await expect(verifyJwt(forged, cfg())).rejects.toThrow(/invalid token/);
  });

  it("admin wins over a weaker stream grant", async () => {
    const sid = newStreamId();
    const id = await identityWith({ role: "admin", stream_roles: { [sid]: "moderator" } });
    expect((await roleOf(id, sid)).role).toBe("owner");
  });
});

describe("resolveRole input", () => {
  it("throws a TypeError for a stream id that is not a UUID", async () => {
    const id = await identityWith({ role: "admin" });
    for (const bad of ["", "not-a-uuid", `${newStreamId()}x`, "constructor"]) {
      await expect(roleOf(id, bad), bad).rejects.toThrow(TypeError);
    }
  });
});

describe("dev tokens with owner_of", () => {
  it("make the user owner of that stream only", async () => {
    const sid = newStreamId();
    const { token: jwt, userId } = await mintDevToken(cfg(), "streamer", sid);
    const id = await verifyJwt(jwt, cfg());
    expect(id).toMatchObject({ userId, claimUsername: "streamer", admin: false, streamRoles: { [sid]: "owner" } });
    expect(await roleOf(id, sid)).toEqual({ role: "owner", ownerId: null });
    expect((await roleOf(id, newStreamId())).role).toBe("viewer");
  });

  it("without owner_of grant nothing", async () => {
    const { token: jwt } = await mintDevToken(cfg(), "viewer");
    const id = await verifyJwt(jwt, cfg());
    expect(id.streamRoles).toEqual({});
    expect((await roleOf(id, newStreamId())).role).toBe("viewer");
  });

  it("store the stream id lower-cased", async () => {
    const sid = newStreamId();
    const id = await verifyJwt((await mintDevToken(cfg(), "streamer", sid.toUpperCase())).token, cfg());
    expect(id.streamRoles).toEqual({ [sid]: "owner" });
  });

  it("refuse an owner_of that is not a stream id", async () => {
    for (const bad of ["", "stream-1", `${newStreamId()}\n`]) {
      await expect(mintDevToken(cfg(), "streamer", bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
    }
  });
});

describe("cache entries (Cache API) with DATABASE_URL set and Postgres unreachable", () => {
  // A config of its own (loadConfig caches per env object): a database that cannot be reached,
  // so any answer other than the claims' can only come from the cache.
  const dbCfg = () => loadConfig({ ...env, DATABASE_URL: "postgres://app:pw@db.internal:5432/chat", NEON_WS_PROXY: "127.0.0.1:1/pg/v1" });
  const put = (sid: string, uid: string, entry: unknown) =>
    (caches as unknown as { default: Cache }).default.put(
      roleCacheKey(sid, uid),
      new Response(JSON.stringify(entry), { headers: { "content-type": "application/json", "cache-control": "max-age=3600" } }),
    );

  afterEach(() => vi.restoreAllMocks());

  function captureErrors(): string[] {
    const logged: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    return logged;
  }

  it("an entry within its own expiry answers without Postgres", async () => {
    const logged = captureErrors();
    const [sid, owner] = [newStreamId(), newUserId()];
    const id = await identityWith({});
    await put(sid, id.userId, { ownerId: owner, moderator: true, until: Date.now() + 60_000 });
    expect(await resolveRole(dbCfg(), id, sid)).toEqual({ role: "moderator", ownerId: owner });
    expect(logged).toEqual([]);
  });

  it("an entry past its own expiry is not used, even while the Cache API still returns it", async () => {
    const logged = captureErrors();
    const sid = newStreamId();
    const id = await identityWith({ stream_roles: { [sid]: "moderator" } });
    await put(sid, id.userId, { ownerId: id.userId, moderator: false, until: Date.now() - 1 });
    expect(await resolveRole(dbCfg(), id, sid)).toEqual({ role: "moderator", ownerId: null });
    const prefix = `roles: Postgres lookup failed for stream ${sid} user ${id.userId}`;
    expect(logged.some((l) => l.startsWith(prefix)), JSON.stringify(logged)).toBe(true);
  });

  it("a malformed entry is a miss", async () => {
    const later = Date.now() + 60_000;
    const malformed = [
      { ownerId: "x", moderator: true, until: later },
      { ownerId: null, moderator: "yes", until: later },
      { ownerId: null, moderator: true },
      "owner",
    ];
    for (const entry of malformed) {
      const logged = captureErrors();
      const sid = newStreamId();
      const id = await identityWith({});
      await put(sid, id.userId, entry);
      expect(await resolveRole(dbCfg(), id, sid), JSON.stringify(entry)).toEqual({ role: "viewer", ownerId: null });
      expect(logged.some((l) => l.startsWith("roles: Postgres lookup failed")), JSON.stringify(entry)).toBe(true);
      vi.restoreAllMocks();
    }
  });
});
