/**
 * The ChatRoom's record of its stream's image uploads (DESIGN.md "Images in chat", issue 11): which
 * user uploaded what, whether a comment carries it, and which R2 objects are still to be deleted.
 * Synchronous Durable Object SQLite, like src/room-store.ts, so a comment that attaches uploads and
 * the rows saying so commit in the same event.
 *
 * Tables:
 *   uploads(id, user_id, content_type, size, created_at, comment_id, width, height, frames)
 *       one row per upload the worker registered (before it put the bytes to R2); comment_id is
 *       NULL until a message attaches it. An upload attaches to one comment only. width/height (px)
 *       and frames come from the image's header (issue 22); NULL in rows made before they existed.
 *   doomed_uploads(id, attempts, next_at, again_at)
 *       R2 objects to delete: uploads never attached within UPLOAD_TTL_MS, the uploads of deleted
 *       comments, and a banned user's unattached uploads. A row stays until R2 confirmed the delete;
 *       a failed delete is retried at next_at (1 min, 2 min, … 1 h), by the room's alarm. again_at
 *       (banned users' young uploads only): after the confirmed delete the row stays for one more
 *       delete then, since the worker may still have been putting the bytes when the ban came.
 *
 * The room is the authority on upload ids: an id resolves to an attachment only when this table
 * has it, for the same user, not yet attached — so someone else's upload, another stream's (another
 * room's table), an invented id, an expired or a deleted upload all resolve to null.
 */
import { describeError } from "./errors";
import { ERROR_MESSAGES, type Attachment } from "./protocol";
import type { UploadVerdict } from "./room-api";
import type { BucketMap } from "./rules/budget";
import type { ImageSize } from "./rules/image-header";
import { MAX_PENDING_UPLOADS, UPLOAD_TTL_MS, uploadKey, uploadUrl } from "./upload-rules";

/** First retry of a failed R2 delete, ms; doubled per attempt up to DOOMED_RETRY_MAX_MS. */
export const DOOMED_RETRY_MS = 60_000;
export const DOOMED_RETRY_MAX_MS = 3_600_000;
/** Keys per R2 delete call (R2's limit for `delete(keys[])`). */
export const R2_DELETE_BATCH = 1_000;
/**
 * How long after its registration an upload's R2 put may still land, ms. The worker registers an
 * upload with the room and only then puts the bytes (src/uploads.ts), so a ban between the two
 * would delete nothing and the put would leave an object no row points to; a banned user's uploads
 * younger than this are deleted once more at created_at + this.
 */
export const UPLOAD_PUT_GRACE_MS = 5 * 60_000;

