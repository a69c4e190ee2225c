/**
 * `npm run dlq -- list|show|replay|discard`: the operator's view of the parked dead letters
 * (issue 19 §7; README "Dead letters"). A client of the worker's admin routes
 * (/v1/admin/dead-letters…), so it works the same against `npm run dev` / `wrangler dev` and a
 * deployment. Node ≥ 20 (run through tsx).
 *
 *   npm run dlq -- list [--state parked|dying|replayed|malformed|all] [--sink kafka|redis-history]
 *                       [--stream <uuid>] [--limit 1..100] [--after <id>] [--all]
 *   npm run dlq -- show <id>
 *   npm run dlq -- replay [--ids 1,2,…] [--sink …] [--stream <uuid>] [--limit 1..500] [--max <n>]
 *   npm run dlq -- discard <id> [<id> …]
 *   options: --url <worker> (DLQ_URL; default http://127.0.0.1:8787), --json (raw answers)
 *
 * Credentials, first found: DLQ_TOKEN (a JWT whose claim `role` is "admin"); JWT_SECRET (+ JWT_ISSUER,
 * JWT_AUDIENCE when the worker enforces them), with which the CLI signs a 5-minute admin token
 * (HS256) itself; against a local URL (localhost, 127.0.0.1, [::1]) with neither, the secret
 * `npm run dev` passes to wrangler (local-dev-secret-not-for-production).
 *
 * Exit status: 0 done; 1 the worker answered an error or could not be reached; 2 bad usage;
 * 3 replay finished with rows that failed again (they stay parked with their new error).
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { SignJWT } from "jose";
import {
  DISCARD_MAX,
  LIST_MAX,
  REPLAY_MAX,
  boundedInt,
  isDeadLetterSink,
  isDeadLetterState,
  type DeadLetterSink,
  type DeadLetterState,
} from "../dead-letter-rules";
import type { DeadLetterPage, DeadLetterSummary } from "../dead-letter-store";
import type { ReplayReport } from "../replay";

/** The JWT_SECRET of `npm run dev` (package.json): used only against a local URL when nothing else is given. */
export const LOCAL_DEV_SECRET = "local-dev-secret-not-for-production";
export const DEFAULT_URL = "http://127.0.0.1:8787";
/** Rows one `replay` run takes at most, over all its calls (--max). */
export const DEFAULT_REPLAY_MAX_TOTAL = 10_000;

export class UsageError extends Error {
  override name = "UsageError";
}

/** A parsed command line. */
export type Command =
  | { kind: "list"; url: string; json: boolean; all: boolean; query: { state?: DeadLetterState | "all"; sink?: DeadLetterSink; stream?: string; limit?: number; after?: number } }
  | { kind: "show"; url: string; json: boolean; id: number }
  | { kind: "replay"; url: string; json: boolean; body: { ids?: number[]; sink?: DeadLetterSink; stream_id?: string; limit?: number }; maxTotal: number }
  | { kind: "discard"; url: string; json: boolean; ids: number[] };

export const USAGE = `usage: npm run dlq -- <command> [options]
  list    [--state parked|dying|replayed|malformed|all] [--sink kafka|redis-history] [--stream <uuid>]
          [--limit 1..${LIST_MAX}] [--after <id>] [--all]       parked dead letters, oldest first (default: one page of 20, all states)
  show    <id>                                              one row with the queue message as it died
  replay  [--ids 1,2,...] [--sink ...] [--stream <uuid>] [--limit 1..${REPLAY_MAX}] [--max <n>]
                                                            hand parked rows to their sinks again, until each was tried
                                                            once (--max: rows in all, default ${DEFAULT_REPLAY_MAX_TOTAL})
  discard <id> [<id> ...]                                   delete rows that are not replayed (at most ${DISCARD_MAX})
options: --url <worker URL> (DLQ_URL, default ${DEFAULT_URL})   --json (print the worker's answers)
credentials: DLQ_TOKEN (admin JWT) or JWT_SECRET [+ JWT_ISSUER, JWT_AUDIENCE]; a local URL falls back to npm run dev's secret`;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function ids(values: readonly string[], max: number): number[] {
  const out = values.flatMap((v) => v.split(",")).filter((v) => v !== "").map((v) => boundedInt(v, 1, Number.MAX_SAFE_INTEGER));
  if (out.length === 0 || out.length > max || out.some((n) => n === null)) throw new UsageError(`expected 1 to ${max} row ids (positive integers)`);
  return out as number[];
}

/**
 * Parses `argv` (after `npm run dlq --`) with the environment `env` into a Command. Throws
 * UsageError (the message says what is wrong) on an unknown command or option, or a bad value.
 */
