/**
 * A join refused by the room's join gate (src/rules/joins.ts), as the client sees it: the upgrade
 * succeeds (101) and the socket is closed at once with 1013 and reason
 * `{"error":"joins_busy","retry_after_ms":N}`. Why not an HTTP 503 like `stream_full`: a browser's
 * WebSocket reports a refused upgrade as a bare 1006 with no status, body or header, so it could not
 * learn the wait; a close frame's code and reason it does see. The socket is a plain accepted one
 * (not hibernatable, never in the room's or shard's socket list): it lives for one close frame.
 * Used by the room (unsharded) and the worker (sharded: the room's admit() refused).
 */
import { CLOSE_TRY_AGAIN_LATER, joinsBusyReason } from "./rules/joins";

/** The 101 response whose socket closes with 1013 `joins_busy` and the wait `retryAfterMs` (ms). */
export function joinsBusyResponse(retryAfterMs: number): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  server.close(CLOSE_TRY_AGAIN_LATER, joinsBusyReason(retryAfterMs));
  return new Response(null, { status: 101, webSocket: client });
}
