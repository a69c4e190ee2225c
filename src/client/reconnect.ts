/**
 * When to come back after the server asked us to go (issue 19 §2: a redeploy without a reconnect
 * storm). Two closes carry that meaning, and each gets its own delay instead of the backoff's first
 * ceiling (≤ 250 ms, which would bring a whole audience back within a quarter second):
 *
 *   1013 Try Again Later   the room's join gate refused us (src/rules/joins.ts); its reason JSON
 *                          `{"error":"joins_busy","retry_after_ms":N}` says when: wait N plus
 *                          uniform jitter in [0, N] ({@link advisedDelay}), so the refused crowd
 *                          spreads over [N, 2N] rather than returning together at N.
 *   1001 Going Away,       the server is shutting down or restarting (RFC 6455 §7.4.1, IANA
 *   1012 Service Restart   registry): the first reconnect is uniform over
 *                          [0, DEFAULT_RESTART_SPREAD_MS] ({@link restartDelay}); later ones use the
 *                          normal backoff.
 *
 * Note: workerd has no Durable Object shutdown hook, so a redeploy or restart drops every socket
 * as 1006 (no close frame) — those reconnect with the normal backoff, and the join gate spreads
 * them. 1001/1012 are what an edge or proxy in front may send, and what a future drain would send.
 * Pure: randomness is passed in.
 */
import { parseJoinsBusyReason } from "../rules/joins.js";
import type { RandomSource } from "../rules/backoff.js";

/** 1013: the server is overloaded (here: too many joins), try again later. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** 1001: the endpoint is going away (server shutdown, page navigation). */
export const CLOSE_GOING_AWAY = 1001;
/** 1012: the service is restarting. */
export const CLOSE_SERVICE_RESTART = 1012;
/** The spread of the first reconnect after 1001/1012, ms: uniform over [0, this]. */
export const DEFAULT_RESTART_SPREAD_MS = 3_000;
/** The wait after a 1013 whose reason carries no hint, ms (the server's smallest hint). */
export const DEFAULT_BUSY_RETRY_MS = 1_000;

/**
 * The delay after a 1013 close with `reason`, ms: the hint N (`retry_after_ms`, else
 * DEFAULT_BUSY_RETRY_MS) plus a whole number of ms uniform in [0, N].
 */
export function advisedDelay(reason: string | undefined, random: RandomSource = Math.random): number {
  const hint = parseJoinsBusyReason(reason) ?? DEFAULT_BUSY_RETRY_MS;
  return hint + Math.floor(random() * (Math.floor(hint) + 1));
}

/** The first reconnect's delay after 1001/1012, ms: a whole number uniform in [0, spreadMs]. */
export function restartDelay(random: RandomSource = Math.random, spreadMs = DEFAULT_RESTART_SPREAD_MS): number {
  return Math.floor(random() * (Math.floor(spreadMs) + 1));
}