export function parseCommand(argv: readonly string[], env: Record<string, string | undefined> = {}): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: "string" },
        json: { type: "boolean" },
        state: { type: "string" },
        sink: { type: "string" },
        stream: { type: "string" },
        limit: { type: "string" },
        after: { type: "string" },
        all: { type: "boolean" },
        ids: { type: "string", multiple: true },
        max: { type: "string" },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const [kind, ...rest] = positionals;
  const url = (v.url ?? env.DLQ_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: not a URL: ${url}`);
  }
  const json = v.json ?? false;
  const sink = v.sink === undefined ? undefined : isDeadLetterSink(v.sink) ? v.sink : fail(`--sink must be kafka or redis-history`);
  const stream = v.stream === undefined ? undefined : UUID_RE.test(v.stream) ? v.stream.toLowerCase() : fail("--stream must be a stream id (UUID)");
  const onlyFor = (allowed: string[]) => {
    const given = (["state", "sink", "stream", "limit", "after", "all", "ids", "max"] as const).filter((k) => v[k] !== undefined);
    const wrong = given.filter((k) => !allowed.includes(k));
    if (wrong.length > 0) fail(`${kind} does not take --${wrong.join(", --")}`);
  };
  switch (kind) {
    case "list": {
      onlyFor(["state", "sink", "stream", "limit", "after", "all"]);
      if (rest.length > 0) fail("list takes no arguments");
      const state = v.state === undefined ? undefined : v.state === "all" || isDeadLetterState(v.state) ? v.state : fail("--state must be parked, dying, replayed, malformed or all");
      const limit = v.limit === undefined ? undefined : (boundedInt(v.limit, 1, LIST_MAX) ?? fail(`--limit must be 1 to ${LIST_MAX}`));
      const after = v.after === undefined ? undefined : (boundedInt(v.after, 0, Number.MAX_SAFE_INTEGER) ?? fail("--after must be a row id"));
      return { kind, url, json, all: v.all ?? false, query: { state, sink, stream, limit, after } };
    }
    case "show": {
      onlyFor([]);
      if (rest.length !== 1) fail("show takes one row id");
      return { kind, url, json, id: boundedInt(rest[0], 1, Number.MAX_SAFE_INTEGER) ?? fail("show takes one row id (a positive integer)") };
    }
    case "replay": {
      onlyFor(["ids", "sink", "stream", "limit", "max"]);
      if (rest.length > 0) fail("replay takes no arguments (rows: --ids 1,2,...)");
      const body: Extract<Command, { kind: "replay" }>["body"] = {};
      if (v.ids) body.ids = ids(v.ids, REPLAY_MAX);
      if (sink) body.sink = sink;
      if (stream) body.stream_id = stream;
      if (v.limit !== undefined) body.limit = boundedInt(v.limit, 1, REPLAY_MAX) ?? fail(`--limit must be 1 to ${REPLAY_MAX}`);
      const maxTotal = v.max === undefined ? DEFAULT_REPLAY_MAX_TOTAL : (boundedInt(v.max, 1, 10_000_000) ?? fail("--max must be a positive integer"));
      return { kind, url, json, body, maxTotal };
    }
    case "discard":
      onlyFor([]);
      return { kind, url, json, ids: ids(rest, DISCARD_MAX) };
    case undefined:
      return fail("a command is required: list, show, replay or discard");
    default:
      return fail(`unknown command ${JSON.stringify(kind)}: list, show, replay or discard`);
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

/**
 * The bearer token to send: DLQ_TOKEN as it is; else an HS256 admin token signed with JWT_SECRET
 * (5 minutes; JWT_ISSUER/JWT_AUDIENCE when set); else, for a local URL only, one signed with
 * LOCAL_DEV_SECRET. Throws UsageError when none applies.
 */
export async function adminToken(url: string, env: Record<string, string | undefined>): Promise<string> {
  if (env.DLQ_TOKEN) return env.DLQ_TOKEN;
  const host = new URL(url).hostname;
  const local = host === "localhost" || host === "127.0.0.1" || host === "[::1]";
  const secret = env.JWT_SECRET ?? (local ? LOCAL_DEV_SECRET : undefined);
  if (!secret) throw new UsageError(`no credentials for ${url}: set DLQ_TOKEN (a JWT with role "admin") or JWT_SECRET`);
  let jwt = new SignJWT({ role: "admin", username: "dlq-cli" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(env.DLQ_OPERATOR_ID ?? crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("5m");
  if (env.JWT_ISSUER) jwt = jwt.setIssuer(env.JWT_ISSUER);
  if (env.JWT_AUDIENCE) jwt = jwt.setAudience(env.JWT_AUDIENCE);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** An error answer of the worker (`{"error","message"}`) or a transport failure. */
export class ApiError extends Error {
  override name = "ApiError";
}

async function call<T>(url: string, token: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new ApiError(`${url}${path}: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as { cause: unknown }).cause)})` : ""}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 300);
    try {
      const j = JSON.parse(text) as { error?: string; message?: string };
      detail = `${j.error}: ${j.message}`;
    } catch {
      // not JSON: shown as it is
    }
    throw new ApiError(`${path}: ${res.status} ${detail}`);
  }
  return JSON.parse(text) as T;
}

function listPath(q: Extract<Command, { kind: "list" }>["query"], after?: number): string {
  const p = new URLSearchParams();
  if (q.state) p.set("state", q.state);
  if (q.sink) p.set("sink", q.sink);
  if (q.stream) p.set("stream_id", q.stream);
  if (q.limit) p.set("limit", String(q.limit));
  const from = after ?? q.after;
  if (from !== undefined) p.set("after", String(from));
  const s = p.toString();
  return `/v1/admin/dead-letters${s ? `?${s}` : ""}`;
}

/** One line per row: id, state, sink, stream, seq, type, attempts, replays, parked, error. */
export function formatRows(items: readonly DeadLetterSummary[]): string[] {
  return items.map((r) =>
    [
      String(r.id).padStart(6),
      r.state.padEnd(9),
      r.sink.padEnd(13),
      r.stream_id ?? "-".padEnd(36),
      String(r.seq ?? "-").padStart(6),
      (r.event_type ?? "-").padEnd(27),
      `attempts=${r.attempts ?? "?"}`,
      `replays=${r.replays}`,
      r.parked_at ?? r.failed_at ?? r.enqueued_at,
      r.error ?? "",
    ].join("  "),
  );
}

/** The counts line of a page: `kafka: parked 3, dying 0, malformed 0, replayed 2; redis-history: …`. */
export function formatCounts(counts: DeadLetterPage["counts"]): string {
  return Object.entries(counts)
    .map(([sink, c]) => `${sink}: parked ${c.parked}, dying ${c.dying}, malformed ${c.malformed}, replayed ${c.replayed}`)
    .join("; ");
}

/** Runs a command; resolves with the exit status. `out` receives the lines to print. */
export async function run(cmd: Command, env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const token = await adminToken(cmd.url, env);
  switch (cmd.kind) {
    case "list": {
      let after: number | undefined;
      let first = true;
      for (;;) {
        const page = await call<DeadLetterPage>(cmd.url, token, listPath(cmd.query, after));
        if (cmd.json) out(JSON.stringify(page));
        else {
          if (first) out(formatCounts(page.counts));
          for (const line of formatRows(page.items)) out(line);
          if (page.next_after !== null && !cmd.all) out(`more: npm run dlq -- list --after ${page.next_after} (or --all)`);
        }
        first = false;
        if (page.next_after === null || !cmd.all) return 0;
        after = page.next_after;
      }
    }
    case "show": {
      const row = await call<unknown>(cmd.url, token, `/v1/admin/dead-letters/${cmd.id}`);
      out(JSON.stringify(row, null, cmd.json ? undefined : 2));
      return 0;
    }
    case "replay": {
      let claimed = 0;
      let replayed = 0;
      const failed = new Map<number, string>();
      for (;;) {
        const left = cmd.maxTotal - claimed;
        const limit = Math.min(cmd.body.limit ?? REPLAY_MAX, left, REPLAY_MAX);
        const r = await call<ReplayReport>(cmd.url, token, "/v1/admin/dead-letters/replay", { ...cmd.body, ...(cmd.body.ids ? {} : { limit }) });
        if (cmd.json) out(JSON.stringify(r));
        // The worker claims rows never tried first and this run's failures last, so a round made only
        // of rows this run already tried means every row was tried once: stop there.
        const again = r.items.length > 0 && r.items.every((i) => failed.has(i.id));
        claimed += r.claimed;
        replayed += r.replayed;
        for (const i of r.items) {
          if (i.ok) failed.delete(i.id);
          else failed.set(i.id, `${i.sink} stream=${i.stream_id} seq=${i.seq}: ${i.error}`);
        }
        // One call for named ids; otherwise until nothing is left, every row was tried, or --max rows were taken.
        if (cmd.body.ids || r.claimed === 0 || again || claimed >= cmd.maxTotal) break;
      }
      if (!cmd.json) {
        out(`replayed ${replayed}, failed ${failed.size} (${claimed} claimed)`);
        for (const [id, why] of failed) out(`  ${id}: ${why}`);
      }
      return failed.size > 0 ? 3 : 0;
    }
    case "discard": {
      const r = await call<{ discarded: number }>(cmd.url, token, "/v1/admin/dead-letters/discard", { ids: cmd.ids });
      out(cmd.json ? JSON.stringify(r) : `discarded ${r.discarded}`);
      return 0;
    }
  }
}

async function main(): Promise<void> {
  let cmd: Command;
  try {
    cmd = parseCommand(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`dlq: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  try {
    process.exitCode = await run(cmd, process.env, (line) => console.log(line));
  } catch (err) {
    console.error(`dlq: ${(err as Error).message}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