export class UploadStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
        created_at INTEGER NOT NULL, comment_id TEXT);
      CREATE INDEX IF NOT EXISTS uploads_pending ON uploads(user_id, created_at) WHERE comment_id IS NULL;
      CREATE INDEX IF NOT EXISTS uploads_by_comment ON uploads(comment_id) WHERE comment_id IS NOT NULL;
      CREATE TABLE IF NOT EXISTS doomed_uploads (id TEXT PRIMARY KEY, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, again_at INTEGER);
    `);
    // Rooms from before again_at (issue 22) have the table without it.
    if (!sql.exec<{ name: string }>("PRAGMA table_info(doomed_uploads)").toArray().some((c) => c.name === "again_at")) {
      sql.exec("ALTER TABLE doomed_uploads ADD COLUMN again_at INTEGER");
    }
    // Added by issue 22: a room made before has the table without them.
    const columns = new Set(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('uploads')").toArray().map((c) => c.name));
    for (const c of ["width", "height", "frames"]) if (!columns.has(c)) sql.exec(`ALTER TABLE uploads ADD COLUMN ${c} INTEGER`);
  }

  /** Records a new upload of `userId` at `now` (ms), not attached; `image` = its header's size (px, frames). */
  register(id: string, userId: string, contentType: string, size: number, now: number, image?: ImageSize): void {
    this.sql.exec(
      "INSERT INTO uploads (id, user_id, content_type, size, created_at, comment_id, width, height, frames) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
      id,
      userId,
      contentType,
      size,
      now,
      image?.width ?? null,
      image?.height ?? null,
      image?.frames ?? null,
    );
  }

  /**
   * Whether `userId` may upload now (DESIGN.md "Images in chat"): not when banned (nothing they
   * upload could ever be sent; a muted user may upload, to send when the timeout ends), not while
   * holding MAX_PENDING_UPLOADS uploads not attached yet (`too_many_uploads`, until the oldest
   * expires), not over UPLOADS_PER_MIN (`rate_limited`, from `rate`). A refusal takes no rate token;
   * an admission records the upload (`register`).
   */
  admit(userId: string, upload: { id: string; content_type: string; size: number } & Partial<ImageSize>, banned: boolean, rate: BucketMap, now: number): UploadVerdict {
    if (banned) return { ok: false, code: "banned", message: ERROR_MESSAGES.banned };
    const pending = this.pending(userId);
    if (pending.count >= MAX_PENDING_UPLOADS) {
      return {
        ok: false,
        code: "too_many_uploads",
        message: `${MAX_PENDING_UPLOADS} uploads not attached to a message yet: send them, or wait until they expire`,
        retry_after_ms: Math.max(1000, (pending.oldest ?? now) + UPLOAD_TTL_MS - now),
      };
    }
    const wait = rate.take(userId, now);
    if (wait > 0) return { ok: false, code: "rate_limited", message: ERROR_MESSAGES.rate_limited, retry_after_ms: wait };
    const { width, height, frames = 1 } = upload;
    this.register(upload.id, userId, upload.content_type, upload.size, now, width && height ? { width, height, frames } : undefined);
    return { ok: true };
  }

  /**
   * Deletes the due doomed uploads of `streamId` from `bucket` (R2_DELETE_BATCH keys per call). A
   * failure is logged and its keys retried later with backoff. Returns when the next delete is due
   * (ms), or null: the caller's alarm comes back then.
   */
  async deleteDue(bucket: R2Bucket, streamId: string): Promise<number | null> {
    for (;;) {
      const now = Date.now();
      const ids = this.dueDoomed(now, R2_DELETE_BATCH);
      if (ids.length === 0) break;
      try {
        await bucket.delete(ids.map((id) => uploadKey(streamId, id)));
        this.forgetDoomed(ids);
      } catch (err) {
        console.error(`ChatRoom upload delete failed stream=${streamId} uploads=${ids.length}: ${describeError(err)}`);
        this.retryDoomed(ids, now);
        break;
      }
      if (ids.length < R2_DELETE_BATCH) break;
    }
    return this.nextDue();
  }

  /** A user's uploads not attached yet: how many, and when the oldest was made (ms), if any. */
  pending(userId: string): { count: number; oldest: number | null } {
    const row = this.sql
      .exec<{ n: number; oldest: number | null }>(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM uploads WHERE user_id = ? AND comment_id IS NULL",
        userId,
      )
      .one();
    return { count: row.n, oldest: row.oldest };
  }

  /**
   * The attachment for upload `id` when it is `userId`'s, in this room (`streamId`) and not attached
   * to a comment yet; otherwise null (the rules answer `invalid_attachment`). The attachment carries
   * width/height when the row has them, and frames when more than 1.
   */
  resolve(id: string, userId: string, streamId: string): Attachment | null {
    const row = this.sql
      .exec<{ content_type: string; size: number; width: number | null; height: number | null; frames: number | null }>(
        "SELECT content_type, size, width, height, frames FROM uploads WHERE id = ? AND user_id = ? AND comment_id IS NULL",
        id,
        userId,
      )
      .toArray()[0];
    if (!row) return null;
    const a: Attachment = { upload_id: id, url: uploadUrl(streamId, id), content_type: row.content_type, size: row.size };
    if (row.width !== null && row.height !== null) Object.assign(a, { width: row.width, height: row.height });
    if (row.frames !== null && row.frames > 1) a.frames = row.frames;
    return a;
  }

  /** Marks uploads as carried by `commentId` (they are then kept until that comment is deleted). */
  attach(ids: readonly string[], commentId: string): void {
    for (const id of ids) this.sql.exec("UPDATE uploads SET comment_id = ? WHERE id = ?", commentId, id);
  }

  /** Moves the uploads of deleted comments to doomed_uploads; returns how many. */
  doomComments(commentIds: readonly string[], now: number): number {
    let n = 0;
    for (const c of commentIds) {
      const ids = this.sql.exec<{ id: string }>("SELECT id FROM uploads WHERE comment_id = ?", c).toArray();
      for (const { id } of ids) this.doom(id, now);
      n += ids.length;
    }
    return n;
  }

  /**
   * A ban (issue 22 §4): moves every upload of `userId` not attached yet to doomed_uploads, due at
   * `now` (ms), so its R2 object goes at once rather than after UPLOAD_TTL_MS. Uploads registered
   * less than UPLOAD_PUT_GRACE_MS ago are deleted once more then (a put may still be in flight).
   * Their comments' uploads go with the ban's `deleted` (doomComments). Returns how many.
   */
  doomPendingOf(userId: string, now: number): number {
    const ids = this.sql.exec<{ id: string; created_at: number }>("SELECT id, created_at FROM uploads WHERE user_id = ? AND comment_id IS NULL", userId).toArray();
    for (const { id, created_at } of ids) {
      const again = created_at + UPLOAD_PUT_GRACE_MS;
      this.doom(id, now, again > now ? again : null);
    }
    return ids.length;
  }

  /** Moves uploads not attached by `cutoff` (created_at ≤ cutoff, ms) to doomed_uploads; returns how many. */
  doomExpired(cutoff: number, now: number): number {
    const ids = this.sql.exec<{ id: string }>("SELECT id FROM uploads WHERE comment_id IS NULL AND created_at <= ?", cutoff).toArray();
    for (const { id } of ids) this.doom(id, now);
    return ids.length;
  }

  private doom(id: string, now: number, againAt: number | null = null): void {
    this.sql.exec("DELETE FROM uploads WHERE id = ?", id);
    this.sql.exec("INSERT OR IGNORE INTO doomed_uploads (id, attempts, next_at, again_at) VALUES (?, 0, ?, ?)", id, now, againAt);
  }

  /**
   * Forgets the rows of attached uploads whose comment has left the room's ring (`comments`, kept
   * by src/room-store.ts): such a comment can no longer be deleted, so its images stay in R2 and the
   * row has no further use. Keeps the table as small as the ring.
   */
  pruneOrphans(): void {
    this.sql.exec("DELETE FROM uploads WHERE comment_id IS NOT NULL AND comment_id NOT IN (SELECT id FROM comments)");
  }

  /** Up to `limit` doomed upload ids whose delete is due at `now` (ms). */
  dueDoomed(now: number, limit = R2_DELETE_BATCH): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM doomed_uploads WHERE next_at <= ? ORDER BY next_at LIMIT ?", now, limit)
      .toArray()
      .map((r) => r.id);
  }

  /** R2 confirmed these deletes: the rows go, except those owed one more delete at again_at (rescheduled). */
  forgetDoomed(ids: readonly string[]): void {
    for (const id of ids) {
      this.sql.exec("DELETE FROM doomed_uploads WHERE id = ? AND again_at IS NULL", id);
      this.sql.exec("UPDATE doomed_uploads SET next_at = again_at, again_at = NULL, attempts = 0 WHERE id = ?", id);
    }
  }

  /** A delete failed: try again later (DOOMED_RETRY_MS doubled per attempt, at most DOOMED_RETRY_MAX_MS). */
  retryDoomed(ids: readonly string[], now: number): void {
    for (const id of ids) {
      this.sql.exec(
        "UPDATE doomed_uploads SET attempts = attempts + 1, next_at = ? + MIN(?, ? << MIN(attempts, 20)) WHERE id = ?",
        now,
        DOOMED_RETRY_MAX_MS,
        DOOMED_RETRY_MS,
        id,
      );
    }
  }

  /** When the alarm is next needed for uploads (ms): the next expiry or the next delete retry; null when never. */
  nextDue(): number | null {
    const row = this.sql
      .exec<{ expiry: number | null; retry: number | null }>(
        `SELECT (SELECT MIN(created_at) FROM uploads WHERE comment_id IS NULL) + ${UPLOAD_TTL_MS} AS expiry,
                (SELECT MIN(next_at) FROM doomed_uploads) AS retry`,
      )
      .one();
    const due = [row.expiry, row.retry].filter((v): v is number => v !== null);
    return due.length > 0 ? Math.min(...due) : null;
  }
}
