/**
 * The moderator's tools and the viewer's composer on the demo page (issue 18 §6), in headless
 * Debian Chromium — which has no emoji font — against the real worker under `wrangler dev`, using
 * only commands the socket already has: blocked terms listed, added, refused and removed; timeout
 * lengths and the custom bounds; a ban confirmation that counts what it removes; the composer closed
 * with a live countdown while timed out or in slow mode's wait; refusals said on their row, with
 * Retry only where retrying can work; the pinned bar's icon drawn without an emoji font.
 */
import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BLOCKED_TERMS, MAX_BLOCKED_TERM_CODE_POINTS } from "../../src/protocol.js";
import { joinAs, startBrowserRig, type BrowserRig } from "../support/browser.js";
import { devToken } from "../support/worker.js";

let rig: BrowserRig;

beforeAll(async () => {
  rig = await startBrowserRig();
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

/** The streamer creates a stream on `s`, `viewerName` joins it on `v`; returns its id. */
async function openStream(s: Page, v: Page, viewerName = "viewer"): Promise<string> {
  await s.goto(rig.worker.url + "/");
  await s.getByRole("button", { name: "New stream" }).click();
  await joinAs(s, "streamer");
  await s.getByText("You own this stream").waitFor();
  const streamId = new URL(s.url()).hash.slice(1);
  await v.goto(`${rig.worker.url}/#${streamId}`);
  await joinAs(v, viewerName);
  return streamId;
}

async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The row of the message whose text is exactly `text`. */
const row = (page: Page, text: string) => page.locator("#messages li.msg").filter({ has: page.locator(".text", { hasText: new RegExp(`^${escape(text)}$`) }) });
/** Our own unsent row of `text`. */
const unsent = (page: Page, text: string) => page.locator("#outgoing li.failed").filter({ has: page.locator(".text", { hasText: text }) });

/** The seconds a countdown shows ("4 s left", "9:58 left", "1:00:00 left"). */
const secondsOf = (shown: string) => shown.replace(/ left$/, "").replace(/ s$/, "").split(":").reduce((acc, part) => acc * 60 + Number(part), 0);

/** Every frame the page's socket received, batches unwrapped (listen before the page connects). */
function recordFrames(page: Page): Array<Record<string, unknown>> {
  const frames: Array<Record<string, unknown>> = [];
  page.on("websocket", (ws) =>
    ws.on("framereceived", ({ payload }) => {
      if (typeof payload !== "string" || !payload.startsWith("{")) return;
      const f = JSON.parse(payload) as Record<string, unknown>;
      frames.push(...(f.type === "batch" ? (f.frames as Array<Record<string, unknown>>) : [f]));
    }),
  );
  return frames;
}

describe("demo page: the moderator's tools and the viewer's composer", () => {
  it("draws the pinned bar's pin without an emoji font", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    await openStream(s, v);
    await say(v, "pin this");
    await row(s, "pin this").getByRole("button", { name: "Pin message: pin this" }).click();
    for (const page of [s, v]) {
      const label = page.locator("#pinned .pin-label");
      await label.waitFor();
      // Nothing in the label needs an emoji font (Debian's Chromium has none: it drew a box).
      expect(await label.textContent()).not.toMatch(/\p{Extended_Pictographic}/u);
      expect((await label.textContent())?.trim()).toBe("Pinned");
      const icon = await label.locator("svg").boundingBox();
      expect(icon?.width).toBeGreaterThan(0);
      expect(icon?.height).toBeGreaterThan(0);
    }
    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("blocked terms: listed, added, a blocked message refused on its row without Retry, refusals inline, removed", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    const streamId = await openStream(s, v);

    await s.locator("#blocked-terms summary").click();
    await s.getByText("No blocked terms yet.").waitFor();
    const termBox = s.getByRole("textbox", { name: "Word or phrase to block" });
    await termBox.fill("  Spoiler ");
    await termBox.press("Enter");
    // Listed as the room stores it (folded), and the box is ready for the next one.
    await s.locator("#terms-list li", { hasText: "spoiler" }).waitFor();
    expect(await termBox.inputValue()).toBe("");
    expect(await s.locator("#terms-count").textContent()).toBe("(1)");

    // A message with it is refused: the reason on the row itself, Remove, and no Retry (it would be refused again).
    await say(v, "big SPOILER here");
    const refused = unsent(v, "big SPOILER here");
    await refused.locator(".reason", { hasText: "Your message contains a word this chat does not allow" }).waitFor();
    expect(await refused.getByRole("button", { name: /^Retry/ }).count()).toBe(0);
    expect(await refused.getByRole("button", { name: "Remove unsent message: big SPOILER here" }).count()).toBe(1);
    expect(await v.locator("#composer").getAttribute("data-gate")).toBe("open");

    // A term the room cannot store: its refusal (invalid_frame) beside the box, nothing added.
    await termBox.fill("x".repeat(MAX_BLOCKED_TERM_CODE_POINTS + 1));
    await termBox.press("Enter");
    await s.locator("#terms-error", { hasText: `a term has 1 to ${MAX_BLOCKED_TERM_CODE_POINTS} characters` }).waitFor();
    expect(await s.locator("#terms-list li").count()).toBe(1);

    // Full: 499 more through the actions route (the same owner), then the page's add is refused limit_reached.
    const { token } = await devToken(rig.worker.url, "streamer", streamId);
    for (let start = 0; start < MAX_BLOCKED_TERMS - 1; start += 100) {
      const add = Array.from({ length: Math.min(100, MAX_BLOCKED_TERMS - 1 - start) }, (_, i) => `filler${start + i}`);
      const res = await fetch(`${rig.worker.url}/v1/streams/${streamId}/chat/actions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "blocked_terms", add }),
      });
      expect(res.status).toBe(200);
    }
    // Reopening the panel reads the list again (blocked terms are not broadcast).
    await s.locator("#blocked-terms summary").click();
    await s.locator("#blocked-terms summary").click();
    await s.locator("#terms-count", { hasText: `(${MAX_BLOCKED_TERMS})` }).waitFor();
    await termBox.fill("one too many");
    await termBox.press("Enter");
    await s.locator("#terms-error", { hasText: `This chat already blocks ${MAX_BLOCKED_TERMS} terms, the most it can. Remove one first.` }).waitFor();

    // Remove one: gone from the list, from the room (a reload agrees), and the word may be said again.
    await s.getByRole("button", { name: "Remove blocked term spoiler" }).click();
    await s.locator("#terms-list li", { hasText: /^spoiler/ }).waitFor({ state: "detached" });
    await s.locator("#terms-count", { hasText: `(${MAX_BLOCKED_TERMS - 1})` }).waitFor();
    expect(await s.locator("#terms-error").isHidden()).toBe(true);
    await s.locator("#blocked-terms summary").click();
    await s.locator("#blocked-terms summary").click();
    await s.locator("#terms-count", { hasText: `(${MAX_BLOCKED_TERMS - 1})` }).waitFor();
    expect(await s.locator('#terms-list li[data-term="spoiler"]').count()).toBe(0);
    await say(v, "spoiler is fine now");
    await row(s, "spoiler is fine now").waitFor();

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("blocked terms: Hold for review sends a matching message to the review queue, where the streamer allows it (issue 18 §2, §6)", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    await openStream(s, v);
    await s.locator("#blocked-terms summary").click();
    await s.getByRole("textbox", { name: "Word or phrase to block" }).fill("giveaway");
    await s.getByRole("button", { name: "Hold for review" }).click();
    await s.locator("#terms-list li", { hasText: "giveaway" }).locator(".hint", { hasText: "held for review" }).waitFor();

    await say(v, "free GIVEAWAY link");
    await v.locator("#outgoing li", { hasText: "free GIVEAWAY link" }).locator(".note", { hasText: "Held for review" }).waitFor();
    const queue = s.locator("#review-panel");
    await queue.locator(".held-item", { hasText: "free GIVEAWAY link" }).waitFor();
    await queue.locator(".held-item", { hasText: "free GIVEAWAY link" }).getByRole("button", { name: /^Allow/ }).click();
    await row(v, "free GIVEAWAY link").waitFor();
    await row(s, "free GIVEAWAY link").waitFor();
  });

  it("blocked terms: a list read before a change made meanwhile does not undo that change", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    await openStream(s, v);
    await say(v, "a row to watch");
    await row(s, "a row to watch").waitFor();
    await s.locator("#terms-count", { hasText: "(0)" }).waitFor({ state: "attached" });
    // The state route's answer is taken from the server at once but handed to the page only later:
    // an answer from before the add below arriving after its ack.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held = 0;
    await s.route("**/chat/state", async (route) => {
      held++;
      const response = await route.fetch();
      await released;
      await route.fulfill({ response });
    });
    await s.locator("#blocked-terms summary").click(); // opening the panel reads the list again
    await expect.poll(() => held).toBe(1);
    const termBox = s.getByRole("textbox", { name: "Word or phrase to block" });
    await termBox.fill("racy");
    await termBox.press("Enter");
    await s.locator('#terms-list li[data-term="racy"]').waitFor();
    // The page redraws its rows once it has read a state answer: mark the row, release the stale
    // answer, and wait for the redraw (the answer fully handled) before looking at the list.
    await row(s, "a row to watch").evaluate((li) => li.setAttribute("data-before", ""));
    release();
    await s.locator("#messages li.msg:not([data-before])", { hasText: "a row to watch" }).waitFor();
    expect(await s.locator("#terms-list li").evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.term))).toEqual(["racy"]);
    expect(await s.locator("#terms-count").textContent()).toBe("(1)");

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("timeouts: the custom length is bounded, the viewer's composer counts down and opens by itself; Remove timeout opens it at once", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    const frames = recordFrames(s);
    await openStream(s, v);
    await say(v, "hello");

    await row(s, "hello").getByRole("button", { name: "Time out viewer" }).click();
    const dialog = s.getByRole("dialog", { name: "Time out viewer" });
    for (const preset of ["1 minute", "10 minutes", "1 hour", "24 hours", "Custom"]) expect(await dialog.getByRole("radio", { name: preset }).count()).toBe(1);
    expect(await dialog.getByRole("radio", { name: "10 minutes" }).isChecked()).toBe(true);
    // Out of bounds: said in the dialog, nothing sent.
    const custom = dialog.getByRole("spinbutton", { name: "Custom timeout in seconds" });
    await custom.fill("5");
    expect(await dialog.getByRole("radio", { name: "Custom" }).isChecked()).toBe(true);
    await dialog.getByRole("button", { name: "Time out" }).click();
    await dialog.locator("#timeout-error", { hasText: "Enter a whole number of seconds from 10 to 86,400 (24 hours)." }).waitFor();
    expect(await v.locator("#composer").getAttribute("data-gate")).toBe("open");
    // The shortest timeout there is, with a reason.
    await custom.fill("10");
    await dialog.getByRole("textbox", { name: "Reason (optional)" }).fill("calm down");
    await dialog.getByRole("button", { name: "Time out" }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(() => frames.find((f) => f.type === "moderation" && f.action === "timeout")).toMatchObject({ seconds: 10, reason: "calm down" });

    // The viewer's composer: closed, the reason said, a countdown that runs down and ends by itself.
    await v.locator('#composer[data-gate="muted"]').waitFor();
    expect(await v.locator("#restriction").textContent()).toBe("You are timed out: you can read the chat, but not send messages.");
    expect(await v.getByRole("textbox", { name: "Message" }).isDisabled()).toBe(true);
    const first = secondsOf((await v.locator("#gate-timer").textContent()) ?? "");
    expect(first).toBeGreaterThan(0);
    await v.waitForFunction((before) => {
      const shown = document.getElementById("gate-timer")?.textContent ?? "";
      const m = /^(\d+) s left$/.exec(shown);
      return m !== null && Number(m[1]) < before;
    }, first);
    await v.locator('#composer[data-gate="open"]').waitFor({ timeout: 20_000 });
    expect(await v.getByRole("textbox", { name: "Message" }).isEnabled()).toBe(true);
    expect(await v.locator("#gate-timer").textContent()).toBe("");
    await say(v, "I am back");
    await row(s, "I am back").waitFor();

    // A 24-hour timeout, lifted with Remove timeout: the composer opens on the unban event.
    await row(s, "I am back").getByRole("button", { name: "Time out viewer" }).click();
    await dialog.getByRole("radio", { name: "24 hours" }).check();
    await dialog.getByRole("button", { name: "Time out" }).click();
    await v.locator('#composer[data-gate="muted"]').waitFor();
    expect(secondsOf((await v.locator("#gate-timer").textContent()) ?? "")).toBeGreaterThan(23 * 3600);
    await s.getByRole("button", { name: "Remove timeout of viewer" }).click();
    await v.locator('#composer[data-gate="open"]').waitFor();

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("ban: the confirmation counts the viewer's messages and names their pinned one; Cancel bans nobody; the ban is announced to everyone", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const other = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    const streamId = await openStream(s, v);
    await other.page.goto(`${rig.worker.url}/#${streamId}`);
    await joinAs(other.page, "bystander");
    for (const text of ["one", "two", "three"]) await say(v, text);
    await say(other.page, "not me");
    await row(s, "two").getByRole("button", { name: "Pin message: two" }).click();
    await s.locator("#pinned-body .text", { hasText: "two" }).waitFor();

    await row(s, "three").getByRole("button", { name: "Ban viewer" }).click();
    const confirm = s.getByRole("dialog", { name: "Ban viewer?" });
    expect(await confirm.locator("#ban-effect").textContent()).toBe(
      "This removes 3 messages of theirs from the chat for everyone, including the pinned message. They can still read the chat. Unban lifts the ban, but does not bring the messages back.",
    );
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "hidden" });
    expect(await v.locator("#composer").getAttribute("data-gate")).toBe("open");
    expect(await row(s, "one").count()).toBe(1);

    await row(s, "three").getByRole("button", { name: "Ban viewer" }).click();
    await confirm.getByRole("textbox", { name: "Reason (optional)" }).fill("spam");
    await confirm.getByRole("button", { name: "Ban", exact: true }).click();
    await confirm.waitFor({ state: "hidden" });
    for (const page of [s, v, other.page]) {
      await page.locator("#messages li.notice-line", { hasText: "Messages from viewer were removed by a moderator." }).waitFor();
      await page.locator("#pinned").waitFor({ state: "hidden" });
      expect(await page.locator("#messages li.msg .text").allTextContents()).toEqual(["not me"]);
    }
    // The notice sits where the ban happened: after the messages before it, before those after it.
    await say(other.page, "after the ban");
    await row(s, "after the ban").waitFor();
    expect(await s.locator("#messages > li").evaluateAll((lis) => lis.map((li) => li.className.includes("notice-line") ? "notice" : li.querySelector(".text")?.textContent))).toEqual([
      "not me",
      "notice",
      "after the ban",
    ]);
    await v.locator('#composer[data-gate="banned"]').waitFor();

    for (const p of [streamer, viewer, other]) expect(p.problems).toEqual([]);
  });

  it("slow mode: the viewer's own message starts the wait; a reloaded page learns it from the refusal (no Retry); turning slow mode off opens the composer", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    await openStream(s, v);
    await s.locator("#slow-mode").selectOption("60");
    await v.getByText("Slow mode: one message every 60 seconds.").waitFor();

    await say(v, "first");
    await row(v, "first").waitFor();
    await v.locator('#composer[data-gate="slow"]').waitFor();
    expect(await v.locator("#restriction").textContent()).toBe("Slow mode is on: wait before sending your next message.");
    expect(secondsOf((await v.locator("#gate-timer").textContent()) ?? "")).toBeGreaterThan(50);
    expect(await v.locator("#send-button").isDisabled()).toBe(true);
    // Typing ahead is fine; Enter sends nothing while the wait runs.
    const box = v.getByRole("textbox", { name: "Message" });
    expect(await box.isEnabled()).toBe(true);
    await box.fill("typed ahead");
    await box.press("Enter");
    expect(await box.inputValue()).toBe("typed ahead");
    expect(await v.locator("#outgoing li").count()).toBe(0);

    // A reload forgets the last message; the room does not: its refusal says how long, the row says why.
    await v.reload();
    await v.locator('#status[data-state="open"]').waitFor();
    expect(await v.locator("#composer").getAttribute("data-gate")).toBe("open");
    await say(v, "second");
    const refused = unsent(v, "second");
    await refused.locator(".reason", { hasText: "Slow mode is on." }).waitFor();
    expect(await refused.getByRole("button", { name: /^Retry/ }).count()).toBe(0);
    await v.locator('#composer[data-gate="slow"]').waitFor();
    expect(secondsOf((await v.locator("#gate-timer").textContent()) ?? "")).toBeGreaterThan(30);

    // Slow mode off: the wait is over at once. Staff were never held.
    await s.locator("#slow-mode").selectOption("0");
    await v.locator('#composer[data-gate="open"]').waitFor();
    await say(v, "third");
    await row(s, "third").waitFor();
    await s.locator("#slow-mode").selectOption("60");
    await say(s, "staff one");
    await say(s, "staff two");
    await row(v, "staff two").waitFor();
    expect(await s.locator("#composer").getAttribute("data-gate")).toBe("open");

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems.filter((p) => !/WebSocket/.test(p))).toEqual([]);
  });

  it("a transient refusal (room_busy after the SDK's own retries) offers Retry, and Retry sends it", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    // While `busy`, the viewer's messages are answered room_busy in transit instead of reaching the room.
    let busy = true;
    let refusals = 0;
    await viewer.context.routeWebSocket(/\/ws\/streams\//, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const frame = typeof m === "string" && m.startsWith("{") ? (JSON.parse(m) as { type?: string; client_msg_id?: string }) : null;
        if (busy && frame?.type === "message") {
          refusals++;
          ws.send(JSON.stringify({ type: "error", code: "room_busy", message: "busy", retry_after_ms: 1, client_msg_id: frame.client_msg_id }));
          return;
        }
        server.send(m);
      });
      server.onMessage((m) => ws.send(m));
    });
    await openStream(s, v);

    await say(v, "try me");
    const failed = unsent(v, "try me");
    await failed.locator(".reason", { hasText: "The chat is very busy right now." }).waitFor();
    expect(refusals).toBeGreaterThan(1); // the SDK resent it itself first
    expect(await v.locator("#composer").getAttribute("data-gate")).toBe("open");
    busy = false;
    await failed.getByRole("button", { name: "Retry sending: try me" }).click();
    await row(s, "try me").waitFor();
    await row(v, "try me").waitFor();
    expect(await v.locator("#outgoing li").count()).toBe(0);

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("a refusal the room no longer stands by does not hold the composer past a reconnect: the welcome is the truth", async () => {
    const streamer = await rig.person();
    const viewer = await rig.person();
    const [s, v] = [streamer.page, viewer.page];
    // One `banned` refusal for a ban the room never made (as if it was lifted while the event was lost).
    let refuse = true;
    await viewer.context.routeWebSocket(/\/ws\/streams\//, (ws: WebSocketRoute) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const frame = typeof m === "string" && m.startsWith("{") ? (JSON.parse(m) as { type?: string; client_msg_id?: string }) : null;
        if (refuse && frame?.type === "message") {
          refuse = false;
          ws.send(JSON.stringify({ type: "error", code: "banned", message: "banned", client_msg_id: frame.client_msg_id }));
          return;
        }
        server.send(m);
      });
      server.onMessage((m) => ws.send(m));
    });
    await openStream(s, v);

    await say(v, "am I banned?");
    await unsent(v, "am I banned?").locator(".reason", { hasText: "You are banned from this chat." }).waitFor();
    expect(await unsent(v, "am I banned?").getByRole("button", { name: /^Retry/ }).count()).toBe(0);
    await v.locator('#composer[data-gate="banned"]').waitFor();
    // Offline and back: the room's welcome does not say banned, so the composer opens.
    await viewer.context.setOffline(true);
    await v.locator('#status[data-state="reconnecting"]').waitFor();
    await viewer.context.setOffline(false);
    await v.locator('#status[data-state="open"]').waitFor();
    await v.locator('#composer[data-gate="open"]').waitFor();
    await say(v, "not banned after all");
    await row(s, "not banned after all").waitFor();

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems.filter((p) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(p))).toEqual([]);
  });
});
