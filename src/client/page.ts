/// <reference lib="dom" />
/**
 * The demo chat page (public/index.html). Bundled to public/app.js by scripts/build-client.sh.
 *
 * Everything chat-related goes through the SDK (ChatClient); this file is only the view:
 *   join form ─▶ POST /dev/token (demo sign-in; `owner_of` when creating a stream) ─▶ ChatClient
 *   `change` (the SDK's state store) ─▶ #messages, the pinned bar, viewer count, own mute/ban
 *   send()/reply()/edit() ─▶ a row in #outgoing ("Sending…") until the comment itself arrives
 *   paste or pick an image ─▶ a preview in #attachments (object URL) while chat.upload() runs;
 *   Send waits for the uploads, then send(text, { attachments }) (text may be empty)
 *   owner/moderator actions ─▶ chat.delete/pin/timeout/ban/unban/setRole/slowMode
 *   issue 18 (modes, review queue, mod log, user card, lockdown, purge, warnings, title, held
 *   rows) ─▶ src/client/page-staff.ts, mounted per stream, with three hooks here (decorateRow,
 *   settledHeld, dispose)
 *   state events ─▶ the status line; errors ─▶ plain sentences in a role="alert" paragraph.
 *
 * Messages are built with DOM APIs only (createElement, textContent), never innerHTML: a
 * message's text, author and quoted excerpt can be anything. Links come only from the server's
 * `url` entities and only http/https ever becomes one. Images come only from a comment's
 * `attachments` (absolute URLs, made so by the SDK), only http/https, shown at most 240×240 CSS px.
 */
import { MAX_MESSAGE_CODE_POINTS, codePointLength, isUuid } from "../protocol.js";
import { exhaustive } from "../rules/never.js";
import {
  ChatClient,
  ChatError,
  imageBoundsProblem,
  isRetryable,
  uuid,
  type Attachment,
  type Entity,
  type LockdownPreset,
  type ModerationFrame,
  type RoomEvent,
  type RoomView,
  type SendResult,
  type StateChange,
  type StreamComment,
  type UploadResult,
  type ViewComment,
} from "./index.js";
import { mountModeration, type Moderation } from "./page-staff.js";
import { $, add, button, el, safeHref, showError } from "./page-dom.js";
import { clock, describeState, errorText, plural, purgeNotice, uploadErrorText } from "./page-words.js";
import { moderationPanels } from "./page-moderation.js";
import { composerGate, gateCountdown, gateReason, nextChangeIn, type Gate } from "./composer-gate.js";

// ---------------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------------

const ui = {
  status: $("status"),
  statusText: $("status-text"),
  join: $<HTMLFormElement>("join"),
  name: $<HTMLInputElement>("name"),
  stream: $<HTMLInputElement>("stream"),
  newStream: $<HTMLButtonElement>("new-stream"),
  streamHint: $("stream-hint"),
  joinButton: $<HTMLButtonElement>("join-button"),
  joinError: $("join-error"),
  chat: $("chat"),
  streamLabel: $("stream-label"),
  roleLabel: $("role-label"),
  viewers: $("viewers"),
  copyLink: $<HTMLButtonElement>("copy-link"),
  leave: $<HTMLButtonElement>("leave"),
  modTools: $("mod-tools"),
  slowMode: $("slow-mode") as unknown as HTMLSelectElement,
  slowInfo: $("slow-info"),
  banned: $("banned-users"),
  bannedList: $<HTMLUListElement>("banned-list"),
  pinned: $("pinned"),
  pinnedBody: $("pinned-body"),
  notice: $("notice"),
  restriction: $("restriction"),
  gateTimer: $("gate-timer"),
  log: $("log"),
  empty: $("empty"),
  messages: $<HTMLOListElement>("messages"),
  outgoing: $<HTMLOListElement>("outgoing"),
  chatError: $("chat-error"),
  composer: $<HTMLFormElement>("composer"),
  context: $("composer-context"),
  contextText: $("composer-context-text"),
  contextCancel: $<HTMLButtonElement>("composer-cancel"),
  text: $<HTMLInputElement>("text"),
  sendButton: $<HTMLButtonElement>("send-button"),
  counter: $("counter"),
  attach: $<HTMLButtonElement>("attach"),
  file: $<HTMLInputElement>("file"),
  attachments: $<HTMLUListElement>("attachments"),
};

const NAME_KEY = "chat.name";
/** Streams this browser created (their owner signs in with owner_of again after a reload). */
const OWNED_KEY = "chat.owned";
/** Images per message (the server's MAX_ATTACHMENTS). */
const MAX_IMAGES = 4;

/** Staff's timeout and ban dialogs and the blocked-terms panel (page-moderation.ts). */
const panels = moderationPanels({
  client: () => client,
  say: (err) => plainError(err),
  reload: () => {
    if (streamId) void loadModeration(streamId);
  },
});

// ---------------------------------------------------------------------------------------------
// Demo sign-in (POST /dev/token, enabled by DEV_TOKENS=true)
// ---------------------------------------------------------------------------------------------

interface Session {
  username: string;
  userId: string;
  token: string;
  expiresAt: number;
  /** The stream this token makes us the owner of (dev tokens' `owner_of`), if any. */
  ownerOf: string | null;
}

let session: Session | null = null;

