/**
 * Test-only worker (see wrangler.toml here): `GET /role?stream=<uuid>[&db=down|silent]` with a
 * Bearer JWT → `resolveRole(...)` as JSON, exactly the calls the chat worker makes (verifyJwt,
 * then resolveRole with the request's ExecutionContext). `db=down` / `db=silent` swap DATABASE_URL
 * for DOWN_DATABASE_URL / SILENT_DATABASE_URL, so one process also shows the database failing.
 */
import { AuthError, bearerToken, verifyJwt } from "../../../src/auth";
import { loadConfig, type Config, type Env } from "../../../src/env";
import { resolveRole } from "../../../src/roles";

interface ProbeEnv extends Env {
  DOWN_DATABASE_URL: string;
  SILENT_DATABASE_URL: string;
}

const variants = new Map<string, Config>();
function configFor(env: ProbeEnv, db: string | null): Config {
  const url = db === "down" ? env.DOWN_DATABASE_URL : db === "silent" ? env.SILENT_DATABASE_URL : env.DATABASE_URL;
  const key = `${db}`;
  let cfg = variants.get(key);
  if (!cfg) {
    cfg = loadConfig({ ...env, DATABASE_URL: url });
    variants.set(key, cfg);
  }
  return cfg;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    if (url.pathname !== "/role") return new Response("not found", { status: 404 });
    const cfg = configFor(env, url.searchParams.get("db"));
    const token = bearerToken(request.headers.get("authorization"));
    if (!token) return Response.json({ error: "unauthorized" }, { status: 401 });
    try {
      const identity = await verifyJwt(token, cfg);
      return Response.json(await resolveRole(cfg, identity, url.searchParams.get("stream") ?? "", ctx));
    } catch (err) {
      if (err instanceof AuthError) return Response.json({ error: "unauthorized", message: err.message }, { status: 401 });
      if (err instanceof TypeError && err.message.startsWith("resolveRole:")) {
        return Response.json({ error: "bad_request", message: err.message }, { status: 400 });
      }
      throw err;
    }
  },
} satisfies ExportedHandler<ProbeEnv>;
