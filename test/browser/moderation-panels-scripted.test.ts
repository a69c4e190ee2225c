/**
 * Issue 18's page panels in headless Chromium against a SCRIPTED room: the page, the dev sign-in
 * and tickets come from the real worker under `wrangler dev`, but the chat socket is answered by this
 * test (Playwright's routeWebSocket) with frames of the wire contract (src/protocol.ts), and the staff
 * HTTP reads (modlog, user card) by page.route. So it checks the page and the SDK against the
 * contract on its own — what each panel shows, what each button sends — independently of the room's
 * rules. The same panels against the real room, and the raid of issue 18 §5, are in
 * moderation-panels.test.ts and raid.test.ts.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import type { BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, joinAs, startBrowserRig, type BrowserRig } from "../support/browser.js";

let rig: BrowserRig;

beforeAll(async () => {
  rig = await startBrowserRig();
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

type Frame = Record<string, unknown>;

/**
 * One scripted room for one page: answers each command with `answer` (ack + the frames it returns)
 * and records every frame the page sent. Sequenced frames get the next seq.
 */
class ScriptedRoom {
  sent: Frame[] = [];
  seq = 0;
  ws: WebSocketRoute | null = null;
  readonly streamId: string;
  user = { id: "", username: "" };

  constructor(
    readonly welcome: (room: ScriptedRoom) => Frame,
    readonly history: (room: ScriptedRoom) => Frame[],
    readonly answer: (room: ScriptedRoom, f: Frame) => Frame[] = () => [],
    streamId = randomUUID(),
  ) {
    this.streamId = streamId;
  }

  async attach(context: BrowserContext): Promise<void> {
    await context.routeWebSocket(/\/ws\/streams\//, (ws) => {
      this.ws = ws;
      ws.onMessage((raw) => {
        const f = JSON.parse(String(raw)) as Frame;
        this.sent.push(f);
        if (f.type === "ping") return ws.send(JSON.stringify({ type: "pong" }));
        const out = this.answer(this, f);
        if (typeof f.client_msg_id === "string" && !out.some((o) => o.type === "held" || o.type === "error" || o.type === "ack")) {
          const seq = out.find((o) => typeof o.seq === "number")?.seq;
          out.unshift({ type: "ack", client_msg_id: f.client_msg_id, ...(seq !== undefined ? { seq } : {}) });
        }
        for (const o of out) ws.send(JSON.stringify(o));
      });
      ws.send(JSON.stringify(this.welcome(this)));
      for (const h of this.history(this)) ws.send(JSON.stringify(h));
    });
  }

  /** A sequenced moderation frame with the next seq. */
  mod(f: Frame): Frame {
    return { type: "moderation", seq: ++this.seq, by: this.user.id, ...f };
  }

  push(f: Frame): void {
    this.ws!.send(JSON.stringify(f));
  }

  /** Waits until the page sent a frame matching `pred` (fails with what it sent). */
  async waitSent(page: Page, pred: (f: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const f = this.sent.find(pred);
      if (f) return f;
      if (Date.now() > deadline) throw new Error(`the page never sent ${what}; it sent ${JSON.stringify(this.sent.filter((x) => x.type !== "ping"))}`);
      await page.waitForTimeout(50);
    }
  }
}

const comment = (streamId: string, user: { id: string; username: string }, message: string, id = randomUUID()) => ({
  id,
  stream_id: streamId,
  user_id: user.id,
  username: user.username,
  message,
  created_at: new Date().toISOString(),
});

/** Signs in on the page (dev token, real worker) with the socket scripted; `room.user` is then who we are. */
async function enter(page: Page, room: ScriptedRoom, name: string, owner: boolean): Promise<void> {
  // The real sign-in, read on its way back so the scripted welcome names the same user.
  await page.route("**/dev/token", async (route) => {
    const res = await route.fetch();
    const body = (await res.json()) as { user_id: string; username: string };
    room.user = { id: body.user_id, username: body.username };
    await route.fulfill({ response: res, json: body });
  });
  await page.goto(`${rig.worker.url}/#${room.streamId}`);
  if (owner) {
    // As "New stream" does, for this stream id: the dev token makes us its owner.
    await page.evaluate((id) => localStorage.setItem("chat.owned", JSON.stringify([id])), room.streamId);
    await page.reload();
  }
  await joinAs(page, name);
}

