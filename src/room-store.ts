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
 *   held(id, body)             messages waiting for review (src/rules/review.ts), body = Held JSON
 *   posters(user_id, messages, first_at, last_at, account_created_at)   who posted (first_time_hold, user card)
 *   warnings, hidden           warnings not yet acknowledged; shadow-hidden users
 *   modlog(seq, at, action, target, body)                  the moderation log (src/rules/modlog.ts), body = entry JSON
 *   meta also: modes, lockdown, lockdown_preset (JSON), title
 *   outbox, outbox_cursor      owned by src/outbox.ts
 */
import { HISTORY_SIZE, type ChatModes, type LockdownPreset, type ModlogEntry, type Role, type RoomEvent, type SeqComment, type StreamComment, type TermAction } from "./protocol";
import { MODLOG_MAX, type LogDraft } from "./rules/modlog";
import { uniqueKey } from "./rules/modes";
import { exhaustive } from "./rules/never";
import type { Held } from "./rules/review";
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
      CREATE TABLE IF NOT EXISTS held (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS posters (
        user_id TEXT PRIMARY KEY, messages INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
        account_created_at INTEGER);
      CREATE TABLE IF NOT EXISTS warnings (user_id TEXT PRIMARY KEY, reason TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS hidden (user_id TEXT PRIMARY KEY);
      CREATE TABLE IF NOT EXISTS modlog (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, action TEXT NOT NULL, target TEXT, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS modlog_by_target ON modlog(target);
    `);
    // Terms from before hold-for review were all `block`.
    const cols = sql.exec<{ name: string }>("PRAGMA table_info(blocked_terms)").toArray().map((c) => c.name);
    if (!cols.includes("action")) sql.exec("ALTER TABLE blocked_terms ADD COLUMN action TEXT NOT NULL DEFAULT 'block'");
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
    for (const r of this.sql.exec<{ term: string; action: string }>("SELECT term, action FROM blocked_terms")) {
      state.blockedTerms.set(r.term, r.action === "hold" ? "hold" : "block");
    }
    if (meta.get("modes")) state.modes = { ...state.modes, ...(JSON.parse(meta.get("modes")!) as ChatModes) };
    if (meta.get("lockdown")) state.lockdown = JSON.parse(meta.get("lockdown")!) as LockdownPreset;
    if (meta.get("lockdown_preset")) state.lockdownPreset = JSON.parse(meta.get("lockdown_preset")!) as LockdownPreset;
    state.title = meta.get("title") ?? "";
    for (const r of this.sql.exec<{ user_id: string; reason: string; by: string; at: number }>("SELECT * FROM warnings")) {
      state.warnings.set(r.user_id, { reason: r.reason, by: r.by, at: r.at });
    }
    for (const r of this.sql.exec<{ user_id: string }>("SELECT user_id FROM hidden")) state.hidden.add(r.user_id);
    const held = this.sql.exec<{ body: string }>("SELECT body FROM held").toArray().map((r) => JSON.parse(r.body) as Held);
    for (const h of held.sort((a, b) => a.heldAt - b.heldAt)) state.held.set(h.comment.id, h);
    // The uniqueness window lives in memory: after a restart it starts again from the ring's comments.
    if (state.modes.unique_s > 0) {
      for (const { comment } of state.comments.values()) state.recent.add(uniqueKey(comment.message), Date.parse(comment.created_at));
    }
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
        this.countPost(e.comment.user_id, Date.now());
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
            this.dropHeldOf([e.user_id!]);
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
          case "chat_mode":
            this.setMeta("modes", JSON.stringify(state.modes));
            break;
          case "review":
            this.sql.exec("DELETE FROM held WHERE id = ?", e.id!);
            break;
          case "warn":
            this.sql.exec("INSERT OR REPLACE INTO warnings (user_id, reason, by, at) VALUES (?, ?, ?, ?)", e.user_id!, e.reason ?? "", e.by, Date.now());
            break;
          case "warning_acknowledged":
            this.sql.exec("DELETE FROM warnings WHERE user_id = ?", e.user_id!);
            break;
          case "lockdown":
            this.setMeta("modes", JSON.stringify(state.modes));
            this.setMeta("lockdown", state.lockdown ? JSON.stringify(state.lockdown) : "");
            this.setMeta("slow_mode_s", String(state.slowModeS));
            if (state.slowModeS === 0) this.sql.exec("DELETE FROM slow_last");
            break;
          case "purge":
            for (const id of e.deleted ?? []) {
              this.sql.exec("DELETE FROM comments WHERE id = ?", id);
              this.sql.exec("DELETE FROM held WHERE id = ?", id);
            }
            for (const u of e.users ?? []) {
              if (e.then === "timeout") this.sql.exec("INSERT OR REPLACE INTO mutes (user_id, until, by) VALUES (?, ?, ?)", u, Date.parse(e.until!), e.by);
              if (e.then === "ban") this.sql.exec("INSERT OR REPLACE INTO bans (user_id, by, at, reason) VALUES (?, ?, ?, ?)", u, e.by, Date.now(), e.reason ?? null);
            }
            if (e.then === "ban") this.dropHeldOf(e.users ?? []);
            break;
          case "title":
            this.setMeta("title", state.title);
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

  /** Records when `userId` last sent a message slow mode counts (a held or hidden one: no event to persist). */
  slowLast(userId: string, at: number): void {
    this.sql.exec("INSERT OR REPLACE INTO slow_last (user_id, at) VALUES (?, ?)", userId, at);
  }

  /** Replaces the blocked terms. */
  setBlockedTerms(terms: ReadonlyMap<string, TermAction>): void {
    this.sql.exec("DELETE FROM blocked_terms");
    for (const [t, a] of terms) this.sql.exec("INSERT INTO blocked_terms (term, action) VALUES (?, ?)", t, a);
  }

  /** Records a shadow hide (`on`) or its end. */
  setHidden(userId: string, on: boolean): void {
    if (on) this.sql.exec("INSERT OR IGNORE INTO hidden (user_id) VALUES (?)", userId);
    else this.sql.exec("DELETE FROM hidden WHERE user_id = ?", userId);
  }

  /** Saves the owner's lockdown preset. */
  setLockdownPreset(preset: LockdownPreset): void {
    this.setMeta("lockdown_preset", JSON.stringify(preset));
  }

  // -- review queue (src/rules/review.ts) --------------------------------------------------------

  /** Queues a held message. */
  hold(h: Held): void {
    this.sql.exec("INSERT OR REPLACE INTO held (id, body) VALUES (?, ?)", h.comment.id, JSON.stringify(h));
  }

  /** Drops held messages (expired) by id. */
  unhold(ids: readonly string[]): void {
    for (const id of ids) this.sql.exec("DELETE FROM held WHERE id = ?", id);
  }

  private dropHeldOf(users: readonly string[]): void {
    for (const u of users) this.sql.exec("DELETE FROM held WHERE json_extract(body, '$.comment.user_id') = ?", u);
  }

  // -- posters (first_time_hold, user card) ----------------------------------------------------------

  /**
   * Whether `userId` ever had a comment accepted here (or a hidden one). A row with no messages
   * (noteAccount() of a user whose messages are still held) is not a poster: first_time_hold holds on.
   */
  hasPosted(userId: string): boolean {
    return this.sql.exec("SELECT 1 FROM posters WHERE user_id = ? AND messages > 0", userId).toArray().length > 0;
  }

  /** Counts one accepted (or hidden) comment of `userId` at `at` (ms); the first one sets `first_at`. */
  countPost(userId: string, at: number): void {
    this.sql.exec(
      `INSERT INTO posters (user_id, messages, first_at, last_at) VALUES (?, 1, ?, ?) ON CONFLICT(user_id) DO UPDATE SET
         first_at = CASE WHEN messages = 0 THEN excluded.first_at ELSE first_at END, messages = messages + 1, last_at = excluded.last_at`,
      userId,
      at,
      at,
    );
  }

  /**
   * Remembers when `userId`'s account was created (ms; the token claim the worker saw, or Postgres),
   * for the user card. Called when they post (or a message of theirs is held or hidden), so the table
   * holds posters only, never every viewer; written only when it changed.
   */
  noteAccount(userId: string, createdAt: number): void {
    this.sql.exec(
      `INSERT INTO posters (user_id, messages, first_at, last_at, account_created_at) VALUES (?, 0, 0, 0, ?) ON CONFLICT(user_id) DO UPDATE SET
         account_created_at = excluded.account_created_at WHERE account_created_at IS NOT excluded.account_created_at`,
      userId,
      createdAt,
    );
  }

  /** What the user card shows of a poster: messages, first message (ms, null if none), account creation (ms or null). */
  poster(userId: string): { messages: number; firstAt: number | null; accountCreatedAt: number | null } {
    const r = this.sql
      .exec<{ messages: number; first_at: number; account_created_at: number | null }>("SELECT messages, first_at, account_created_at FROM posters WHERE user_id = ?", userId)
      .toArray()[0];
    return { messages: r?.messages ?? 0, firstAt: r && r.messages > 0 ? r.first_at : null, accountCreatedAt: r?.account_created_at ?? null };
  }

  // -- moderation log (src/rules/modlog.ts) ----------------------------------------------------------

  /** Numbers and stores log entries; keeps the newest MODLOG_MAX. Returns them with their seq. */
  log(drafts: readonly LogDraft[]): ModlogEntry[] {
    if (drafts.length === 0) return [];
    let seq = Number(this.sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM modlog").one().s ?? 0);
    const out: ModlogEntry[] = [];
    for (const d of drafts) {
      const entry: ModlogEntry = { seq: ++seq, ...d };
      this.sql.exec("INSERT INTO modlog (seq, at, action, target, body) VALUES (?, ?, ?, ?, ?)", seq, Date.parse(d.at), d.action, d.target ?? null, JSON.stringify(entry));
      out.push(entry);
    }
    if (seq > MODLOG_MAX) this.sql.exec("DELETE FROM modlog WHERE seq <= ?", seq - MODLOG_MAX);
    return out;
  }

  /** A page of the log, newest first: entries with seq < `before` (all when null), at most `limit`. */
  modlog(before: number | null, limit: number): ModlogEntry[] {
    return this.sql
      .exec<{ body: string }>("SELECT body FROM modlog WHERE seq < ? ORDER BY seq DESC LIMIT ?", before ?? Number.MAX_SAFE_INTEGER, limit)
      .toArray()
      .map((r) => JSON.parse(r.body) as ModlogEntry);
  }

  /** The log entries naming `userId` (target, or among a purge's users), newest first, at most `limit`. */
  modlogOf(userId: string, limit: number): ModlogEntry[] {
    return this.sql
      .exec<{ body: string }>(
        "SELECT body FROM modlog WHERE target = ? OR (action = 'purge' AND EXISTS (SELECT 1 FROM json_each(body, '$.details.users') WHERE value = ?)) ORDER BY seq DESC LIMIT ?",
        userId,
        userId,
        limit,
      )
      .toArray()
      .map((r) => JSON.parse(r.body) as ModlogEntry);
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
