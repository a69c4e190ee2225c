/**
 * One line that says what went wrong, for logs, whatever was thrown.
 *
 * `String(err)` loses the cause of most failures this code meets: a WebSocket failure (the Neon
 * driver rethrows the socket's `error` event as it is) prints `[object ErrorEvent]`, a fetch
 * failure hides its reason in `cause`, a Node socket error keeps `code`/`address`/`port` apart from
 * its message, and an AggregateError (one per address tried) has an empty message. This gathers
 * all of them:
 *
 *   describeError(new TypeError("fetch failed", { cause: connRefused }))
 *   → 'TypeError: fetch failed; cause: Error: connect ECONNREFUSED 127.0.0.1:1 (code=ECONNREFUSED syscall=connect address=127.0.0.1 port=1)'
 *   describeError(webSocketErrorEvent)
 *   → 'ErrorEvent "error": WebSocket connection failed (url=ws://127.0.0.1:1/pg/v1?address=…)'
 *
 * Pure and runtime-neutral (workers, Node). Never throws; output is bounded (MAX_LENGTH characters,
 * MAX_DEPTH nested causes) so a hostile or cyclic object cannot flood a log.
 */

const MAX_DEPTH = 5;
const MAX_LENGTH = 2_000;
/** Own fields of Node/undici/driver errors that say where or why, in this order. */
const DETAIL_FIELDS = ["code", "errno", "syscall", "address", "port", "hostname", "status", "severity", "detail"] as const;

type Bag = Record<string, unknown>;

function kindOf(v: Bag): string {
  const name = typeof v.name === "string" && v.name ? v.name : undefined;
  const ctor = (v.constructor as { name?: unknown } | undefined)?.name;
  return name ?? (typeof ctor === "string" && ctor && ctor !== "Object" ? ctor : "Error");
}

function scalar(v: unknown): string | undefined {
  if (typeof v === "string") return v.length > 200 ? `${v.slice(0, 200)}…` : v;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return undefined;
}

/** Query parameters whose values are secrets (e.g. NEON_WS_PROXY's `?token=<BRIDGE_TOKEN>`). */
const SECRET_PARAM = /([?&](?:token|access_token|password|passwd|secret|key|api_key|auth|authorization|sig|signature)=)[^&#]*/gi;
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i;

/**
 * A URL for a log line: `user:password@` and secret query values replaced by `***`. Textual, so
 * the rest stays exactly as it was (no re-encoding) and a URL without a scheme is handled too.
 */
export function redactUrl(raw: string): string {
  return raw.replace(USERINFO, "$1***@").replace(SECRET_PARAM, "$1***");
}

/** The URL of an event's target (a WebSocket: `url`; ws's Node WebSocket also has `_url`), redacted. */
function targetUrl(target: unknown): string | undefined {
  if (!target || typeof target !== "object") return undefined;
  const t = target as Bag;
  const url = scalar(t.url) ?? scalar(t._url);
  return url === undefined ? undefined : redactUrl(url);
}

function isEventLike(v: Bag): boolean {
  // DOM/workerd Event and ErrorEvent, and the `ws` package's events: a `type` and a `target`.
  return typeof v.type === "string" && "target" in v && typeof v.stack !== "string";
}

function describeOne(err: unknown, depth: number, seen: Set<unknown>): string {
  if (err === null || err === undefined) return String(err);
  if (typeof err !== "object") return scalar(err) ?? String(err);
  if (seen.has(err)) return "[cycle]";
  seen.add(err);
  const v = err as Bag;
  const parts: string[] = [];
  const nested: Array<[string, unknown]> = [];

  if (isEventLike(v)) {
    const msg = scalar(v.message);
    parts.push(`${kindOf(v) === "Error" ? "Event" : kindOf(v)} ${JSON.stringify(v.type)}${msg ? `: ${msg}` : ""}`);
    const url = targetUrl(v.target);
    if (url) parts.push(`(url=${url})`);
    if (v.error !== undefined && v.error !== null) nested.push(["error", v.error]);
  } else {
    const msg = scalar(v.message);
    const kind = kindOf(v);
    if (msg !== undefined || v instanceof Error) parts.push(msg ? `${kind}: ${msg}` : kind);
    else {
      // A plain object thrown as an error (e.g. a JSON error body): show its fields.
      let json: string | undefined;
      try {
        json = JSON.stringify(v);
      } catch {
        json = undefined;
      }
      parts.push(json && json !== "{}" ? json : Object.prototype.toString.call(v));
    }
    const details = DETAIL_FIELDS.flatMap((f) => {
      const s = scalar(v[f]);
      return s !== undefined ? [`${f}=${s}`] : [];
    });
    if (details.length > 0) parts.push(`(${details.join(" ")})`);
    if (Array.isArray(v.errors)) v.errors.slice(0, 4).forEach((e, i) => nested.push([`errors[${i}]`, e]));
  }
  if (v.cause !== undefined && v.cause !== null) nested.push(["cause", v.cause]);

  let line = parts.join(" ");
  if (depth < MAX_DEPTH) {
    for (const [label, inner] of nested) {
      const text = describeOne(inner, depth + 1, seen);
      // Drivers often repeat the cause's message in their own; say it once.
      if (!line.includes(text)) line += `; ${label}: ${text}`;
    }
  }
  return line;
}

/** A one-line description of anything thrown or emitted as an error: message, codes, event URL, causes. */
export function describeError(err: unknown): string {
  let text: string;
  try {
    text = describeOne(err, 0, new Set());
  } catch {
    text = Object.prototype.toString.call(err);
  }
  return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}…` : text;
}

/**
 * `promise`, or a rejection `Error("<what> did not answer within <ms> ms")` after `ms` (ms): for RPCs
 * between Durable Objects, which have no deadline of their own. The promise itself is not cancelled.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
