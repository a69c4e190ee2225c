/**
 * The ChatRoom's storage: its SQLite tables, loading them into a RoomState and the resume ring,
 * and writing each sequenced event. Every method is synchronous (Durable Object SQLite), so the
 * writes of one event commit together and the output gate holds the broadcast until they are
 * durable: a frame a viewer saw is never lost or renumbered.
 *
 * Tables:
 *   meta(k, v)                 stream_id, seq, epoch, slow_mode_s, pinned (JSON), owner_id
 *   events(seq, kind, body)    the resume ring: the last HISTORY_SIZE sequenced frames; body is
 *                              `{"seq","comment"}` for comments, the frame exactly as broadcast otherwise
 *   comments(seq, id, body)    the last HISTORY_SIZE comments in their current state (`{"seq","comment"}`)
 *   acks(user_id, client_msg_id, comment_id, seq)   client_msg_id dedupe (comment_id '' / seq 0 when none)
 *   grants, known_roles, bans, mutes, blocked_terms      the moderation state (mutes = timeouts)
 *   slow_last(user_id, at)     when each user last posted, kept only while slow mode is on
 *   used_tickets(nonce, expires_at)                        one use per ticket (src/tickets.ts)
 *   outbox, outbox_cursor      owned by src/outbox.ts
 */
import { HISTORY_SIZE, type Role, type RoomEvent, type SeqComment, type StreamComment } from "./protocol";
import { exhaustive } from "./rules/never";
import { emptyState, type RoomState } from "./rules/room-state";

import type { RingEntry } from "./mirror";
export type { RingEntry } from "./mirror";

/**
 * Event types after which the stored pinned comment (meta `pinned`, stored whole) is written again:
 * a pin, and an edit or a deletion (of it, or of what it quotes); re-quoted replies (`touched`) also
 * rewrite it. A map over every type, so that a new type has to say.
 */
const MAY_CHANGE_PIN: Record<RoomEvent["type"], boolean> = {
  comment: false,
  comment_edited: true,
  comment_deleted: true,
  pinned: true,
  moderation: false,
};

/** How many client_msg_id acknowledgements a stream remembers (the newest). */
const ACK_RETENTION = 10_000;