async function signIn(username: string, ownerOf: string | null): Promise<Session> {
  let res: Response;
  try {
    res = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ownerOf ? { username, owner_of: ownerOf } : { username }),
    });
  } catch (err) {
    throw new TypeError(`Could not reach the server: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => null)) as
    | { token?: string; user_id?: string; username?: string; expires_in?: number; message?: string }
    | null;
  if (res.status === 404) throw new Error("This server does not offer demo sign-in (DEV_TOKENS is off).");
  if (!res.ok || !body?.token || !body.user_id) throw new Error(body?.message ?? `Sign-in failed (HTTP ${res.status}).`);
  return {
    username: body.username ?? username,
    userId: body.user_id,
    token: body.token,
    expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000,
    ownerOf,
  };
}

/** Called by the client before every (re)connect: refresh the token a minute before it expires. */
async function credentials(): Promise<{ token: string }> {
  if (!session) throw new ChatError("unauthorized", "Not signed in");
  if (Date.now() > session.expiresAt - 60_000) session = await signIn(session.username, session.ownerOf);
  return { token: session.token };
}

function ownedStreams(): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(OWNED_KEY) ?? "[]") as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === "string" && isUuid(x)) : [];
  } catch {
    return [];
  }
}

function rememberOwned(id: string): void {
  try {
    localStorage.setItem(OWNED_KEY, JSON.stringify([id, ...ownedStreams().filter((x) => x !== id)].slice(0, 20)));
  } catch {
    // Storage disabled: ownership is not remembered across reloads.
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (the words are page-words.ts)
// ---------------------------------------------------------------------------------------------

/** An error in a plain sentence (page-words.ts errorText with this client's upload limit). */
const plainError = (err: unknown) => errorText(err, client?.maxUploadBytes);
/** An error of chat.upload() in a plain sentence. */
const plainUploadError = (err: unknown) => uploadErrorText(err, client?.maxUploadBytes);

/** Runs an action and shows its error, if any, in the chat's alert line. */
function act(what: Promise<unknown>): void {
  showError(ui.chatError, null);
  what.catch((err: unknown) => {
    noteRefusal(err);
    showError(ui.chatError, plainError(err));
  });
}

// ---------------------------------------------------------------------------------------------
// Message text: mentions and links from the server's entities
// ---------------------------------------------------------------------------------------------

/**
 * A message's text as DOM nodes: plain text, `@mentions` highlighted (ours more so), and links
 * for http/https `url` entities (`rel="noopener noreferrer nofollow"`, new tab). Entity offsets
 * count code points; an entity that does not fit the text is ignored (shown as plain text).
 */
function richText(message: string, entities: readonly Entity[] | undefined): DocumentFragment {
  const out = document.createDocumentFragment();
  const cps = [...message];
  let at = 0;
  const sorted = [...(entities ?? [])].sort((a, b) => a.offset - b.offset);
  for (const e of sorted) {
    if (e.offset < at || e.offset + e.length > cps.length) continue; // overlapping or out of range
    const text = cps.slice(e.offset, e.offset + e.length).join("");
    let node: HTMLElement | null = null;
    if (e.type === "mention") {
      node = el("span", "mention", text);
      if (session && e.username.toLowerCase() === session.username.toLowerCase()) node.classList.add("me");
    } else {
      const href = safeHref(e.url);
      if (href) {
        const a = el("a", "url", text);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        node = a;
      }
    }
    if (!node) continue;
    if (e.offset > at) add(out, cps.slice(at, e.offset).join(""));
    add(out, node);
    at = e.offset + e.length;
  }
  if (at < cps.length) add(out, cps.slice(at).join(""));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages, rendered from the SDK's state store
// ---------------------------------------------------------------------------------------------

/** The rows in #messages by comment id, with the comment object each was drawn from. */
const rows = new Map<string, { li: HTMLLIElement; comment: StreamComment }>();
/** Usernames by user id, from every comment seen (for the banned list). */
const names = new Map<string, string>();
/** Moderators we know of (from /chat/state and role events), for the "Make moderator" toggle. */
const moderators = new Set<string>();
/** Banned users (staff only): from /chat/state and ban/unban events. */
const bannedUsers = new Map<string, string>();
/** Timed-out users (staff only), with when the timeout ends (ms): from /chat/state and timeout/unban events. */
const timedOut = new Map<string, { name: string; until: number }>();
let view: RoomView | null = null;
/** Role the rows were drawn for; a change redraws their action buttons. */
let drawnRole: string | null = null;
/** Someone's role changed (their rows' buttons depend on it): redraw on the next render. */
let rolesChanged = false;
/** Lines for #messages from events (a ban's removals), placed by seq at the next render. */
const notices: Array<{ seq: number; text: string }> = [];

const isStaff = () => view?.role === "owner" || view?.role === "moderator";
const mine = (c: { user_id: string }) => session !== null && c.user_id === session.userId;
const nameOf = (c: { username: string | null }) => c.username ?? "anonymous";

function quote(c: StreamComment): HTMLElement | null {
  const r = c.reply_to;
  if (!r) return null;
  const q = el("blockquote", "quote");
  q.dataset.replyTo = r.id;
  add(q, el("span", "quote-author", `↪ ${r.username ?? "anonymous"}`), " ", el("span", "quote-text", r.excerpt));
  return q;
}

/**
 * A comment's images: each a link to the full image in a new tab (`rel="noopener noreferrer"`)
 * around an `<img>` bounded to 240×240 CSS px (style.css), lazy-loaded and decoded off the main
 * thread, with alt text naming the author and `width`/`height` attributes from the attachment's
 * size when it has one. Only http/https URLs (the SDK made them absolute). An attachment whose
 * declared size is over the upload bounds (src/rules/image-header.ts; the server refuses such
 * uploads, so this is a last guard) is never loaded: a line of text says why. An image that fails
 * to load (deleted meanwhile) becomes a line of text.
 */
function imageList(images: ReadonlyArray<Pick<Attachment, "url" | "width" | "height" | "frames">>, author: string): HTMLElement | null {
  const shown = images.flatMap((a) => {
    const href = safeHref(a.url);
    return href ? [{ href, a }] : [];
  });
  if (shown.length === 0) return null;
  const box = el("div", "images");
  shown.forEach(({ href, a }, i) => {
    const sized = a.width !== undefined && a.height !== undefined;
    const problem = sized ? imageBoundsProblem({ width: a.width!, height: a.height!, frames: a.frames }) : null;
    if (problem) {
      add(box, el("span", "image-gone", `Image not shown: too large to display safely (${problem}).`));
      return;
    }
    const link = el("a", "image-link");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    const img = el("img");
    img.alt = shown.length === 1 ? `Image from ${author}` : `Image ${i + 1} of ${shown.length} from ${author}`;
    img.loading = "lazy";
    img.decoding = "async";
    // The box is reserved before the image arrives, so the log does not jump when it loads
    // (style.css sizes it; the attributes give the browser the image's own proportions).
    img.width = sized ? a.width! : 240;
    img.height = sized ? a.height! : 240;
    img.src = href;
    img.addEventListener("error", () => link.replaceWith(el("span", "image-gone", "Image unavailable")), { once: true });
    add(link, img);
    add(box, link);
  });
  return box;
}

function commentRow(sc: ViewComment): HTMLLIElement {
  const { seq, comment } = sc;
  const own = mine(comment);
  const li = el("li", own ? "msg mine" : "msg");
  li.dataset.seq = String(seq);
  li.dataset.id = comment.id;
  li.dataset.user = comment.user_id;
  const meta = el("div", "meta");
  const time = el("time", undefined, clock.format(new Date(comment.created_at)));
  time.dateTime = comment.created_at;
  add(meta, el("span", "author", nameOf(comment)), time);
  if (comment.edited_at) {
    const edited = el("span", "edited", "edited");
    edited.title = `Edited ${new Date(comment.edited_at).toLocaleString()}`;
    add(meta, edited);
  }
  if (view?.pinned?.id === comment.id) add(meta, el("span", "pin-mark", "pinned"));
  add(meta, el("span", "note", own ? "✓ Sent" : ""));
  add(li, meta);
  const q = quote(comment);
  if (q) add(li, q);
  if (comment.message !== "") {
    const p = el("p", "text");
    add(p, richText(comment.message, comment.entities));
    add(li, p);
  }
  const images = imageList(comment.attachments ?? [], nameOf(comment));
  if (images) add(li, images);
  add(li, actionsFor(comment, sc.hidden === true));
  moderation?.decorateRow(li, sc);
  return li;
}

/**
 * The buttons under a message: reply; edit/delete our own; staff: delete, pin, and user actions.
 * `hidden` (staff only: a shadow-hidden user's message, never sequenced, so the room has no comment
 * to reply to, delete or pin) leaves only the user actions.
 */
function actionsFor(c: StreamComment, hidden = false): HTMLElement {
  const box = el("div", "actions");
  const short = c.message === "" ? "image" : c.message.slice(0, 40);
  if (!hidden) {
    add(box, button("Reply", () => startReply(c), { ariaLabel: `Reply to ${nameOf(c)}: ${short}` }));
    if (mine(c)) add(box, button("Edit", () => startEdit(c), { ariaLabel: `Edit your message: ${short}` }));
    if (mine(c) || isStaff()) add(box, button("Delete", () => act(client!.delete(c.id)), { ariaLabel: `Delete message: ${short}` }));
  }
  if (isStaff()) {
    if (!hidden && view?.pinned?.id === c.id) add(box, button("Unpin", () => act(client!.unpin())));
    else if (!hidden) add(box, button("Pin", () => act(client!.pin(c.id)), { ariaLabel: `Pin message: ${short}` }));
    if (!mine(c) && !(view?.role === "moderator" && moderators.has(c.user_id))) {
      const who = nameOf(c);
      add(
        box,
        button("Time out…", () => panels.openTimeout({ userId: c.user_id, name: who }), { ariaLabel: `Time out ${who}` }),
        button("Ban…", () => panels.openBan({ userId: c.user_id, name: who }, client?.room ?? view!), { ariaLabel: `Ban ${who}` }),
      );
      if (view?.role === "owner") {
        const mod = moderators.has(c.user_id);
        add(
          box,
          button(mod ? "Remove moderator" : "Make moderator", () => act(client!.setRole(c.user_id, mod ? "viewer" : "moderator")), {
            ariaLabel: `${mod ? "Remove moderator role from" : "Make moderator:"} ${who}`,
          }),
        );
      }
    }
  }
  return box;
}

function nearBottom(): boolean {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
}

function scrollToEnd(): void {
  ui.log.scrollTop = ui.log.scrollHeight;
}

/**
 * Brings #messages in line with the store: rows of deleted comments go, changed comments (an
 * edit, a new pin) are redrawn, new ones appended (the store only ever adds comments with a
 * higher seq than any it holds, so appending keeps seq order). A role change redraws everything,
 * because the action buttons depend on it.
 */
function render(v: RoomView, opts: { redraw?: boolean } = {}): void {
  const previous = view;
  view = v;
  const stick = nearBottom();
  const redraw = opts.redraw === true || rolesChanged || drawnRole !== v.role || previous?.pinned?.id !== v.pinned?.id;
  drawnRole = v.role;
  rolesChanged = false;
  const wanted = new Set(v.comments.map((c) => c.comment.id));
  for (const [id, r] of rows) {
    if (!wanted.has(id)) {
      r.li.remove();
      rows.delete(id);
    }
  }
  const fresh = document.createDocumentFragment();
  let added = 0;
  /** The notices of events before `seq`, as lines of the log (they go where their event was in the stream). */
  const noticesBefore = (seq: number) => {
    while (notices.length > 0 && notices[0]!.seq < seq) add(fresh, el("li", "notice-line", notices.shift()!.text));
  };
  for (const sc of v.comments) {
    if (sc.comment.username) names.set(sc.comment.user_id, sc.comment.username);
    const r = rows.get(sc.comment.id);
    if (!r) {
      noticesBefore(sc.seq);
      const li = commentRow(sc);
      rows.set(sc.comment.id, { li, comment: sc.comment });
      add(fresh, li);
      added++;
      // Our own message arrived: its "outgoing" row has done its job.
      ui.outgoing.querySelector<HTMLLIElement>(`li[data-id="${sc.comment.id}"]`)?.remove();
    } else if (redraw || r.comment !== sc.comment) {
      const li = commentRow(sc);
      r.li.replaceWith(li);
      r.li = li;
      r.comment = sc.comment;
    }
  }
  noticesBefore(Infinity);
  // A backlog is added in one go under aria-busy, so screen readers do not read 50 messages out.
  if (added > 1) ui.messages.setAttribute("aria-busy", "true");
  add(ui.messages, fresh);
  if (added > 1) ui.messages.removeAttribute("aria-busy");
  renderRoom(v);
  updateEmpty();
  if (stick) scrollToEnd();
}

/** Everything around the messages: pinned bar, viewers, role, slow mode, own restrictions. */
function renderRoom(v: RoomView): void {
  const pinned = v.pinned;
  ui.pinned.hidden = pinned === null;
  ui.pinnedBody.replaceChildren();
  if (pinned) {
    add(ui.pinnedBody, el("span", "author", nameOf(pinned)), " ");
    const text = el("span", "text");
    add(text, richText(pinned.message, pinned.entities));
    add(ui.pinnedBody, text);
    if (isStaff()) add(ui.pinnedBody, " ", button("Unpin", () => act(client!.unpin())));
  }
  ui.viewers.textContent = v.viewers === null ? "" : `${v.viewers} watching`;
  ui.roleLabel.textContent = v.role === "owner" ? "You own this stream" : v.role === "moderator" ? "You are a moderator" : "";
  ui.modTools.hidden = !isStaff();
  if (ui.slowMode.value !== String(v.slowModeS)) {
    if (!Array.from(ui.slowMode.options).some((o) => o.value === String(v.slowModeS))) add(ui.slowMode, new Option(`${v.slowModeS} s`, String(v.slowModeS)));
    ui.slowMode.value = String(v.slowModeS);
  }
  ui.slowInfo.textContent = v.slowModeS > 0 && !isStaff() ? `Slow mode: one message every ${plural(v.slowModeS, "second")}.` : "";
  updateComposer();
  renderBanned();
}

/**
 * Staff: the users who cannot send — banned ("Unban") or in a running timeout ("Remove timeout").
 * Both buttons send `unban`, which lifts a ban and a timeout alike (README "Room events").
 */
function renderBanned(): void {
  const now = Date.now();
  for (const [userId, t] of timedOut) if (t.until <= now) timedOut.delete(userId);
  ui.bannedList.replaceChildren();
  for (const [userId, name] of bannedUsers) {
    const li = el("li");
    li.dataset.user = userId;
    add(li, el("span", "author", name), " ", button("Unban", () => act(client!.unban(userId)), { ariaLabel: `Unban ${name}` }));
    add(ui.bannedList, li);
  }
  for (const [userId, { name, until }] of timedOut) {
    if (bannedUsers.has(userId)) continue;
    const li = el("li");
    li.dataset.user = userId;
    add(li, el("span", "author", name), ` (until ${clock.format(new Date(until))}) `, button("Remove timeout", () => act(client!.unban(userId)), { ariaLabel: `Remove timeout of ${name}` }));
    add(ui.bannedList, li);
  }
  ui.banned.hidden = !isStaff() || ui.bannedList.childElementCount === 0;
}

/**
 * What the page keeps track of beyond the store (which renders every event): who is banned, who
 * moderates, when our own last live comment came (slow mode), a ban's notice. Every event type and
 * moderation action is listed, so a new one has to be considered here.
 */
function noteEvent(e: RoomEvent, live: boolean): void {
  switch (e.type) {
    case "comment":
      // The room spaces a viewer's messages from their last accepted one (composer-gate.ts): one
      // arriving now was accepted just now (a backlog's or a resume's are older: their time is unknown).
      if (live && mine(e.comment)) lastOwnCommentAt = Date.now();
      return;
    case "comment_edited":
    case "comment_deleted":
    case "pinned":
      return; // rendered from the store
    case "moderation":
      if (e.action === "slow_mode") {
        // A new spacing makes the last refusal's wait stale; turning it off forgets our last comment (as the room does).
        refused.slowUntil = null;
        if ((e.seconds ?? 0) === 0) lastOwnCommentAt = null;
      }
      if (e.user_id !== undefined) noteModeration(e, e.user_id);
      else if (e.action === "purge") {
        // A purge that timed out or banned its authors: each as its own timeout/ban event (without
        // the ban's per-author notice), then one notice for the whole purge, however many authors.
        const { deleted, ...rest } = e;
        if (e.then) for (const u of e.users ?? []) noteModeration({ ...rest, action: e.then }, u);
        if (deleted && deleted.length > 0) notices.push({ seq: e.seq, text: purgeNotice((e.users ?? []).map((u) => names.get(u) ?? null)) });
      }
      return;
    default:
      exhaustive(e);
  }
}

/** A moderation event about `userId`: the banned list and the moderators the owner's tools show. */
function noteModeration(e: ModerationFrame, userId: string): void {
  switch (e.action) {
    case "ban":
      bannedUsers.set(userId, names.get(userId) ?? userId.slice(0, 8));
      // Every viewer is told why messages vanished (the ban's `deleted`: its comments the room removed).
      if (e.deleted && e.deleted.length > 0) notices.push({ seq: e.seq, text: `Messages from ${names.get(userId) ?? "a user"} were removed by a moderator.` });
      return;
    case "unban":
      // Events from before `lifted` existed lifted bans only.
      if (!e.lifted || e.lifted.includes("ban")) bannedUsers.delete(userId);
      if (e.lifted?.includes("timeout")) timedOut.delete(userId);
      // Our own ban or timeout lifted: the refusal still shown no longer holds, the composer opens.
      if (session !== null && userId === session.userId) {
        showError(ui.chatError, null);
        if (!e.lifted || e.lifted.includes("ban")) refused.banned = false;
        if (e.lifted?.includes("timeout")) refused.mutedUntil = null;
      }
      return;
    case "role":
      if (e.role === "moderator") moderators.add(userId);
      else moderators.delete(userId);
      rolesChanged = true;
      return;
    case "timeout":
      if (e.until) timedOut.set(userId, { name: names.get(userId) ?? userId.slice(0, 8), until: Date.parse(e.until) });
      // Our own timeout: the store holds its end now.
      if (session !== null && userId === session.userId) refused.mutedUntil = null;
      return;
    case "slow_mode":
    case "chat_mode":
    case "review":
    case "warn":
    case "warning_acknowledged":
    case "lockdown":
    case "purge":
    case "title":
      return; // the store has it (slow_mode: noteEvent handles it); the staff panels (src/client/page-staff.ts) render it
    default:
      exhaustive(e.action);
  }
}

/** The state route's `lockdown_preset` when it has the preset's shape (every field), else null. */
function asLockdownPreset(v: unknown): LockdownPreset | null {
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  const n = (k: string) => typeof o[k] === "number" && Number.isFinite(o[k]);
  const b = (k: string) => typeof o[k] === "boolean";
  return n("slow_mode_s") && n("unique_s") && n("account_age_s") && b("emote_only") && b("members_only") && b("first_time_hold") ? (o as unknown as LockdownPreset) : null;
}

/** Staff: the bans, moderators, blocked terms and lockdown preset the room knows (GET /v1/streams/{id}/chat/state). */
async function loadModeration(id: string): Promise<void> {
  if (!session) return;
  const termsAt = panels.termsVersion();
  const res = await fetch(`/v1/streams/${id}/chat/state`, { headers: { authorization: `Bearer ${session.token}` } }).catch(() => null);
  if (!res?.ok || streamId !== id) return;
  const body = (await res.json().catch(() => null)) as { bans?: unknown; timeouts?: unknown; moderators?: unknown; blocked_terms?: unknown; hold_terms?: unknown; lockdown_preset?: unknown } | null;
  if (Array.isArray(body?.bans)) {
    for (const b of body.bans as Array<{ user_id?: unknown }>) {
      if (typeof b?.user_id === "string") bannedUsers.set(b.user_id, names.get(b.user_id) ?? b.user_id.slice(0, 8));
    }
  }
  if (Array.isArray(body?.timeouts)) {
    for (const t of body.timeouts as Array<{ user_id?: unknown; until?: unknown }>) {
      const until = typeof t?.until === "string" ? Date.parse(t.until) : NaN;
      if (typeof t?.user_id === "string" && until > 0) timedOut.set(t.user_id, { name: names.get(t.user_id) ?? t.user_id.slice(0, 8), until });
    }
  }
  if (Array.isArray(body?.moderators)) for (const m of body.moderators) if (typeof m === "string") moderators.add(m);
  if (Array.isArray(body?.blocked_terms)) {
    const hold = Array.isArray(body.hold_terms) ? body.hold_terms.filter((x): x is string => typeof x === "string") : [];
    panels.setTerms(body.blocked_terms.filter((x): x is string => typeof x === "string"), termsAt, hold);
  }
  const preset = asLockdownPreset(body?.lockdown_preset);
  if (preset) moderation?.showPreset(preset);
  if (view) render(view, { redraw: true });
}

function updateEmpty(): void {
  ui.empty.hidden = ui.messages.childElementCount + ui.outgoing.childElementCount > 0;
}

// ---------------------------------------------------------------------------------------------
// Composer gate: closed while banned, timed out, warned or in slow mode's wait (composer-gate.ts)
// ---------------------------------------------------------------------------------------------

/** What the room's refusals told us that the store may not know yet (cleared by the events that lift them). */
const refused: { banned: boolean; mutedUntil: number | null; slowUntil: number | null } = { banned: false, mutedUntil: null, slowUntil: null };
/** When our own last comment arrived (local clock), while slow mode was not switched off since. */
let lastOwnCommentAt: number | null = null;
/** True while a submit waits for its images to finish uploading. */
let waitingForUploads = false;
let gateTimer: ReturnType<typeof setTimeout> | null = null;

function currentGate(now: number): Gate {
  const v = client?.room ?? view;
  const stored = v?.mutedUntil ? Date.parse(v.mutedUntil) : NaN;
  const mutedUntil = Math.max(Number.isNaN(stored) ? -Infinity : stored, refused.mutedUntil ?? -Infinity);
  return composerGate(
    {
      role: v?.role ?? null,
      banned: (v?.banned ?? false) || refused.banned,
      mutedUntil: Number.isFinite(mutedUntil) ? mutedUntil : null,
      warned: (v?.warning ?? null) !== null,
      slowModeS: v?.slowModeS ?? 0,
      lastOwnCommentAt,
      slowUntil: refused.slowUntil,
    },
    now,
  );
}

/** The text box's placeholder while the gate keeps it closed. */
const PLACEHOLDERS: Partial<Record<Gate["kind"], string>> = {
  banned: "You are banned from this chat",
  muted: "You are timed out",
  warned: "Read the moderator's warning above first",
};

/** Whether the gate stops what the composer would send now (an edit is not a message: slow mode lets it through). */
const blocks = (gate: Gate) => gate.kind !== "open" && !(gate.kind === "slow" && mode.kind === "edit");

/**
 * Brings the composer in line with the gate: banned, timed out or warned, the text box, Image and Send are
 * disabled; in slow mode's wait only Send (typing ahead is fine); the reason is said once (a status)
 * and the countdown beside it (a timer), redrawn when its second changes, until it ends and the
 * composer opens again by itself.
 */
function updateComposer(): void {
  if (gateTimer !== null) clearTimeout(gateTimer);
  gateTimer = null;
  const now = Date.now();
  const gate = currentGate(now);
  const reader = gate.kind === "banned" || gate.kind === "muted" || gate.kind === "warned";
  ui.composer.dataset.gate = gate.kind;
  ui.text.disabled = reader;
  ui.text.placeholder = PLACEHOLDERS[gate.kind] ?? "Say something, or paste an image…";
  ui.attach.disabled = reader || tray.length >= MAX_IMAGES;
  ui.sendButton.disabled = waitingForUploads || blocks(gate);
  const reason = gateReason(gate);
  if (ui.restriction.textContent !== reason) ui.restriction.textContent = reason;
  ui.gateTimer.textContent = gateCountdown(gate, now);
  const next = nextChangeIn(gate, now);
  if (next !== null && client) gateTimer = setTimeout(updateComposer, next);
}

/** A refusal that says what holds us (banned, muted until, slow mode for retry_after_ms): the gate learns it. */
function noteRefusal(err: unknown): void {
  if (!(err instanceof ChatError)) return;
  if (err.code === "banned") refused.banned = true;
  else if (err.code === "muted" && err.until && Date.parse(err.until) > 0) refused.mutedUntil = Date.parse(err.until);
  else if (err.code === "slow_mode" && err.retryAfterMs !== undefined) refused.slowUntil = Date.now() + err.retryAfterMs;
  else return;
  updateComposer();
}

/** Forgets the gate's facts and timer (leaving a stream). */
function resetGate(): void {
  refused.banned = false;
  refused.mutedUntil = refused.slowUntil = null;
  lastOwnCommentAt = null;
  if (gateTimer !== null) clearTimeout(gateTimer);
  gateTimer = null;
}

// ---------------------------------------------------------------------------------------------
// Composer: new message, reply, edit
// ---------------------------------------------------------------------------------------------

type Mode = { kind: "new" } | { kind: "reply"; to: StreamComment } | { kind: "edit"; of: StreamComment };
let mode: Mode = { kind: "new" };

function setMode(m: Mode): void {
  mode = m;
  ui.context.hidden = m.kind === "new";
  ui.sendButton.textContent = m.kind === "edit" ? "Save" : "Send";
  updateComposer();
  if (m.kind === "reply") ui.contextText.textContent = `Replying to ${nameOf(m.to)}: ${[...m.to.message].slice(0, 60).join("")}`;
  if (m.kind === "edit") ui.contextText.textContent = "Editing your message";
  if (m.kind === "new" && ui.text.dataset.editing) {
    ui.text.value = "";
    delete ui.text.dataset.editing;
  }
  updateCounter();
}

function startReply(c: StreamComment): void {
  setMode({ kind: "reply", to: c });
  ui.text.focus();
}

function startEdit(c: StreamComment): void {
  setMode({ kind: "edit", of: c });
  ui.text.value = c.message;
  ui.text.dataset.editing = "1";
  ui.text.focus();
}

function addOutgoing(text: string, clientMsgId: string, images: readonly UploadResult[]): HTMLLIElement {
  const li = el("li", "msg mine pending");
  li.dataset.clientMsgId = clientMsgId;
  const meta = el("div", "meta");
  add(meta, el("span", "author", session?.username ?? "you"), el("span", "note", "Sending…"));
  add(li, meta);
  if (text.trim() !== "") add(li, el("p", "text", text.trim()));
  const list = imageList(images, session?.username ?? "you");
  if (list) add(li, list);
  add(ui.outgoing, li);
  updateEmpty();
  scrollToEnd();
  return li;
}

function send(text: string, clientMsgId: string, li: HTMLLIElement, replyTo: string | undefined, attachments: string[]): void {
  if (!client) return;
  const options: { clientMsgId: string; replyTo?: string; attachments?: string[] } = { clientMsgId };
  if (replyTo !== undefined) options.replyTo = replyTo;
  if (attachments.length > 0) options.attachments = attachments;
  client.send(text, options).then(
    (ack) => acknowledged(li, ack),
    (err: unknown) => failed(li, text, clientMsgId, replyTo, attachments, err),
  );
}

function acknowledged(li: HTMLLIElement, ack: SendResult): void {
  if (rows.has(ack.id)) {
    li.remove(); // the comment itself is already in the list
  } else {
    // The ack can beat the comment (batched delivery): keep the row until the comment lands.
    li.classList.remove("pending");
    li.dataset.id = ack.id;
    li.querySelector(".note")!.textContent = "✓ Sent";
  }
  updateEmpty();
}

/**
 * A message the server (or the client) refused: "Not sent", the reason on the row itself, and
 * Remove. Retry only when trying again can succeed (recovery.ts isRetryable: rate_limited,
 * room_busy, internal_error, the network…); a ban, a timeout, slow mode, a blocked term, a text or
 * attachment the rules refuse get the same answer again, so they offer none — a refusal that says
 * what holds us closes the composer instead (noteRefusal).
 */
function failed(li: HTMLLIElement, text: string, clientMsgId: string, replyTo: string | undefined, attachments: string[], err: unknown): void {
  if (!li.isConnected) return; // left the stream
  if (moderation?.settledHeld(li, err)) return; // held for review, then denied or expired: final
  noteRefusal(err);
  li.classList.remove("pending");
  li.classList.add("failed");
  const note = li.querySelector(".note")!;
  note.textContent = "Not sent";
  const reason = el("p", "reason", plainError(err));
  reason.setAttribute("role", "alert");
  li.querySelector(".reason")?.remove();
  add(li, reason);
  const short = text.trim() === "" ? "image" : text.trim().slice(0, 40);
  const retryable = err instanceof ChatError ? isRetryable(err.code) : err instanceof TypeError;
  li.dataset.retryable = String(retryable);
  if (retryable) {
    const retry = button("Retry", () => {
      li.classList.replace("failed", "pending");
      note.textContent = "Sending…";
      reason.remove();
      // A new id: the server answered the old one with an error, which a resend would repeat.
      const id = uuid();
      li.dataset.clientMsgId = id;
      send(text, id, li, replyTo, attachments);
      ui.text.focus();
    }, { ariaLabel: `Retry sending: ${short}` });
    add(note, " ", retry);
  }
  const remove = button("Remove", () => {
    li.remove();
    updateEmpty();
    ui.text.focus();
  }, { ariaLabel: `Remove unsent message: ${short}` });
  add(note, " ", remove);
}

// ---------------------------------------------------------------------------------------------
// Images to send: picked or pasted, uploaded at once, previewed until sent or removed
// ---------------------------------------------------------------------------------------------

interface PendingImage {
  li: HTMLLIElement;
  /** The local preview (URL.createObjectURL); revoked when the image leaves the tray. */
  preview: string;
  state: "uploading" | "ready" | "failed";
  result: UploadResult | null;
  /** Settles (never rejects) when the upload ends either way. */
  done: Promise<void>;
  abort: AbortController;
}

const tray: PendingImage[] = [];

function updateTray(): void {
  ui.attachments.hidden = tray.length === 0;
  updateComposer();
}

/** Takes an image out of the tray: stops its upload if running and frees its preview. */
function dropImage(item: PendingImage): void {
  const i = tray.indexOf(item);
  if (i >= 0) tray.splice(i, 1);
  if (item.state === "uploading") item.abort.abort();
  URL.revokeObjectURL(item.preview);
  item.li.remove();
  updateTray();
}

function clearTray(): void {
  for (const item of [...tray]) dropImage(item);
}

/** Starts uploading each image file (up to MAX_IMAGES in the tray), each with a preview. */
function addImages(files: readonly File[]): void {
  const c = client;
  if (!c) return;
  showError(ui.chatError, null);
  for (const file of files) {
    if (tray.length >= MAX_IMAGES) {
      showError(ui.chatError, `At most ${MAX_IMAGES} images per message.`);
      break;
    }
    const li = el("li", "pending-image uploading");
    const preview = URL.createObjectURL(file);
    const img = el("img");
    // The preview is decoded only once the image passed the size checks (the SDK's, then the
    // server's): a pixel bomb must not freeze its sender's own tab either (issue 22 §1).
    img.alt = `Preview of ${file.name || "pasted image"}`;
    const note = el("span", "note", "Uploading…");
    note.setAttribute("role", "status");
    const item: PendingImage = { li, preview, state: "uploading", result: null, done: Promise.resolve(), abort: new AbortController() };
    const remove = button("×", () => {
      dropImage(item);
      ui.text.focus();
    }, { className: "remove", ariaLabel: `Remove image ${file.name || "pasted image"}` });
    add(li, img, note, remove);
    add(ui.attachments, li);
    tray.push(item);
    item.done = c.upload(file, { signal: item.abort.signal }).then(
      (result) => {
        item.state = "ready";
        item.result = result;
        img.src = preview;
        li.classList.replace("uploading", "ready");
        note.textContent = "Ready";
      },
      (err: unknown) => {
        if (!tray.includes(item)) return; // removed meanwhile: nothing to say
        item.state = "failed";
        li.classList.replace("uploading", "failed");
        const message = plainUploadError(err);
        note.textContent = message;
        showError(ui.chatError, message);
        if (err instanceof ChatError && err.code === "unauthorized" && session) session.expiresAt = 0;
      },
    );
  }
  updateTray();
}

/** Image files among pasted or picked files (anything else is left alone). */
const imageFiles = (list: FileList | null | undefined) => Array.from(list ?? []).filter((f) => f.type.startsWith("image/"));

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

let client: ChatClient | null = null;
let streamId: string | null = null;
/** Issue 18's panels and notices for the current stream (src/client/page-staff.ts). */
let moderation: Moderation | null = null;

function setStatus(state: StateChange["state"], text: string): void {
  ui.status.dataset.state = state;
  ui.statusText.textContent = text;
}

function clearChat(): void {
  clearTray();
  ui.messages.replaceChildren();
  ui.outgoing.replaceChildren();
  rows.clear();
  bannedUsers.clear();
  timedOut.clear();
  moderators.clear();
  view = null;
  drawnRole = null;
  resetGate();
  notices.length = 0;
  panels.clear();
  setMode({ kind: "new" });
}

function openChat(id: string): void {
  client?.close();
  streamId = id;
  if (location.hash.slice(1) !== id) location.hash = id;
  ui.join.hidden = true;
  ui.chat.hidden = false;
  ui.streamLabel.textContent = id;
  clearChat();
  updateEmpty();
  ui.notice.textContent = "";
  showError(ui.chatError, null);

  const c = new ChatClient({ baseUrl: location.origin, streamId: id, credentials });
  client = c;
  let loaded = false;
  c.on("state", (s) => setStatus(s.state, describeState(s)));
  // Each (re)connect's welcome and history bring the store up to date on our ban and timeout, so
  // what earlier refusals said no longer needs to stand in for it (a lift may have been missed).
  c.on("welcome", () => {
    refused.banned = false;
    refused.mutedUntil = null;
  });
  c.on("history", ({ comments, resumed, events }) => {
    for (const e of events) noteEvent(e, false);
    if (resumed && comments.length > 0) {
      ui.notice.textContent = `Back online: ${plural(comments.length, "message")} you missed ${comments.length === 1 ? "is" : "are"} shown.`;
    }
  });
  c.on("reset", () => {
    // Start over: the store holds the latest backlog now.
    ui.messages.replaceChildren();
    rows.clear();
    notices.length = 0;
    ui.notice.textContent = "You were away too long to catch up on everything; showing the latest messages.";
  });
  c.on("event", (e) => noteEvent(e, true));
  c.on("change", (v) => {
    render(v);
    if (!loaded && (v.role === "owner" || v.role === "moderator")) {
      loaded = true;
      void loadModeration(id);
    }
  });
  c.on("error", (err) => {
    if (err.code === "unauthorized" && session) session.expiresAt = 0; // sign in again next attempt
    showError(ui.chatError, plainError(err));
  });
  moderation?.dispose();
  moderation = mountModeration({ client: c, describeError: plainError, me: () => session?.userId ?? null });
  c.connect();
  ui.text.focus();
}

function leave(): void {
  clearTray();
  resetGate();
  client?.close();
  client = null;
  moderation?.dispose();
  moderation = null;
  streamId = null;
  history.replaceState(null, "", location.pathname + location.search);
  ui.chat.hidden = true;
  ui.join.hidden = false;
  setStatus("idle", "Not connected");
  ui.stream.focus();
}

/** A stream id from a raw UUID or a pasted link ending in #<uuid>. */
function parseStream(value: string): string | null {
  const v = value.trim();
  const candidate = v.includes("#") ? v.slice(v.lastIndexOf("#") + 1) : v;
  return isUuid(candidate) ? candidate.toLowerCase() : null;
}

/** Joins `id`; as its owner when this browser created it ("New stream") or created it before. */
async function join(name: string, id: string): Promise<void> {
  showError(ui.joinError, null);
  ui.joinButton.disabled = true;
  const ownerOf = creating === id || ownedStreams().includes(id) ? id : null;
  try {
    if (!session || session.username !== name || session.ownerOf !== ownerOf) session = await signIn(name, ownerOf);
  } catch (err) {
    showError(ui.joinError, plainError(err));
    return;
  } finally {
    ui.joinButton.disabled = false;
  }
  if (ownerOf) rememberOwned(ownerOf);
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage disabled (private mode): the name is simply not remembered.
  }
  openChat(id);
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

/** The stream id "New stream" generated: joining it signs in as its owner. */
let creating: string | null = null;

function updateJoinMode(): void {
  const id = parseStream(ui.stream.value);
  const owner = id !== null && (id === creating || ownedStreams().includes(id));
  ui.joinButton.textContent = id === creating && id !== null ? "Create stream" : "Join chat";
  ui.streamHint.textContent = owner
    ? "You will own this stream: you can pin messages, time out and ban people, block terms and set slow mode."
    : "Paste a stream ID (or a link) to join it as a viewer, or create a new stream that you own.";
}

ui.newStream.addEventListener("click", () => {
  creating = ui.stream.value = uuid();
  showError(ui.joinError, null);
  updateJoinMode();
  ui.stream.focus();
});
ui.stream.addEventListener("input", updateJoinMode);

ui.join.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = ui.name.value.trim();
  if (!name) {
    showError(ui.joinError, "Enter your name.");
    ui.name.focus();
    return;
  }
  let id = parseStream(ui.stream.value);
  if (!id && ui.stream.value.trim() === "") id = creating = ui.stream.value = uuid();
  if (!id) {
    showError(ui.joinError, "That is not a stream ID. Paste an ID like 3f2b…-…, or press “New stream”.");
    ui.stream.focus();
    return;
  }
  void join(name, id);
});

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  void submit();
});

async function submit(): Promise<void> {
  if (waitingForUploads || blocks(currentGate(Date.now()))) return;
  const editing = mode.kind === "edit";
  // An edit changes the text only; images in the tray wait for the next message.
  if (ui.text.value.trim() === "" && (editing || tray.length === 0)) return;
  if (codePointLength(ui.text.value.trim()) > MAX_MESSAGE_CODE_POINTS) {
    showError(ui.chatError, plainError(new ChatError("message_too_long", "")));
    return;
  }
  const c = client;
  if (!c) return;
  if (!editing && tray.some((i) => i.state === "uploading")) {
    // Send as soon as the images are up (the text box stays editable meanwhile).
    waitingForUploads = true;
    ui.sendButton.textContent = "Uploading…";
    updateComposer();
    await Promise.all(tray.map((i) => i.done));
    waitingForUploads = false;
    ui.sendButton.textContent = mode.kind === "edit" ? "Save" : "Send";
    updateComposer();
    if (client !== c || mode.kind === "edit") return; // left or switched streams meanwhile
    if (ui.text.value.trim() === "" && tray.length === 0) return;
    if (blocks(currentGate(Date.now()))) return; // restricted meanwhile: the text and images stay
  }
  if (!editing && tray.some((i) => i.state === "failed")) {
    showError(ui.chatError, "An image could not be uploaded: remove it (×) or attach it again.");
    return;
  }
  showError(ui.chatError, null);
  const text = ui.text.value;
  const m = mode;
  ui.text.value = "";
  delete ui.text.dataset.editing;
  setMode({ kind: "new" });
  if (m.kind === "edit") {
    act(c.edit(m.of.id, text));
    return;
  }
  const images = tray.flatMap((i) => (i.result ? [i.result] : []));
  clearTray();
  const clientMsgId = uuid();
  const li = addOutgoing(text, clientMsgId, images);
  send(text, clientMsgId, li, m.kind === "reply" ? m.to.id : undefined, images.map((r) => r.uploadId));
}

ui.attach.addEventListener("click", () => ui.file.click());
ui.file.addEventListener("change", () => {
  addImages(Array.from(ui.file.files ?? []));
  ui.file.value = ""; // picking the same file again fires change again
  ui.text.focus();
});
// Pasting an image (a screenshot) attaches it; pasted text still goes into the box.
ui.composer.addEventListener("paste", (e) => {
  const files = imageFiles(e.clipboardData?.files);
  if (files.length === 0) return;
  if (!e.clipboardData?.types.includes("text/plain")) e.preventDefault();
  addImages(files);
});

ui.contextCancel.addEventListener("click", () => {
  setMode({ kind: "new" });
  ui.text.focus();
});

ui.text.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && mode.kind !== "new") setMode({ kind: "new" });
});

function updateCounter(): void {
  const n = codePointLength(ui.text.value.trim());
  ui.counter.textContent = n > MAX_MESSAGE_CODE_POINTS - 50 ? `${n} / ${MAX_MESSAGE_CODE_POINTS}` : "";
  ui.counter.classList.toggle("over", n > MAX_MESSAGE_CODE_POINTS);
}
ui.text.addEventListener("input", updateCounter);

ui.slowMode.addEventListener("change", () => {
  if (client) act(client.slowMode(Number(ui.slowMode.value)));
});

ui.copyLink.addEventListener("click", async () => {
  // The link is for viewers: it carries the stream id only, never our token or role.
  try {
    await navigator.clipboard.writeText(location.href);
    ui.notice.textContent = "Link copied. Open it in another tab or send it to a friend.";
  } catch {
    ui.notice.textContent = `Share this link: ${location.href}`;
  }
});

ui.leave.addEventListener("click", leave);

// A stream link followed in this tab: joined, switch to it; not joined yet, it becomes the stream
// to join (and is joined at once when the name is known, as when the page opens with it).
window.addEventListener("hashchange", () => {
  const id = parseStream(location.hash);
  if (!id || id === streamId) return;
  if (session) {
    void join(session.username, id);
    return;
  }
  ui.stream.value = id;
  updateJoinMode();
  const name = ui.name.value.trim();
  if (name) void join(name, id);
});

// Start: remember the name; a link with #<stream> joins straight away (as a viewer, unless
// this browser created that stream).
try {
  ui.name.value = localStorage.getItem(NAME_KEY) ?? "";
} catch {
  // Storage disabled.
}
const initial = parseStream(location.hash);
if (initial) ui.stream.value = initial;
updateJoinMode();
if (initial && ui.name.value.trim()) void join(ui.name.value.trim(), initial);
else (ui.name.value ? ui.stream : ui.name).focus();
