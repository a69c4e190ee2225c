/// <reference lib="dom" />
/**
 * The demo chat page (public/index.html). Bundled to public/app.js by scripts/build-client.sh.
 *
 * Everything chat-related goes through the SDK (ChatClient); this file is only the view:
 *   join form ─▶ POST /dev/token (demo sign-in) ─▶ ChatClient(streamId from the URL hash)
 *   history / reset / comment events ─▶ #messages (in seq order, each comment once)
 *   send() ─▶ a row in #outgoing ("Sending…") ─▶ ack: "Sent", then replaced by the comment itself
 *   state events ─▶ the status line; errors ─▶ plain sentences in a role="alert" paragraph.
 */
import { MAX_MESSAGE_CODE_POINTS, codePointLength, isUuid } from "../protocol.js";
import { ChatClient, ChatError, uuid, type SendResult, type SeqComment, type StateChange } from "./index.js";

// ---------------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------------

/**
 * `append` for DOM nodes. (With @cloudflare/workers-types in the same program, `Element.append`
 * is typed as HTMLRewriter's, which takes strings only; appendChild is unaffected.)
 */
function add(parent: Node, ...children: Array<Node | string>): void {
  for (const c of children) parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
}

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

const ui = {
  status: $("status"),
  statusText: $("status-text"),
  join: $<HTMLFormElement>("join"),
  name: $<HTMLInputElement>("name"),
  stream: $<HTMLInputElement>("stream"),
  newStream: $<HTMLButtonElement>("new-stream"),
  joinButton: $<HTMLButtonElement>("join-button"),
  joinError: $("join-error"),
  chat: $("chat"),
  streamLabel: $("stream-label"),
  copyLink: $<HTMLButtonElement>("copy-link"),
  leave: $<HTMLButtonElement>("leave"),
  notice: $("notice"),
  log: $("log"),
  empty: $("empty"),
  messages: $<HTMLOListElement>("messages"),
  outgoing: $<HTMLOListElement>("outgoing"),
  chatError: $("chat-error"),
  composer: $<HTMLFormElement>("composer"),
  text: $<HTMLInputElement>("text"),
  counter: $("counter"),
};

/** Rows kept on screen; older ones are dropped so a long session does not grow without bound. */
const MAX_ROWS = 500;
const NAME_KEY = "chat.name";

// ---------------------------------------------------------------------------------------------
// Demo sign-in (POST /dev/token, enabled by DEV_TOKENS=true)
// ---------------------------------------------------------------------------------------------

interface Session {
  username: string;
  userId: string;
  token: string;
  expiresAt: number;
}

let session: Session | null = null;

