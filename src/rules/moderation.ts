/**
 * The moderation tools of issue 18 (README "Moderation tools"), pure, beside the core rules of
 * src/rules/room-state.ts, which hands these commands here after its restriction check:
 *
 *   chat_mode            a mode on or off (src/rules/modes.ts)                       owner, moderators
 *   review               allow or deny a held message (src/rules/review.ts)          owner, moderators
 *   warn                 the user must acknowledge before sending again              owner, moderators
 *   acknowledge_warning  the warned user's own answer                                anyone warned
 *   hide_user/unhide_user  shadow hide: new messages only to the user and staff      owner, moderators
 *                        (not an event: broadcast, it would tell the hidden user)
 *   lockdown             the preset on in one event; off restores what it replaced   owner, moderators
 *   lockdown_preset      what lockdown turns on (not broadcast)                      owner
 *   purge                recent messages with a phrase removed, authors optionally
 *                        timed out or banned, in one event                           owner, moderators
 *   title                the stream's title                                          owner
 *
 * Every decision but the two not broadcast (lockdown_preset, hide) is an event (a `moderation` frame with its action) whose fields carry the result,
 * so apply() needs nothing but the event: a resumed client, a shard's mirror and the room replaying
 * its storage all end in the same state.
 */
import {
  ACCOUNT_AGE_DEFAULT_S,
  ACCOUNT_AGE_MAX_S,
  MAX_REASON_CODE_POINTS,
  MAX_TITLE_CODE_POINTS,
  UNIQUE_DEFAULT_S,
  UNIQUE_MAX_S,
  type ChatModes,
  type Command,
  type ModerationFrame,
  type Role,
  type RoomEvent,
} from "../protocol";
import { assertNever, exhaustive } from "./never";
import { err, guardTarget, isStaff, removeComments, targetRole, dropHeldOf, MAX_BANS, MAX_TIMEOUTS, type Actor, type Outcome, type RoomState } from "./room-state";
import { excerpt, findBlockedTerm, normalizeTerm, prepareText } from "./text";

/** Hidden users per stream, at most (`limit_reached` past it), like MAX_BANS. */
export const MAX_HIDDEN = 10_000;
/** Warnings waiting to be acknowledged per stream, at most. */
export const MAX_WARNINGS = 10_000;
/** A purge's timeout when the command names none, seconds. */
export const PURGE_DEFAULT_TIMEOUT_S = 600;

/** The commands this module decides. */
export type ToolCommand = Extract<
  Command,
  { type: "chat_mode" | "review" | "warn" | "acknowledge_warning" | "hide_user" | "unhide_user" | "lockdown" | "lockdown_preset" | "purge" | "title" }
>;

const TOOL_TYPES: Record<ToolCommand["type"], true> = {
  chat_mode: true,
  review: true,
  warn: true,
  acknowledge_warning: true,
  hide_user: true,
  unhide_user: true,
  lockdown: true,
  lockdown_preset: true,
  purge: true,
  title: true,
};