export class RoomStore {
  private acksSaved = 0;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS comments (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS acks (
        user_id TEXT NOT NULL, client_msg_id TEXT NOT NULL, comment_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (user_id, client_msg_id));
      CREATE INDEX IF NOT EXISTS acks_by_seq ON acks(seq);
      CREATE TABLE IF NOT EXISTS grants (user_id TEXT PRIMARY KEY, role TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS known_roles (user_id TEXT PRIMARY KEY, role TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bans (user_id TEXT PRIMARY KEY, by TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT);
      DROP TABLE IF EXISTS timeouts;
      CREATE TABLE IF NOT EXISTS mutes (user_id TEXT PRIMARY KEY, until INTEGER NOT NULL, by TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS slow_last (user_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS blocked_terms (term TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS used_tickets (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      DROP TABLE IF EXISTS tickets;
    `);
    // Rooms from before sequenced room events kept comments only, in `ring`: carry them over.
    if (sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ring'").toArray().length > 0) {
      sql.exec("INSERT OR IGNORE INTO events (seq, kind, body) SELECT seq, 'comment', body FROM ring");
      sql.exec("INSERT OR IGNORE INTO comments (seq, id, body) SELECT seq, json_extract(body, '$.comment.id'), body FROM ring");
      sql.exec("DROP TABLE ring");
    }
  }

  /** Loads everything: the rules' state, the resume ring (oldest first) and the epoch (made if new). */
  load(): { state: RoomState; ring: RingEntry[]; epoch: string } {
    const meta = new Map<string, string>();
    for (const row of this.sql.exec<{ k: string; v: string }>("SELECT k, v FROM meta")) meta.set(row.k, row.v);
    const state = emptyState(meta.get("stream_id") ?? "");
    state.seq = Number(meta.get("seq") ?? 0);
    state.slowModeS = Number(meta.get("slow_mode_s") ?? 0);
    state.pinned = meta.get("pinned") ? (JSON.parse(meta.get("pinned")!) as StreamComment) : null;
    state.ownerId = meta.get("owner_id") ?? null;
    let epoch = meta.get("epoch") ?? "";
    if (!epoch) {
      // A new lineage of sequence numbers: clients holding a `since` from another epoch get a fresh backlog.
      epoch = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
      this.setMeta("epoch", epoch);
    }
    for (const r of this.sql.exec<{ body: string }>("SELECT body FROM comments ORDER BY seq")) {
      const sc = JSON.parse(r.body) as SeqComment;
      state.comments.set(sc.comment.id, { seq: sc.seq, comment: sc.comment });
    }
    for (const r of this.sql.exec<{ user_id: string; role: string }>("SELECT user_id, role FROM grants")) {
      state.grants.set(r.user_id, r.role as "moderator" | "viewer");
    }
    for (const r of this.sql.exec<{ user_id: string; role: string }>("SELECT user_id, role FROM known_roles")) {
      state.knownRoles.set(r.user_id, r.role as Role);
    }
    for (const r of this.sql.exec<{ user_id: string; by: string; at: number; reason: string | null }>("SELECT * FROM bans")) {
      state.bans.set(r.user_id, { by: r.by, at: r.at, ...(r.reason ? { reason: r.reason } : {}) });
    }
    // Ended timeouts are dropped here, so they never accumulate.
    this.sql.exec("DELETE FROM mutes WHERE until <= ?", Date.now());
    for (const r of this.sql.exec<{ user_id: string; until: number; by: string }>("SELECT user_id, until, by FROM mutes")) {
      state.timeouts.set(r.user_id, { until: r.until, by: r.by });
    }
    for (const r of this.sql.exec<{ user_id: string; at: number }>("SELECT user_id, at FROM slow_last")) state.lastMessageAt.set(r.user_id, r.at);
    for (const r of this.sql.exec<{ term: string }>("SELECT term FROM blocked_terms")) state.blockedTerms.add(r.term);
    const ring = this.sql
      .exec<{ seq: number; kind: string; body: string }>("SELECT seq, kind, body FROM events ORDER BY seq")
      .toArray()
      .map((r) => ({ seq: r.seq, comment: r.kind === "comment", json: r.body }));
    return { state, ring, epoch };
  }

  setMeta(k: string, v: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, v);
  }

  /**
   * Writes one event that has just been applied to `state` (so the stored rows mirror it) and
   * returns its ring entry. `touched`: the other comments apply() changed (re-quoted replies).
   * The caller writes the outbox row in the same event.
   */
  persist(e: RoomEvent, state: RoomState, touched: readonly string[] = []): RingEntry {
    const isComment = e.type === "comment";
    const json = isComment ? JSON.stringify({ seq: e.seq, comment: e.comment } satisfies SeqComment) : JSON.stringify(e);
    this.sql.exec("INSERT INTO events (seq, kind, body) VALUES (?, ?, ?)", e.seq, e.type, json);
    if (e.seq > HISTORY_SIZE) this.sql.exec("DELETE FROM events WHERE seq <= ?", e.seq - HISTORY_SIZE);
    this.setMeta("seq", String(e.seq));
    switch (e.type) {
      case "comment": {
        this.sql.exec("INSERT INTO comments (seq, id, body) VALUES (?, ?, ?)", e.seq, e.comment.id, json);
        const oldest = state.comments.values().next().value;
        if (oldest) this.sql.exec("DELETE FROM comments WHERE seq < ?", oldest.seq);
        if (state.slowModeS > 0) {
          this.sql.exec("INSERT OR REPLACE INTO slow_last (user_id, at) VALUES (?, ?)", e.comment.user_id, state.lastMessageAt.get(e.comment.user_id) ?? 0);
        }
        break;
      }
      case "comment_edited": {
        const entry = state.comments.get(e.id);
        if (entry) this.sql.exec("UPDATE comments SET body = ? WHERE id = ?", JSON.stringify(entry satisfies SeqComment), e.id);
        break;
      }
      case "comment_deleted":
        this.sql.exec("DELETE FROM comments WHERE id = ?", e.id);
        break;
      case "pinned":
        break;
      case "moderation":
        switch (e.action) {
          case "timeout":
            this.sql.exec("DELETE FROM mutes WHERE until <= ?", Date.now());
            this.sql.exec("INSERT OR REPLACE INTO mutes (user_id, until, by) VALUES (?, ?, ?)", e.user_id!, Date.parse(e.until!), e.by);
            break;
          case "ban":
            this.sql.exec("INSERT OR REPLACE INTO bans (user_id, by, at, reason) VALUES (?, ?, ?, ?)", e.user_id!, e.by, Date.now(), e.reason ?? null);
            for (const id of e.deleted ?? []) this.sql.exec("DELETE FROM comments WHERE id = ?", id);
            break;
          case "unban":
            // As apply() does: what the event lifted (events without `lifted` lifted the ban only).
            if (!e.lifted || e.lifted.includes("ban")) this.sql.exec("DELETE FROM bans WHERE user_id = ?", e.user_id!);
            if (e.lifted?.includes("timeout")) this.sql.exec("DELETE FROM mutes WHERE user_id = ?", e.user_id!);
            break;
          case "slow_mode":
            this.setMeta("slow_mode_s", String(e.seconds ?? 0));
            if (!e.seconds) this.sql.exec("DELETE FROM slow_last");
            break;
          case "role":
            this.sql.exec("INSERT OR REPLACE INTO grants (user_id, role) VALUES (?, ?)", e.user_id!, e.role!);
            break;
          default:
            exhaustive(e.action);
        }
        break;
      default:
        exhaustive(e);
    }
    for (const id of touched) {
      const entry = state.comments.get(id);
      if (entry) this.sql.exec("UPDATE comments SET body = ? WHERE id = ?", JSON.stringify(entry satisfies SeqComment), id);
    }
    if (MAY_CHANGE_PIN[e.type] || touched.length > 0) {
      this.setMeta("pinned", state.pinned ? JSON.stringify(state.pinned) : "");
    }
    return { seq: e.seq, comment: isComment, json };
  }

  /** Replaces the blocked terms. */
  setBlockedTerms(terms: Set<string>): void {
    this.sql.exec("DELETE FROM blocked_terms");
    for (const t of terms) this.sql.exec("INSERT INTO blocked_terms (term) VALUES (?)", t);
  }

  /** Records a user's owner/moderator role as the worker resolved it (only when it changed). */
  recordKnownRole(userId: string, role: Role): void {
    this.sql.exec("INSERT OR REPLACE INTO known_roles (user_id, role) VALUES (?, ?)", userId, role);
  }

  /** Drops ended timeouts from storage. */
  deleteTimeouts(userIds: string[]): void {
    for (const u of userIds) this.sql.exec("DELETE FROM mutes WHERE user_id = ?", u);
  }

  /** A previous ack for (user, client_msg_id), if any. */
  findAck(userId: string, clientMsgId: string): { id?: string; seq?: number } | null {
    const row = this.sql
      .exec<{ comment_id: string; seq: number }>("SELECT comment_id, seq FROM acks WHERE user_id = ? AND client_msg_id = ?", userId, clientMsgId)
      .toArray()[0];
    if (!row) return null;
    return { ...(row.comment_id ? { id: row.comment_id } : {}), ...(row.seq > 0 ? { seq: row.seq } : {}) };
  }

  /** Remembers an ack; now and then keeps only the newest ACK_RETENTION (10,000) of the stream. */
  saveAck(userId: string, clientMsgId: string, ack: { id?: string; seq?: number }): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO acks (user_id, client_msg_id, comment_id, seq) VALUES (?, ?, ?, ?)",
      userId,
      clientMsgId,
      ack.id ?? "",
      ack.seq ?? 0,
    );
    // Now and then keep only the newest ACK_RETENTION acknowledgements (by insertion order, so
    // the ones of commands that made no event are pruned too).
    if (++this.acksSaved % 500 === 0) {
      this.sql.exec("DELETE FROM acks WHERE rowid <= (SELECT max(rowid) FROM acks) - ?", ACK_RETENTION);
    }
  }

  /** True when the ticket nonce was already used; otherwise records it (until `expiresAt`, ms). */
  useTicket(nonce: string, expiresAt: number, now: number): boolean {
    if (this.sql.exec("SELECT 1 FROM used_tickets WHERE nonce = ?", nonce).toArray().length > 0) return true;
    this.sql.exec("DELETE FROM used_tickets WHERE expires_at < ?", now);
    this.sql.exec("INSERT INTO used_tickets (nonce, expires_at) VALUES (?, ?)", nonce, expiresAt);
    return false;
  }
}
