/**
 * The one rule for applying an edit (src/rules/edits.ts), which the room's state, Redis history
 * and the SDK's view all use.
 */
import { describe, expect, it } from "vitest";
import type { StreamComment } from "../../src/protocol";
import { applyEdit } from "../../src/rules/edits";

const base: StreamComment = {
  id: "00000000-0000-4000-8000-000000000001",
  stream_id: "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f",
  user_id: "00000000-0000-4000-8000-00000000000a",
  username: "ann",
  message: "hello @bob",
  created_at: "2026-11-30T12:00:00.000Z",
  reply_to: { id: "00000000-0000-4000-8000-000000000002", user_id: "u2", username: "bob", excerpt: "hi" },
  entities: [{ type: "mention", offset: 6, length: 4, username: "bob" }],
  attachments: [{ upload_id: "a", url: "/v1/uploads/x/a", content_type: "image/png", size: 1 }],
};
const at = "2026-11-30T12:01:00.000Z";

describe("applyEdit", () => {
  it("replaces the text and entities, sets edited_at, keeps every other field", () => {
    const url = { type: "url" as const, offset: 0, length: 15, url: "https://example" };
    const out = applyEdit(base, { message: "https://example", entities: [url], edited_at: at });
    expect(out).toEqual({ ...base, message: "https://example", entities: [url], edited_at: at });
  });

  it("drops the entities key when the new text has none (like a new comment without any)", () => {
    const out = applyEdit(base, { message: "plain", entities: [], edited_at: at });
    expect("entities" in out).toBe(false);
    expect(out.message).toBe("plain");
  });

  it("does not change its input", () => {
    const before = structuredClone(base);
    applyEdit(base, { message: "x", entities: [], edited_at: at });
    expect(base).toEqual(before);
  });

  it("gives the same JSON however often and wherever it is applied (key order is stable)", () => {
    const first = applyEdit(base, { message: "one", entities: [], edited_at: at });
    expect(Object.keys(first)).toEqual(["id", "stream_id", "user_id", "username", "message", "created_at", "reply_to", "attachments", "edited_at"]);
    const later = "2026-11-30T12:02:00.000Z";
    const second = applyEdit(first, { message: "two", entities: base.entities!, edited_at: later });
    expect(JSON.stringify(second)).toBe(JSON.stringify(applyEdit(structuredClone(first), { message: "two", entities: base.entities!, edited_at: later })));
    expect(second).toMatchObject({ message: "two", edited_at: later, entities: base.entities });
  });

  it("accepts the comment_edited frame itself as the edit", () => {
    const frame = { type: "comment_edited" as const, seq: 9, id: base.id, message: "via frame", entities: [], edited_at: at };
    expect(applyEdit(base, frame)).not.toHaveProperty("seq");
    expect(applyEdit(base, frame).message).toBe("via frame");
  });
});