/** True for the commands {@link decideTool} decides. */
export function isToolCommand(cmd: Command): cmd is ToolCommand {
  return Object.hasOwn(TOOL_TYPES, cmd.type);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A moderation reason as every viewer may see it: the text rules, then one short line; undefined when empty; null when invalid. */
function reasonText(raw: string | undefined): string | undefined | null {
  if (raw === undefined) return undefined;
  const r = prepareText(raw, Number.MAX_SAFE_INTEGER);
  if (r.kind === "invalid") return null;
  return r.kind === "ok" ? excerpt(r.text, MAX_REASON_CODE_POINTS) : undefined;
}

/** The value a mode takes: a flag, or a number of seconds for `unique` and `account_age`. */
function modeValue(mode: ChatModes, key: keyof ChatModes): boolean | number {
  return mode[key];
}

/**
 * Decides one of the issue-18 commands from `actor` (acting with `role`, see effectiveRole) at `now`
 * (ms); never mutates `state`. Refusals: `forbidden` (role, or a target the actor may not act on),
 * `invalid_frame` (a value outside its mode's bounds, an unusable phrase), `invalid_text`,
 * `already_reviewed`, `limit_reached`.
 */
export function decideTool(state: RoomState, actor: Actor, role: Role, cmd: ToolCommand, now: number): Outcome {
  const by = actor.userId;
  const next = state.seq + 1;
  const ok = (events: RoomEvent[], id?: string): Outcome => ({ kind: "ok", events, ack: { id, seq: events[0]?.seq } });
  const m = (fields: Omit<ModerationFrame, "type" | "seq" | "by">): ModerationFrame => ({ type: "moderation", seq: next, by, ...fields });

  switch (cmd.type) {
    case "chat_mode": {
      if (!isStaff(role)) return err("forbidden");
      const modes = { ...state.modes };
      switch (cmd.mode) {
        case "unique":
          if ((cmd.seconds ?? 0) > UNIQUE_MAX_S) return err("invalid_frame");
          modes.unique_s = cmd.on ? (cmd.seconds ?? UNIQUE_DEFAULT_S) : 0;
          break;
        case "account_age":
          if ((cmd.seconds ?? 0) > ACCOUNT_AGE_MAX_S) return err("invalid_frame");
          modes.account_age_s = cmd.on ? (cmd.seconds ?? ACCOUNT_AGE_DEFAULT_S) : 0;
          break;
        case "emote_only":
        case "members_only":
        case "first_time_hold":
          modes[cmd.mode] = cmd.on;
          break;
        default:
          return assertNever(cmd.mode, "chat_mode");
      }
      const key = cmd.mode === "unique" ? "unique_s" : cmd.mode === "account_age" ? "account_age_s" : cmd.mode;
      if (modeValue(modes, key) === modeValue(state.modes, key)) return ok([]); // no change, no event
      const seconds = modes[key];
      return ok([m({ action: "chat_mode", mode: cmd.mode, on: cmd.on, ...(typeof seconds === "number" && seconds > 0 ? { seconds } : {}) })]);
    }

    case "review": {
      if (!isStaff(role)) return err("forbidden");
      const h = state.held.get(cmd.id);
      // First decision wins; an expired one is gone too.
      if (!h || h.expiresAt <= now) return err("already_reviewed");
      const event = m({ action: "review", id: cmd.id, decision: cmd.decision, user_id: h.comment.user_id });
      if (cmd.decision === "deny") return ok([event], cmd.id);
      // Allowed: broadcast as a new comment with the next seq, its created_at unchanged.
      return ok([event, { type: "comment", seq: next + 1, comment: h.comment }], cmd.id);
    }

    case "warn": {
      const refused = guardTarget(state, by, role, cmd.user_id);
      if (refused) return refused;
      const reason = reasonText(cmd.reason);
      if (reason === null) return err("invalid_text");
      if (reason === undefined) return err("invalid_frame");
      if (!state.warnings.has(cmd.user_id) && state.warnings.size >= MAX_WARNINGS) return err("limit_reached");
      return ok([m({ action: "warn", user_id: cmd.user_id, reason })]);
    }

    case "acknowledge_warning":
      if (!state.warnings.has(by)) return ok([]); // nothing pending: nothing changes
      return ok([m({ action: "warning_acknowledged", user_id: by })]);

    case "hide_user":
    case "unhide_user": {
      const refused = guardTarget(state, by, role, cmd.user_id);
      if (refused) return refused;
      const hide = cmd.type === "hide_user";
      if (state.hidden.has(cmd.user_id) === hide) return ok([]);
      if (hide && state.hidden.size >= MAX_HIDDEN) return err("limit_reached");
      // Not sequenced: the room keeps it, staff learn it from the log (`modlog` frames, the user card, the state route).
      return { kind: "ok", events: [], ack: {}, hidden: { userId: cmd.user_id, on: hide } };
    }

    case "lockdown": {
      if (!isStaff(role)) return err("forbidden");
      if ((state.lockdown !== null) === cmd.on) return ok([]);
      const { slow_mode_s, ...modes } = cmd.on ? state.lockdownPreset : state.lockdown!;
      return ok([m({ action: "lockdown", on: cmd.on, modes, seconds: slow_mode_s })]);
    }

    case "lockdown_preset":
      if (role !== "owner") return err("forbidden");
      return { kind: "ok", events: [], ack: {}, lockdownPreset: { ...cmd.preset } };

    case "purge": {
      if (!isStaff(role)) return err("forbidden");
      const phrase = normalizeTerm(cmd.phrase);
      if (phrase === null) return err("invalid_frame");
      const reason = reasonText(cmd.reason);
      if (reason === null) return err("invalid_text");
      const since = now - cmd.seconds * 1000;
      const deleted: string[] = [];
      const authors = new Set<string>();
      const matches = (c: { user_id: string; message: string; created_at: string }) =>
        Date.parse(c.created_at) >= since && findBlockedTerm(c.message, [phrase]) !== null && guardTarget(state, by, role, c.user_id) === null &&
        // Staff messages are skipped also when the owner purges (a moderator quoting the raid
        // phrase must not be purged, and with `then: "ban"` banned, alongside the raiders).
        !isStaff(targetRole(state, c.user_id));
      for (const { comment: c } of state.comments.values()) {
        if (matches(c)) {
          deleted.push(c.id);
          authors.add(c.user_id);
        }
      }
      // Held raid messages go too (never reviewed: nothing to allow).
      for (const h of state.held.values()) {
        if (matches(h.comment)) {
          deleted.push(h.comment.id);
          authors.add(h.comment.user_id);
        }
      }
      if (deleted.length === 0) return ok([]);
      const users = [...authors];
      // `users` always names the authors whose messages went (the "messages from X were removed"
      // notice, the user card's history); `then` says what else happened to them.
      const e = m({ action: "purge", phrase, seconds: cmd.seconds, deleted, users, ...(reason ? { reason } : {}) });
      if (cmd.then === "timeout") {
        const fresh = users.filter((u) => !state.timeouts.has(u)).length;
        if (state.timeouts.size + fresh > MAX_TIMEOUTS) return err("limit_reached");
        Object.assign(e, { then: "timeout", until: iso(now + (cmd.timeout_s ?? PURGE_DEFAULT_TIMEOUT_S) * 1000) });
      } else if (cmd.then === "ban") {
        const fresh = users.filter((u) => !state.bans.has(u)).length;
        if (state.bans.size + fresh > MAX_BANS) return err("limit_reached");
        // As a ban does: every comment of theirs still in the ring goes.
        const banned = new Set(users);
        for (const { comment: c } of state.comments.values()) if (banned.has(c.user_id) && !deleted.includes(c.id)) deleted.push(c.id);
        Object.assign(e, { then: "ban" });
      }
      const events: RoomEvent[] = [e];
      // The pin goes with a removed comment, and (as a ban does) with a banned author's pin even
      // when it is no longer in the ring.
      const pin = state.pinned;
      if (pin && (deleted.includes(pin.id) || (cmd.then === "ban" && authors.has(pin.user_id)))) events.push({ type: "pinned", seq: next + 1, comment: null, by });
      return ok(events);
    }

    case "title": {
      if (role !== "owner") return err("forbidden");
      const t = prepareText(cmd.title, MAX_TITLE_CODE_POINTS);
      // Too long is a bound of this frame (invalid_frame), not `message_too_long`: that code names the
      // message limit and counts as abuse on a socket (src/answers.ts).
      if (t.kind === "invalid") return err(t.code === "message_too_long" ? "invalid_frame" : t.code);
      const title = t.kind === "ok" ? t.text.replace(/\s+/g, " ") : "";
      if (title === state.title) return ok([]);
      return ok([m({ action: "title", title })]);
    }

    default:
      return assertNever(cmd, "decideTool");
  }
}

/**
 * Applies one of this module's events to `state` in place (called by room-state.ts apply()); `now`
 * (ms) is when it was accepted. Returns the comments whose current state changed with it (the
 * replies a purge re-quoted).
 */
export function applyTool(state: RoomState, e: ModerationFrame, now: number): string[] {
  switch (e.action) {
    case "chat_mode": {
      const seconds = e.on ? (e.seconds ?? 0) : 0;
      if (e.mode === "unique") {
        state.modes.unique_s = seconds;
        if (seconds === 0) state.recent.clear();
      } else if (e.mode === "account_age") state.modes.account_age_s = seconds;
      else if (e.mode) state.modes[e.mode] = e.on === true;
      return [];
    }
    case "review":
      state.held.delete(e.id!);
      return [];
    case "warn":
      state.warnings.set(e.user_id!, { reason: e.reason ?? "", by: e.by, at: now });
      return [];
    case "warning_acknowledged":
      state.warnings.delete(e.user_id!);
      return [];
    case "lockdown":
      if (e.on) state.lockdown = { ...state.modes, slow_mode_s: state.slowModeS };
      else state.lockdown = null;
      state.modes = { ...e.modes! };
      state.slowModeS = e.seconds ?? 0;
      if (state.slowModeS === 0) state.lastMessageAt.clear();
      if (state.modes.unique_s === 0) state.recent.clear();
      return [];
    case "purge": {
      if (e.then === "timeout") for (const u of e.users ?? []) state.timeouts.set(u, { until: Date.parse(e.until!), by: e.by });
      if (e.then === "ban") {
        for (const u of e.users ?? []) state.bans.set(u, { by: e.by, at: now, ...(e.reason ? { reason: e.reason } : {}) });
        dropHeldOf(state, e.users ?? []);
      }
      return removeComments(state, e.deleted ?? []);
    }
    case "title":
      state.title = e.title ?? "";
      return [];
    case "timeout":
    case "ban":
    case "unban":
    case "slow_mode":
    case "role":
      return []; // room-state.ts apply()
    default:
      exhaustive(e.action);
      return [];
  }
}