async function signIn(username: string): Promise<Session> {
  let res: Response;
  try {
    res = await fetch("/dev/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username }),
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
  };
}

/** Called by the client before every (re)connect: refresh the token a minute before it expires. */
async function credentials(): Promise<{ token: string }> {
  if (!session) throw new ChatError("unauthorized", "Not signed in");
  if (Date.now() > session.expiresAt - 60_000) session = await signIn(session.username);
  return { token: session.token };
}

// ---------------------------------------------------------------------------------------------
// Words for states and errors
// ---------------------------------------------------------------------------------------------

function describeState(s: StateChange): string {
  switch (s.state) {
    case "idle":
      return "Not connected";
    case "connecting":
      return s.previous === "reconnecting" ? "Reconnecting…" : "Connecting…";
    case "open":
      return "Connected";
    case "closed":
      return s.reason === "too_many_sockets" ? "Closed — the chat is open in too many other tabs" : "Not connected";
    case "reconnecting":
      if (s.reason === "policy_violation") return `Disconnected by the server — retrying in ${Math.max(1, Math.round((s.retryInMs ?? 0) / 1000))} s`;
      if (s.reason === "offline") return "Offline — waiting for the network";
      if (!s.retryInMs) return "Reconnecting…";
      return `Connection lost — retrying in ${Math.max(1, Math.round(s.retryInMs / 1000))} s`;
  }
}

function plainError(err: unknown): string {
  if (!(err instanceof ChatError)) {
    if (err instanceof TypeError) return "Could not reach the server. Check your connection and try again.";
    return err instanceof Error ? err.message : String(err);
  }
  switch (err.code) {
    case "rate_limited": {
      const s = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      return `You are sending messages too quickly. Wait ${s} second${s === 1 ? "" : "s"} and try again.`;
    }
    case "message_too_long":
      return `That message is too long: the limit is ${MAX_MESSAGE_CODE_POINTS} characters.`;
    case "frame_too_large":
      return "That message is too large to send.";
    case "room_busy": {
      const s = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      return `The chat is very busy right now. Wait ${s} second${s === 1 ? "" : "s"} and try again.`;
    }
    case "empty_message":
      return "Type a message first.";
    case "outbox_full":
      return "Too many messages are waiting to be sent. Wait until the connection is back.";
    case "closed":
      return "You left the chat before this message was delivered.";
    case "unauthorized":
      return "The server did not accept your sign-in. Signing in again…";
    case "auth_failed":
      return "Could not sign in to the chat. Retrying…";
    case "policy_violation":
      return "The server closed the connection because this page sent too much. It will reconnect in a little while.";
    case "too_many_sockets":
      return "This chat is open in too many tabs or devices, so the server closed it here. Close some of them and reload this page to chat here.";
    case "internal_error":
      return "The server had a problem. Try again in a moment.";
    case "forbidden":
      return "You are not allowed to do that in this chat.";
    case "not_found":
      return "That message is gone (deleted, or too old).";
    case "edit_window_passed":
      return "That message can no longer be edited.";
    case "muted":
      return "You are timed out in this chat.";
    case "banned":
      return "You are banned from this chat. You can still read it.";
    case "slow_mode":
      return "Slow mode is on. Wait a little before sending again.";
    case "blocked_term":
      return "Your message contains a word this chat does not allow.";
    case "invalid_text":
      return "Your message contains characters that cannot be sent.";
    case "invalid_attachment":
      return "One of the attached files cannot be used here.";
    case "invalid_json":
    case "invalid_frame":
    case "unsupported_binary":
    case "protocol_error":
      return "This page and the server did not understand each other. If it keeps happening, reload the page.";
  }
}

function showError(el: HTMLElement, message: string | null): void {
  el.textContent = message ?? "";
  el.hidden = message === null;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** Ids of the comments in #messages (to retire an "outgoing" row whose comment already arrived). */
const shown = new Set<string>();
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function row(author: string, text: string, mine: boolean): { li: HTMLLIElement; note: HTMLSpanElement; meta: HTMLDivElement } {
  const li = document.createElement("li");
  li.className = mine ? "msg mine" : "msg";
  const meta = document.createElement("div");
  meta.className = "meta";
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = author;
  add(meta, who);
  const note = document.createElement("span");
  note.className = "note";
  const p = document.createElement("p");
  p.className = "text";
  p.textContent = text;
  add(li, meta, p);
  add(meta, note);
  return { li, note, meta };
}

function commentRow({ seq, comment }: SeqComment): HTMLLIElement {
  const mine = session !== null && comment.user_id === session.userId;
  const { li, note, meta } = row(comment.username ?? "anonymous", comment.message, mine);
  li.dataset.seq = String(seq);
  li.dataset.id = comment.id;
  const time = document.createElement("time");
  time.dateTime = comment.created_at;
  time.textContent = timeFormat.format(new Date(comment.created_at));
  meta.insertBefore(time, note);
  if (mine) note.textContent = "✓ Sent";
  return li;
}

function nearBottom(): boolean {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
}

function scrollToEnd(): void {
  ui.log.scrollTop = ui.log.scrollHeight;
}

function addComments(list: readonly SeqComment[], opts: { replace?: boolean } = {}): void {
  const stick = nearBottom();
  // A backlog is added in one go under aria-busy, so screen readers do not read 50 messages out.
  const bulk = list.length > 1 || opts.replace === true;
  if (bulk) ui.messages.setAttribute("aria-busy", "true");
  if (opts.replace) {
    ui.messages.replaceChildren();
    shown.clear();
  }
  const fragment = document.createDocumentFragment();
  for (const c of list) {
    add(fragment, commentRow(c));
    shown.add(c.comment.id);
    // Our own message arrived: its "outgoing" row (if acked already) has done its job.
    ui.outgoing.querySelector<HTMLLIElement>(`li[data-id="${c.comment.id}"]`)?.remove();
  }
  add(ui.messages, fragment);
  while (ui.messages.childElementCount > MAX_ROWS) {
    const first = ui.messages.firstElementChild as HTMLLIElement;
    shown.delete(first.dataset.id ?? "");
    first.remove();
  }
  if (bulk) ui.messages.removeAttribute("aria-busy");
  updateEmpty();
  if (stick) scrollToEnd();
}

function updateEmpty(): void {
  ui.empty.hidden = ui.messages.childElementCount + ui.outgoing.childElementCount > 0;
}

function addOutgoing(text: string, clientMsgId: string): HTMLLIElement {
  const { li, note } = row(session?.username ?? "you", text.trim(), true);
  li.classList.add("pending");
  li.dataset.clientMsgId = clientMsgId;
  note.textContent = "Sending…";
  add(ui.outgoing, li);
  updateEmpty();
  scrollToEnd();
  return li;
}

function send(text: string, clientMsgId: string, li: HTMLLIElement): void {
  if (!client) return;
  client.send(text, { clientMsgId }).then(
    (ack) => acknowledged(li, ack),
    (err: unknown) => failed(li, text, clientMsgId, err),
  );
}

function acknowledged(li: HTMLLIElement, ack: SendResult): void {
  if (shown.has(ack.id)) {
    li.remove(); // the comment itself is already in the list
  } else {
    // The ack can beat the comment (batched delivery): keep the row until the comment lands.
    li.classList.remove("pending");
    li.dataset.id = ack.id;
    li.querySelector(".note")!.textContent = "✓ Sent";
  }
  updateEmpty();
}

function failed(li: HTMLLIElement, text: string, clientMsgId: string, err: unknown): void {
  if (!li.isConnected) return; // left the stream
  li.classList.remove("pending");
  li.classList.add("failed");
  const note = li.querySelector(".note")!;
  note.textContent = "Not sent";
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "link";
  retry.textContent = "Retry";
  retry.setAttribute("aria-label", `Retry sending: ${text.trim().slice(0, 40)}`);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove unsent message: ${text.trim().slice(0, 40)}`);
  add(note, " ", retry, " ", remove);
  retry.addEventListener("click", () => {
    li.classList.replace("failed", "pending");
    note.textContent = "Sending…";
    showError(ui.chatError, null);
    send(text, clientMsgId, li);
    ui.text.focus();
  });
  remove.addEventListener("click", () => {
    li.remove();
    updateEmpty();
    ui.text.focus();
  });
  showError(ui.chatError, plainError(err));
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

let client: ChatClient | null = null;
let streamId: string | null = null;

function setStatus(state: StateChange["state"], text: string): void {
  ui.status.dataset.state = state;
  ui.statusText.textContent = text;
}

function openChat(id: string): void {
  client?.close();
  streamId = id;
  if (location.hash.slice(1) !== id) location.hash = id;
  ui.join.hidden = true;
  ui.chat.hidden = false;
  ui.streamLabel.textContent = id;
  ui.messages.replaceChildren();
  ui.outgoing.replaceChildren();
  shown.clear();
  updateEmpty();
  ui.notice.textContent = "";
  showError(ui.chatError, null);

  const c = new ChatClient({ baseUrl: location.origin, streamId: id, credentials });
  client = c;
  c.on("state", (s) => setStatus(s.state, describeState(s)));
  c.on("history", ({ comments, resumed }) => {
    addComments(comments);
    if (resumed && comments.length > 0) {
      ui.notice.textContent = `Back online: ${comments.length} message${comments.length === 1 ? "" : "s"} you missed ${comments.length === 1 ? "is" : "are"} shown.`;
    }
  });
  c.on("reset", ({ comments }) => {
    addComments(comments, { replace: true });
    ui.notice.textContent = "You were away too long to catch up on everything; showing the latest messages.";
  });
  c.on("comment", (sc) => addComments([sc]));
  c.on("error", (err) => {
    if (err.code === "unauthorized" && session) session.expiresAt = 0; // sign in again next attempt
    showError(ui.chatError, plainError(err));
  });
  c.connect();
  ui.text.focus();
}

function leave(): void {
  client?.close();
  client = null;
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

async function join(name: string, id: string): Promise<void> {
  showError(ui.joinError, null);
  ui.joinButton.disabled = true;
  try {
    if (!session || session.username !== name) session = await signIn(name);
  } catch (err) {
    showError(ui.joinError, plainError(err));
    return;
  } finally {
    ui.joinButton.disabled = false;
  }
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

ui.newStream.addEventListener("click", () => {
  ui.stream.value = uuid();
  showError(ui.joinError, null);
  ui.stream.focus();
});

ui.join.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = ui.name.value.trim();
  if (!name) {
    showError(ui.joinError, "Enter your name.");
    ui.name.focus();
    return;
  }
  let id = parseStream(ui.stream.value);
  if (!id && ui.stream.value.trim() === "") id = ui.stream.value = uuid();
  if (!id) {
    showError(ui.joinError, "That is not a stream ID. Paste an ID like 3f2b…-…, or press “New stream”.");
    ui.stream.focus();
    return;
  }
  void join(name, id);
});

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value;
  if (text.trim() === "") return;
  if (codePointLength(text.trim()) > MAX_MESSAGE_CODE_POINTS) {
    showError(ui.chatError, plainError(new ChatError("message_too_long", "")));
    return;
  }
  showError(ui.chatError, null);
  ui.text.value = "";
  updateCounter();
  const clientMsgId = uuid();
  send(text, clientMsgId, addOutgoing(text, clientMsgId));
});

function updateCounter(): void {
  const n = codePointLength(ui.text.value.trim());
  ui.counter.textContent = n > MAX_MESSAGE_CODE_POINTS - 50 ? `${n} / ${MAX_MESSAGE_CODE_POINTS}` : "";
  ui.counter.classList.toggle("over", n > MAX_MESSAGE_CODE_POINTS);
}
ui.text.addEventListener("input", updateCounter);

ui.copyLink.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    ui.notice.textContent = "Link copied. Open it in another tab or send it to a friend.";
  } catch {
    ui.notice.textContent = `Share this link: ${location.href}`;
  }
});

ui.leave.addEventListener("click", leave);

window.addEventListener("hashchange", () => {
  const id = parseStream(location.hash);
  if (id && id !== streamId && session) openChat(id);
});

// Start: remember the name; a link with #<stream> joins straight away.
try {
  ui.name.value = localStorage.getItem(NAME_KEY) ?? "";
} catch {
  // Storage disabled.
}
const initial = parseStream(location.hash);
if (initial) ui.stream.value = initial;
if (initial && ui.name.value.trim()) void join(ui.name.value.trim(), initial);
else (ui.name.value ? ui.stream : ui.name).focus();
