import { SignJWT, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, connect, fetchWorker, newStreamId, newUserId, token, upgrade } from "./helpers";

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = (await res.json()) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(JSON.stringify(body)).not.toMatch(/at \w+ \(|stack/i);
}

function unsignedToken(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
}

describe("WebSocket route: checks before any upgrade, in order", () => {
  it("rejects a stream_id that is not a UUID with 400, even before checking the upgrade", async () => {
    await expectError(await fetchWorker("/ws/streams/not-a-uuid/chat"), 400, "invalid_stream_id");
    await expectError(await upgrade("123", { token: await token() }), 400, "invalid_stream_id");
  });

  it("answers a plain GET with 426 before looking at credentials", async () => {
    await expectError(await fetchWorker(`/ws/streams/${newStreamId()}/chat`), 426, "upgrade_required");
  });

  it("401 when credentials are missing or malformed", async () => {
    const sid = newStreamId();
    await expectError(await upgrade(sid), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: "not.a.jwt" }), 401, "unauthorized");
    await expectError(await upgrade(sid, { headers: { authorization: "Basic abc" } }), 401, "unauthorized");
  });

  it("401 for a bad signature, alg none, expired, not-yet-valid", async () => {
    const sid = newStreamId();
    await expectError(await upgrade(sid, { token: await token({ secret: "another-secret-0123456789" }) }), 401, "unauthorized");
    const none = unsignedToken({ sub: newUserId(), iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 });
    await expectError(await upgrade(sid, { token: none }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ exp: -60 }) }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ nbf: 600 }) }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ exp: null }) }), 401, "unauthorized");
  });

  it("401 for a wrong issuer or audience, and for a sub that is not a UUID", async () => {
    const sid = newStreamId();
    await expectError(await upgrade(sid, { token: await token({ issuer: "https://evil.test/" }) }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ audience: "other" }) }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ issuer: null }) }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await token({ sub: "user-42" }) }), 401, "unauthorized");
  });

  it("accepts RS256 and ES256 tokens verified against the remote JWKS", async () => {
    for (const alg of ["RS256", "ES256"] as const) {
      const sub = newUserId();
      const c = await connect(newStreamId(), { token: await token({ alg, sub, username: `jwks-${alg}` }) });
      const welcome = c.of("welcome")[0]!;
      expect(welcome.user).toEqual({ id: sub, username: `jwks-${alg}` });
      await c.close();
    }
  });

  it("rejects a token signed by a key that is not in the JWKS, and a tampered signature", async () => {
    const sid = newStreamId();
    const stranger = await generateKeyPair("ES256");
    const signedByStranger = (kid: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid })
        .setSubject(newUserId())
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime("5m")
        .sign(stranger.privateKey);
    // A known kid with the wrong key, and a kid the JWKS does not have.
    await expectError(await upgrade(sid, { token: await signedByStranger("es-1") }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: await signedByStranger("nobody") }), 401, "unauthorized");
    const [h, p] = (await token({ alg: "ES256" })).split(".");
    await expectError(await upgrade(sid, { token: `${h}.${p}.AAAA` }), 401, "unauthorized");
  });

  it("403 for a disallowed Origin — after credentials; no Origin and allowed Origins pass", async () => {
    const sid = newStreamId();
    const t = await token();
    await expectError(await upgrade(sid, { headers: { origin: "https://evil.example" } }), 401, "unauthorized");
    await expectError(await upgrade(sid, { token: t, headers: { origin: "https://evil.example" } }), 403, "forbidden_origin");
    const ok = await connect(sid, { token: t, headers: { origin: "https://allowed.example" } });
    await ok.close();
    const app = await connect(sid, { token: t });
    await app.close();
  });
});

