/**
 * Which failures offer Retry (src/client/recovery.ts, issue 18 §6 item 4): every code the SDK can
 * report is classified — the table's type makes a new code fail `tsc` until it is, and this suite
 * walks the server's ErrorCode at run time too — only transient ones are retryable, and the
 * server codes the SDK resends by itself are exactly the retryable server codes.
 */
import { describe, expect, it } from "vitest";
import { ERROR_RECOVERY, isRetryable } from "../../src/client/recovery";
import type { ChatErrorCode } from "../../src/client/errors";
import { ErrorCode } from "../../src/protocol";

describe("error recovery: retry or final", () => {
  it("classifies every server error code", () => {
    for (const code of ErrorCode.options) expect(ERROR_RECOVERY[code], code).toMatch(/^(retry|final)$/);
  });

  it("retries exactly the transient server codes (what the SDK resends by itself)", () => {
    // review_queue_full (issue 18): the queue empties as moderators work, and the refusal says when to try again.
    expect(ErrorCode.options.filter(isRetryable).sort()).toEqual(["internal_error", "rate_limited", "review_queue_full", "room_busy"]);
  });

  it("retries the client's transient failures: the network, storage, a full outbox, sign-in", () => {
    const transient: ChatErrorCode[] = ["network_error", "upload_failed", "too_many_uploads", "outbox_full", "auth_failed", "unauthorized", "policy_violation"];
    for (const code of transient) expect(isRetryable(code), code).toBe(true);
  });

  it("offers no retry for refusals that cannot succeed by trying again", () => {
    const final: ChatErrorCode[] = [
      "banned",
      "muted",
      "forbidden",
      "blocked_term",
      "message_too_long",
      "invalid_text",
      "invalid_attachment",
      "slow_mode",
      "not_found",
      "edit_window_passed",
      "limit_reached",
      "target_restricted",
      "invalid_frame",
      "empty_message",
      "closed",
      "too_many_sockets",
      "image_too_large",
      "aborted",
    ];
    for (const code of final) expect(isRetryable(code), code).toBe(false);
  });

  it("treats a code it does not know as final", () => {
    expect(isRetryable("from_a_newer_server" as ChatErrorCode)).toBe(false);
    expect(isRetryable("toString" as ChatErrorCode)).toBe(false);
  });
});