describe("staff panels against a scripted room", () => {
  it("review queue (counts, J/K/A/D), lockdown, chat modes, title, purge, user card, mod log, hidden comments", async () => {
    const { context, page, problems } = await rig.person({ width: 1000, height: 1100 });
    const raider = { id: randomUUID(), username: "raider" };
    const fan = { id: randomUUID(), username: "fan" };
    let raidIds: string[] = [];
    const heldA = randomUUID();
    const heldB = randomUUID();
    const heldC = randomUUID();
    const room: ScriptedRoom = new ScriptedRoom(
      (r) => ({ type: "welcome", stream_id: r.streamId, user: r.user, seq: r.seq, epoch: "e1", role: "owner", viewers: 3, title: "Friday speedruns", modes: { emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false }, lockdown: false }),
      (r) => {
        const raid = [comment(r.streamId, raider, "follow my channel"), comment(r.streamId, fan, "hello"), comment(r.streamId, raider, "FOLLOW my channel now")];
        raidIds = [raid[0]!.id, raid[2]!.id];
        const comments = raid.map((c) => ({ seq: ++r.seq, comment: c }));
        const queue = [heldA, heldB, heldC].map((id, i) => ({ id, comment: comment(r.streamId, raider, `held ${i + 1}`, id), reason: i === 0 ? "blocked_term" : "first_time", held_at: new Date().toISOString(), expires_at: new Date(Date.now() + 600_000).toISOString() }));
        return [{ type: "history", comments, recovered: false }, { type: "review_queue", items: queue }];
      },
      (r, f) => {
        switch (f.type) {
          case "review":
            return [r.mod({ action: "review", id: f.id, decision: f.decision, user_id: raider.id })];
          case "lockdown":
            return [r.mod({ action: "lockdown", on: f.on, modes: f.on ? { emote_only: false, unique_s: 600, members_only: false, account_age_s: 3600, first_time_hold: true } : { emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false }, seconds: f.on ? 30 : 0 })];
          case "chat_mode":
            return [r.mod({ action: "chat_mode", mode: f.mode, on: f.on, ...(f.seconds !== undefined ? { seconds: f.seconds } : {}) })];
          case "title":
            return [r.mod({ action: "title", title: f.title })];
          case "purge":
            return [r.mod({ action: "purge", phrase: String(f.phrase).toLowerCase(), seconds: f.seconds, deleted: raidIds, then: f.then, users: [raider.id] })];
          case "timeout":
            return [r.mod({ action: "timeout", user_id: f.user_id, seconds: f.seconds, until: new Date(Date.now() + Number(f.seconds) * 1000).toISOString() })];
          case "warn":
            return [r.mod({ action: "warn", user_id: f.user_id, reason: f.reason })];
          case "unban":
            return [r.mod({ action: "unban", user_id: f.user_id, lifted: ["ban"] })];
          default:
            return [];
        }
      },
    );
    await room.attach(context);
    const cardFor = (userId: string) => ({
      user_id: userId,
      username: "raider",
      role: "viewer",
      messages: 42,
      first_message_at: new Date(Date.now() - 3_600_000).toISOString(),
      account_created_at: new Date(Date.now() - 2 * 86_400_000).toISOString(),
      banned: false,
      muted_until: null,
      hidden: false,
      warning_pending: false,
      history: [{ seq: 3, action: "timeout", by: room.user.id, at: new Date().toISOString(), target: userId, reason: "spam links", details: { seconds: 600 } }],
    });
    const modlogQueries: string[] = [];
    await context.route(/\/chat\/users\//, (route) => route.fulfill({ json: cardFor(new URL(route.request().url()).pathname.split("/").pop()!) }));
    await context.route(/\/chat\/modlog/, (route) => {
      const url = new URL(route.request().url());
      modlogQueries.push(url.search);
      const older = url.searchParams.has("before");
      const entries = older
        ? [{ seq: 1, action: "ban", by: room.user.id, at: new Date().toISOString(), target: raider.id, reason: "hate", details: {} }]
        : [{ seq: 2, action: "slow_mode", by: room.user.id, at: new Date().toISOString(), details: { seconds: 30 } }];
      return route.fulfill({ json: older ? { entries } : { entries, next_before: 2 } });
    });

    await enter(page, room, "streamer", true);
    await page.getByText("You own this stream").waitFor();

    // The title replaces the UUID.
    await page.locator("#chat-title", { hasText: "Friday speedruns" }).waitFor();
    expect(await page.locator("#stream-label").isHidden()).toBe(true);
    expect(await page.title()).toBe("Friday speedruns — Live chat");

    // Review queue: three held messages, counted; J/K move, A allows, D denies the selected one.
    const panel = page.locator("#review-panel");
    await panel.locator(".badge", { hasText: "3" }).waitFor();
    await panel.getByText("Keys: J / K move between messages, A allows and D denies the selected one.").waitFor();
    expect(await panel.locator(".held-item .reason").allTextContents()).toEqual(["contains a held term", "first message in this chat", "first message in this chat"]);
    await panel.locator(".held-item").first().focus();
    await page.keyboard.press("j");
    await page.keyboard.press("j");
    await page.keyboard.press("k");
    await page.keyboard.press("a"); // the second one
    expect(await room.waitSent(page, (f) => f.type === "review", "a review")).toMatchObject({ id: heldB, decision: "allow" });
    await panel.locator(".badge", { hasText: "2" }).waitFor();
    await panel.locator(".counts", { hasText: "2 messages waiting · 1 allowed · 0 denied" }).waitFor();
    // Focus moved on to the next message, so D decides it without another key.
    await page.keyboard.press("d");
    expect(await room.waitSent(page, (f) => f.type === "review" && f.decision === "deny", "a deny")).toMatchObject({ id: heldC });
    await panel.getByRole("button", { name: "Allow message from raider: held 1" }).click();
    await panel.getByText("Nothing is waiting for review.").waitFor();

    // Lockdown in one click; the button says what it does now.
    await page.getByRole("button", { name: "Lockdown" }).click();
    await room.waitSent(page, (f) => f.type === "lockdown" && f.on === true, "lockdown on");
    await page.getByRole("button", { name: "End lockdown" }).waitFor();
    expect(await page.locator("#lockdown-button").getAttribute("aria-pressed")).toBe("true");
    await page.locator(".lockdown-state", { hasText: "Lockdown is on. Slow mode 30 seconds." }).waitFor();

    // Chat modes and the title.
    await page.locator("#modes-panel > summary").click();
    expect(await page.getByLabel("Hold first messages for review").isChecked()).toBe(true); // from the lockdown
    await page.getByLabel("Emote-only: messages may only contain emoji").check();
    expect(await room.waitSent(page, (f) => f.type === "chat_mode", "a chat_mode")).toMatchObject({ mode: "emote_only", on: true });
    // Unique chat is on from the lockdown (600 s): a new window is sent when the field is left.
    expect(await page.getByLabel("Unique chat: refuse repeats").isChecked()).toBe(true);
    expect(await page.getByLabel("within (seconds)").inputValue()).toBe("600");
    await page.getByLabel("within (seconds)").fill("120");
    await page.getByLabel("within (seconds)").press("Tab");
    expect(await room.waitSent(page, (f) => f.type === "chat_mode" && f.mode === "unique", "a unique window")).toMatchObject({ on: true, seconds: 120 });
    await page.getByLabel("Members-only").first().check();
    expect(await room.waitSent(page, (f) => f.type === "chat_mode" && f.mode === "members_only", "members-only")).toMatchObject({ on: true });
    await page.getByLabel("Stream title").fill("Raid cleanup");
    await page.getByRole("button", { name: "Save title" }).click();
    await page.locator("#chat-title", { hasText: "Raid cleanup" }).waitFor();
    // The owner's preset editor.
    await page.locator("#lockdown-preset > summary").click();
    await page.getByLabel("Slow mode (seconds)").fill("60");
    await page.getByRole("button", { name: "Save preset" }).click();
    expect(await room.waitSent(page, (f) => f.type === "lockdown_preset", "a preset")).toMatchObject({ preset: { slow_mode_s: 60, unique_s: 0, account_age_s: 3600, first_time_hold: true, emote_only: false, members_only: false } });

    // "Remove similar" on a raid message: phrase prefilled, then ban.
    const raidRow = page.locator("#messages li", { hasText: "follow my channel" }).first();
    await raidRow.getByRole("button", { name: "Remove messages similar to: follow my channel" }).click();
    const dialog = page.getByRole("dialog", { name: "Remove similar messages" });
    expect(await dialog.getByLabel("Messages containing").inputValue()).toBe("follow my channel");
    await dialog.getByText("2 messages shown here match.").waitFor();
    await dialog.getByLabel("Then").selectOption("ban");
    await dialog.getByRole("button", { name: "Remove and ban" }).click();
    expect(await room.waitSent(page, (f) => f.type === "purge", "a purge")).toMatchObject({ phrase: "follow my channel", seconds: 300, then: "ban" });
    await dialog.waitFor({ state: "hidden" });
    await page.locator("#messages li", { hasText: "follow my channel" }).first().waitFor({ state: "detached" });
    expect(await page.locator("#messages li .text").allTextContents()).toEqual(["hello"]);
    await page.locator("#banned-list li", { hasText: "raider" }).waitFor(); // the purge's ban reached the banned list

    // A hidden user's comment: marked for staff.
    room.push({ type: "hidden_comment", comment: comment(room.streamId, raider, "you cannot see me") });
    await page.locator("#messages li.hidden-comment", { hasText: "you cannot see me" }).locator(".hidden-mark", { hasText: "hidden" }).waitFor();

    // The user card, from the name on a message.
    await page.locator("#messages li", { hasText: "you cannot see me" }).getByRole("button", { name: "Open the user card of raider" }).click();
    const card = page.getByRole("dialog", { name: "raider" });
    await card.getByText("42 (first 1 hour ago)").waitFor();
    await card.getByText("2 days ago", { exact: false }).waitFor();
    await card.getByText("Moderation history: 1 timeout · 0 bans · 0 warnings").waitFor();
    await card.locator(".card-history .reason", { hasText: "spam links" }).waitFor();
    await card.getByLabel("Time out for").selectOption("3600");
    await card.getByRole("button", { name: "Time out raider" }).click();
    expect(await room.waitSent(page, (f) => f.type === "timeout", "a timeout")).toMatchObject({ user_id: raider.id, seconds: 3600 });
    await card.getByLabel("Time out for").selectOption("custom");
    await card.getByLabel("Minutes").fill("90");
    await card.getByRole("button", { name: "Time out raider" }).click();
    await room.waitSent(page, (f) => f.type === "timeout" && f.seconds === 5400, "a 90-minute timeout");
    await card.getByRole("button", { name: "Warn raider" }).click();
    await card.getByRole("alert").filter({ hasText: "Enter the reason for the warning" }).waitFor();
    await card.getByLabel("Reason").fill("no self-promotion");
    await card.getByRole("button", { name: "Warn raider" }).click();
    expect(await room.waitSent(page, (f) => f.type === "warn", "a warn")).toMatchObject({ user_id: raider.id, reason: "no self-promotion" });
    await card.getByRole("button", { name: "Ban raider" }).click();
    await card.getByRole("button", { name: /^Confirm ban \(removes 1 recent message shown here\)$/ }).waitFor();
    await card.getByRole("button", { name: "Cancel" }).click();
    await page.keyboard.press("Escape");
    await card.waitFor({ state: "hidden" });

    // The mod log: a page over HTTP, older on demand, live entries on top, Unban in one click.
    await page.locator("#modlog-panel > summary").click();
    await page.locator("#modlog-panel .modlog-entry", { hasText: "set slow mode to 30 seconds" }).waitFor();
    await page.getByRole("button", { name: "Load older" }).click();
    await page.locator("#modlog-panel .modlog-entry", { hasText: "banned raider" }).waitFor();
    expect(modlogQueries).toEqual(["?limit=50", "?before=2&limit=50"]);
    room.push({ type: "modlog", entry: { seq: 3, action: "purge", by: room.user.id, at: new Date().toISOString(), details: { phrase: "follow my channel", deleted: raidIds, users: [raider.id], then: "ban" } } });
    await page.locator("#modlog-panel .modlog-entry").first().filter({ hasText: "removed 2 messages containing “follow my channel” and banned 1 user" }).waitFor();
    await page.locator("#modlog-panel").getByRole("button", { name: "Unban raider" }).click();
    expect(await room.waitSent(page, (f) => f.type === "unban", "an unban")).toMatchObject({ user_id: raider.id });

    // A picture of the panels (test-artifacts/), with a held message waiting.
    room.push({ type: "held", id: randomUUID(), comment: comment(room.streamId, fan, "is this allowed?"), reason: "blocked_term", expires_at: new Date(Date.now() + 300_000).toISOString() });
    await panel.locator(".badge", { hasText: "1" }).waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/moderation-panels.png`, fullPage: true });

    expect(problems).toEqual([]);
  });
});

describe("viewer notices against a scripted room", () => {
  it("warning with I understand (composer locked until then), held row → denied with no Retry, modes line, title", async () => {
    const { context, page, problems } = await rig.person();
    const mod = randomUUID();
    let heldId = "";
    const room: ScriptedRoom = new ScriptedRoom(
      (r) => ({
        type: "welcome",
        stream_id: r.streamId,
        user: r.user,
        seq: 0,
        epoch: "e1",
        role: "viewer",
        title: "Cozy stream",
        modes: { emote_only: false, unique_s: 600, members_only: false, account_age_s: 0, first_time_hold: true },
        warning: { reason: "Please keep it friendly", by: mod, at: new Date().toISOString() },
      }),
      () => [{ type: "history", comments: [], recovered: false }],
      (r, f) => {
        if (f.type === "acknowledge_warning") return [{ type: "moderation", seq: ++r.seq, action: "warning_acknowledged", user_id: r.user.id, by: r.user.id }];
        if (f.type === "message") {
          heldId = randomUUID();
          return [{ type: "held", id: heldId, client_msg_id: f.client_msg_id, expires_at: new Date(Date.now() + 600_000).toISOString() }];
        }
        return [];
      },
    );
    await room.attach(context);
    await enter(page, room, "newcomer", false);

    await page.locator("#chat-title", { hasText: "Cozy stream" }).waitFor();
    await page.locator("#modes-info", { hasText: "Unique chat: no repeating a message sent in the last 10 minutes. First messages are held until a moderator approves them." }).waitFor();
    const banner = page.getByRole("alert").filter({ hasText: "A moderator warned you: Please keep it friendly" });
    await banner.waitFor();
    expect(await page.getByRole("textbox", { name: "Message" }).isDisabled()).toBe(true);
    await banner.getByRole("button", { name: "I understand" }).click();
    await room.waitSent(page, (f) => f.type === "acknowledge_warning", "acknowledge_warning");
    await banner.waitFor({ state: "hidden" });
    const box = page.getByRole("textbox", { name: "Message" });
    expect(await box.isEnabled()).toBe(true);

    await box.fill("hi everyone, first time here");
    await box.press("Enter");
    const row = page.locator("#outgoing li", { hasText: "hi everyone, first time here" });
    await row.locator(".note", { hasText: "Held for review" }).waitFor();
    room.push({ type: "moderation", seq: ++room.seq, action: "review", id: heldId, decision: "deny", user_id: room.user.id, by: mod });
    await row.locator(".note", { hasText: "Not approved by a moderator" }).waitFor();
    expect(await row.getByRole("button", { name: /Retry/ }).count()).toBe(0);
    await row.getByRole("button", { name: "Remove: hi everyone, first time here" }).click();
    await row.waitFor({ state: "detached" });
    expect(await page.locator("#staff-panels").isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });
});