describe("tickets", () => {
  async function ticket(sid: string, t: string) {
    const res = await fetchWorker(`/v1/streams/${sid}/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ticket: string; expires_in: number };
    expect(body.expires_in).toBe(30);
    expect(body.ticket.length).toBeGreaterThanOrEqual(20);
    return body.ticket;
  }

  it("needs a valid bearer token and a UUID stream", async () => {
    await expectError(await fetchWorker(`/v1/streams/${newStreamId()}/chat/tickets`, { method: "POST" }), 401, "unauthorized");
    await expectError(
      await fetchWorker(`/v1/streams/nope/chat/tickets`, { method: "POST", headers: { authorization: `Bearer ${await token()}` } }),
      400,
      "invalid_stream_id",
    );
  });

  it("is one-time and carries the user it was issued to", async () => {
    const sid = newStreamId();
    const sub = newUserId();
    const tk = await ticket(sid, await token({ sub, username: "tina" }));
    const res = await upgrade(sid, { query: `?ticket=${tk}` });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const first = await new Promise<string>((r) => ws.addEventListener("message", (e) => r(e.data as string), { once: true }));
    expect(JSON.parse(first)).toMatchObject({ type: "welcome", user: { id: sub, username: "tina" } });
    ws.close(1000);
    await expectError(await upgrade(sid, { query: `?ticket=${tk}` }), 401, "unauthorized");
  });

  it("is bound to its stream", async () => {
    const tk = await ticket(newStreamId(), await token());
    await expectError(await upgrade(newStreamId(), { query: `?ticket=${tk}` }), 401, "unauthorized");
  });

  it("with a disallowed Origin gets 403 and is not consumed by that attempt", async () => {
    const sid = newStreamId();
    const tk = await ticket(sid, await token());
    await expectError(await upgrade(sid, { query: `?ticket=${tk}`, headers: { origin: "https://evil.example" } }), 403, "forbidden_origin");
    const res = await upgrade(sid, { query: `?ticket=${tk}`, headers: { origin: "https://allowed.example" } });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close(1000);
  });

  it("rejects an unknown ticket", async () => {
    await expectError(await upgrade(newStreamId(), { query: "?ticket=made-up-ticket-value" }), 401, "unauthorized");
  });
});

describe("other routes", () => {
  it("healthz", async () => {
    const res = await fetchWorker("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("unknown API routes are JSON 404s", async () => {
    await expectError(await fetchWorker("/v1/nothing-here"), 404, "not_found");
  });

  it("dev tokens: a stable user per name, validated input, usable on the socket", async () => {
    const mint = (body: string) => fetchWorker("/dev/token", { method: "POST", body, headers: { "content-type": "application/json" } });
    const a1 = (await (await mint(JSON.stringify({ username: "Ada" }))).json()) as { token: string; user_id: string; username: string };
    const a2 = (await (await mint(JSON.stringify({ username: "Ada" }))).json()) as { user_id: string };
    expect(a1.user_id).toBe(a2.user_id);
    expect(a1.username).toBe("Ada");
    await expectError(await mint("{"), 400, "invalid_json");
    await expectError(await mint(JSON.stringify({ username: "" })), 400, "invalid_username");
    await expectError(await mint(JSON.stringify({ username: "<script>" })), 400, "invalid_username");
    const c = await connect(newStreamId(), { token: a1.token });
    expect(c.of("welcome")[0]!.user).toEqual({ id: a1.user_id, username: "Ada" });
    await c.close();
  });

  it("history API needs auth and validates its parameters", async () => {
    const sid = newStreamId();
    const auth = { authorization: `Bearer ${await token()}` };
    await expectError(await fetchWorker(`/v1/streams/${sid}/chat/history`), 401, "unauthorized");
    await expectError(await fetchWorker(`/v1/streams/${sid}/chat/history?limit=0`, { headers: auth }), 400, "invalid_limit");
    await expectError(await fetchWorker(`/v1/streams/${sid}/chat/history?limit=abc`, { headers: auth }), 400, "invalid_limit");
    await expectError(await fetchWorker(`/v1/streams/${sid}/chat/history?before=-1`, { headers: auth }), 400, "invalid_before");
    // No Redis in this suite: the room answers (test/worker/history.test.ts; the Node e2e suite reads real Redis).
    const ok = await fetchWorker(`/v1/streams/${sid}/chat/history`, { headers: auth });
    expect([ok.status, ok.headers.get("x-history-source"), await ok.json()]).toEqual([200, "room", { comments: [] }]);
  });
});
