/**
 * The SDK's staff reads over HTTP (issue 18 §3): the moderation log and the user card. Both are
 * `GET`s with the client's bearer token, staff-only on the server (403 → `forbidden`), answered with
 * JSON the SDK checks against the protocol's schema before an app sees it — a body of another shape
 * is `request_failed`, never a half-trusted object.
 *
 *   GET /v1/streams/{id}/chat/modlog?before=&limit=   → ModlogResponse (newest first)
 *   GET /v1/streams/{id}/chat/users/{user_id}          → UserCardResponse
 */
import type * as z from "zod";
import { ErrorCode as ErrorCodeSchema, ModlogResponse as ModlogResponseSchema, UserCardResponse as UserCardResponseSchema } from "../protocol.js";
import { ChatError } from "./errors.js";
import type { HttpErrorBody } from "./uploads.js";

/** Largest page of the modlog route the SDK asks for (the server may cap it lower). */
export const MODLOG_PAGE_MAX = 100;

/** Options of `chat.fetchModlog()`. */
export interface ModlogQuery {
  /** Entries with a log `seq` below this (a previous page's `next_before`); absent: the newest. */
  before?: number;
  /** Page size, 1 … 100 (absent: the server's default). */
  limit?: number;
  signal?: AbortSignal;
}

/** The modlog route's path and query, relative to the client's base URL; RangeError on a bad query. */
export function modlogPath(streamId: string, q: ModlogQuery): string {
  const params = new URLSearchParams();
  if (q.before !== undefined) {
    if (!Number.isSafeInteger(q.before) || q.before < 1) throw new RangeError(`before must be a positive integer, got ${q.before}`);
    params.set("before", String(q.before));
  }
  if (q.limit !== undefined) {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MODLOG_PAGE_MAX) throw new RangeError(`limit must be 1–${MODLOG_PAGE_MAX}, got ${q.limit}`);
    params.set("limit", String(q.limit));
  }
  const qs = params.toString();
  return `v1/streams/${streamId}/chat/modlog${qs ? `?${qs}` : ""}`;
}

/** The user card route's path, relative to the client's base URL. */
export function userCardPath(streamId: string, userId: string): string {
  return `v1/streams/${streamId}/chat/users/${encodeURIComponent(userId)}`;
}

/** The schemas the SDK checks each route's answer against. */
export const RESPONSE_SCHEMAS = { modlog: ModlogResponseSchema, userCard: UserCardResponseSchema } as const;

/**
 * The ChatError for a refused staff read: 401 → `unauthorized`; 403 → `forbidden` (not staff);
 * 404 → `not_found`; 429 → `rate_limited` with `retryAfterMs`; another 4xx whose `error` is a
 * protocol code → that code (e.g. `invalid_frame` for a bad query); anything else → `request_failed`.
 */
export function staffHttpError(status: number, body: HttpErrorBody | null, retryAfterHeader: string | null): ChatError {
  const server = typeof body?.error === "string" ? body.error : undefined;
  const text = typeof body?.message === "string" ? body.message : `HTTP ${status}`;
  if (status === 401) return new ChatError("unauthorized", text);
  if (status === 403) return new ChatError("forbidden", text);
  if (status === 404) return new ChatError("not_found", text);
  if (status === 429) {
    const ms = body?.retry_after_ms;
    const header = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader.trim()) ? Number(retryAfterHeader) * 1000 : undefined;
    return new ChatError("rate_limited", text, { retryAfterMs: typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? ms : header });
  }
  const known = ErrorCodeSchema.safeParse(server);
  if (status >= 400 && status < 500 && known.success && known.data !== "internal_error") return new ChatError(known.data, text);
  return new ChatError("request_failed", `The request failed (HTTP ${status}: ${text})`);
}

/**
 * GETs `url` with the bearer token and returns its JSON checked against `schema`. Errors: the
 * request does not complete → `network_error` (or the signal's reason); a refusal → staffHttpError;
 * a body that does not match → `request_failed`.
 */
export async function getChecked<S extends z.ZodType>(
  fetchImpl: typeof fetch,
  url: URL,
  token: string,
  schema: S,
  signal: AbortSignal | undefined,
): Promise<z.infer<S>> {
  let res: Response;
  try {
    res = await fetchImpl(url, { headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted) throw new ChatError("aborted", "The request was aborted", { cause: signal.reason });
    throw new ChatError("network_error", `The request did not complete: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const json: unknown = await res.json().catch(() => null);
  if (!res.ok) throw staffHttpError(res.status, json as HttpErrorBody | null, res.headers.get("retry-after"));
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ChatError("request_failed", `The server answered ${url.pathname} with something unexpected`);
  return parsed.data as z.infer<S>;
}
