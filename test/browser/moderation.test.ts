/**
 * Room events in a real browser (headless Chromium) against the real worker under `wrangler dev`:
 * a streamer creates a stream (dev token with `owner_of`), a viewer joins it from the link, and
 * they go through replies, mentions, links, edits, pins, deletions, a role grant, a timeout, a ban
 * and an unban. After each step both pages show the same state, built by the SDK's store.
 */
import { mkdirSync } from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, joinAs, startBrowserRig, type BrowserRig } from "../support/browser.js";
import type { RunningWorker } from "../support/worker.js";

let rig: BrowserRig;
let worker: RunningWorker;

beforeAll(async () => {
  rig = await startBrowserRig();
  worker = rig.worker;
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

const person = (viewport?: { width: number; height: number }) => rig.person(viewport, undefined);

async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

/** The row of the message whose text is exactly `text`. */
const row = (page: Page, text: string) => page.locator("#messages li.msg").filter({ has: page.locator(".text", { hasText: new RegExp(`^${escape(text)}$`) }) });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** What a page shows: messages (seq, author, text, edited, quote) and the pinned bar. */
async function state(page: Page) {
  const messages = await page.$$eval("#messages li.msg", (lis) =>
    lis.map((li) => ({
      seq: Number((li as HTMLElement).dataset.seq),
      author: li.querySelector(".author")?.textContent ?? "",
      text: li.querySelector(".text")?.textContent ?? "",
      edited: li.querySelector(".edited") !== null,
      quote: li.querySelector(".quote")?.textContent ?? null,
    })),
  );
  const pinned = await page.locator("#pinned").evaluate((e) => ((e as HTMLElement).hidden ? null : (e.querySelector("#pinned-body .text")?.textContent ?? "")));
  return { messages, pinned };
}

/** Waits until both pages show the same state, and returns it (fails with both states otherwise). */
async function same(a: Page, b: Page, what: string, check: (s: Awaited<ReturnType<typeof state>>) => boolean) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [sa, sb] = [await state(a), await state(b)];
    if (JSON.stringify(sa) === JSON.stringify(sb) && check(sa)) return sa;
    if (Date.now() > deadline) throw new Error(`${what}: pages differ or check failed\nstreamer: ${JSON.stringify(sa)}\nviewer:   ${JSON.stringify(sb)}`);
    await a.waitForTimeout(100);
  }
}

describe("demo page: a streamer and a viewer with room events", () => {
  it("reply, mention, link, edit, pin, delete, role, timeout, ban, unban — the same on both pages", async () => {
    const streamer = await person();
    const viewer = await person();
    const s = streamer.page;
    const v = viewer.page;

    // The streamer creates a stream and owns it; the viewer joins from the link.
    await s.goto(worker.url + "/");
    await s.getByRole("button", { name: "New stream" }).click();
    expect(await s.locator("#join-button").textContent()).toBe("Create stream");
    await joinAs(s, "streamer");
    await s.getByText("You own this stream").waitFor();
    const streamId = new URL(s.url()).hash.slice(1);
    await v.goto(`${worker.url}/#${streamId}`);
    await joinAs(v, "viewer");
    expect(await v.locator("#role-label").textContent()).toBe("");
    expect(await v.locator("#mod-tools").isHidden()).toBe(true);
    await v.locator("#viewers", { hasText: "2 watching" }).waitFor();

    // The viewer posts twice; the streamer pins the first.
    await say(v, "hello from viewer");
    await say(v, "second message");
    await same(s, v, "viewer's messages", (x) => x.messages.length === 2);
    await row(s, "hello from viewer").getByRole("button", { name: "Pin message: hello from viewer" }).click();
    await same(s, v, "pinned", (x) => x.pinned === "hello from viewer");
    // Viewers get no moderation buttons.
    expect(await row(v, "hello from viewer").getByRole("button", { name: /^Pin|^Ban|^Time out/ }).count()).toBe(0);

    // The streamer replies with a mention and a link (and a javascript: text that must stay text).
    await row(s, "hello from viewer").getByRole("button", { name: "Reply to viewer: hello from viewer" }).click();
    await s.locator("#composer-context", { hasText: "Replying to viewer" }).waitFor();
    const reply = "@viewer look https://example.com/a?b=1 not javascript:alert(1)";
    await say(s, reply);
    await same(s, v, "reply", (x) => x.messages.some((m) => m.text === reply && m.quote === "↪ viewer hello from viewer"));
    for (const page of [s, v]) {
      const r = row(page, reply);
      const link = r.locator("a");
      expect(await link.count()).toBe(1);
      expect(await link.getAttribute("href")).toBe("https://example.com/a?b=1");
      expect(await link.getAttribute("rel")).toBe("noopener noreferrer nofollow");
      expect(await link.getAttribute("target")).toBe("_blank");
      expect(await link.textContent()).toBe("https://example.com/a?b=1");
      expect(await r.locator(".mention").textContent()).toBe("@viewer");
      expect(await page.locator('#messages a[href^="javascript:" i]').count()).toBe(0);
    }
    // The viewer's own mention is highlighted more.
    expect(await row(v, reply).locator(".mention.me").count()).toBe(1);
    expect(await row(s, reply).locator(".mention.me").count()).toBe(0);

    // A message that is only a javascript: URL never becomes a link either.
    await say(s, "javascript:alert(document.cookie)");
    await same(s, v, "javascript text", (x) => x.messages.some((m) => m.text === "javascript:alert(document.cookie)"));
    expect(await v.locator("#messages a").count()).toBe(1);

    // The streamer edits the reply.
    await row(s, reply).getByRole("button", { name: /^Edit your message/ }).click();
    expect(await s.getByRole("textbox", { name: "Message" }).inputValue()).toBe(reply);
    const edited = "@viewer look https://example.com/a?b=1 (fixed)";
    await s.getByRole("textbox", { name: "Message" }).fill(edited);
    await s.getByRole("textbox", { name: "Message" }).press("Enter");
    await same(s, v, "edit", (x) => x.messages.some((m) => m.text === edited && m.edited));
    expect(await row(v, edited).locator("a").getAttribute("rel")).toBe("noopener noreferrer nofollow");

    // Make the viewer a moderator, then a viewer again.
    await row(s, "second message").getByRole("button", { name: "Make moderator: viewer" }).click();
    await v.getByText("You are a moderator").waitFor();
    expect(await v.locator("#mod-tools").isVisible()).toBe(true);
    await row(s, "second message").getByRole("button", { name: "Remove moderator role from viewer" }).click();
    await v.locator("#role-label:empty").waitFor({ state: "attached" });
    await v.locator("#mod-tools").waitFor({ state: "hidden" });

    // Slow mode: the viewer is told.
    await s.locator("#slow-mode").selectOption("30");
    await v.getByText("Slow mode: one message every 30 seconds.").waitFor();
    await s.locator("#slow-mode").selectOption("0");
    await v.locator("#slow-info:empty").waitFor({ state: "attached" });

    // The streamer deletes the viewer's pinned message: gone on both pages, and so is the pin.
    await row(s, "hello from viewer").getByRole("button", { name: "Delete message: hello from viewer" }).click();
    await same(s, v, "delete", (x) => !x.messages.some((m) => m.text === "hello from viewer") && x.pinned === null);

    // Timeout (the dialog's default, 10 minutes): the viewer's composer closes, saying why and how long.
    await row(s, "second message").getByRole("button", { name: "Time out viewer" }).click();
    await s.getByRole("dialog", { name: "Time out viewer" }).getByRole("button", { name: "Time out" }).click();
    await s.getByRole("dialog").waitFor({ state: "hidden" });
    await v.locator("#restriction", { hasText: "You are timed out" }).waitFor();
    expect(await v.locator("#gate-timer").textContent()).toMatch(/^(9:\d\d|10:00) left$/);
    expect(await v.getByRole("textbox", { name: "Message" }).isDisabled()).toBe(true);
    expect(await v.locator("#send-button").isDisabled()).toBe(true);
    // The streamer's list offers to lift it (an `unban` lifts a timeout too).
    await s.locator("#banned-list li", { hasText: "viewer" }).getByRole("button", { name: "Remove timeout of viewer" }).waitFor();

    // Ban, after a confirmation that says what it removes: the viewer's comments vanish everywhere,
    // both pages say so, and the streamer sees them in the banned list.
    await row(s, "second message").getByRole("button", { name: "Ban viewer" }).click();
    const confirm = s.getByRole("dialog", { name: "Ban viewer?" });
    expect(await confirm.locator("#ban-effect").textContent()).toMatch(/^This removes 1 message of theirs from the chat for everyone\./);
    await confirm.getByRole("button", { name: "Ban", exact: true }).click();
    await same(s, v, "ban", (x) => x.messages.every((m) => m.author !== "viewer"));
    for (const page of [s, v]) await page.locator("#messages li.notice-line", { hasText: "Messages from viewer were removed by a moderator." }).waitFor();
    await v.locator("#restriction", { hasText: "You are banned from this chat" }).waitFor();
    expect(await v.getByRole("textbox", { name: "Message" }).isDisabled()).toBe(true);
    await s.locator("#banned-list li", { hasText: "viewer" }).waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await s.screenshot({ path: `${ARTIFACTS}/moderation-streamer.png` });
    await v.screenshot({ path: `${ARTIFACTS}/moderation-viewer.png` });

    // Unban: it lifts the ban and the timeout (its event says both); the list empties and the viewer may speak.
    expect(await s.getByRole("button", { name: "Remove timeout of viewer" }).count()).toBe(0);
    await s.getByRole("button", { name: "Unban viewer" }).click();
    await s.locator("#banned-users").waitFor({ state: "hidden" });
    await v.locator("#restriction:empty").waitFor({ state: "attached" });
    // The composer opens again at once (the unban lifted the timeout as well).
    await v.locator("#composer[data-gate=\"open\"]").waitFor();
    expect(await v.getByRole("textbox", { name: "Message" }).isEnabled()).toBe(true);
    await say(v, "back again");
    await same(s, v, "after the unban", (x) => x.messages.some((m) => m.author === "viewer" && m.text === "back again"));

    // Presence reached the streamer too (a viewers frame, at most every few seconds).
    await s.locator("#viewers", { hasText: "2 watching" }).waitFor();

    // A viewer who joins now sees exactly the same state (fresh join: current state from the room).
    const late = await person();
    await late.page.goto(`${worker.url}/#${streamId}`);
    await joinAs(late.page, "latecomer");
    const final = await same(s, late.page, "late joiner", (x) => x.messages.length > 0);
    expect(await state(v)).toEqual(final);
    expect(final.messages.map((m) => [m.author, m.text, m.edited])).toEqual([
      ["streamer", edited, true],
      ["streamer", "javascript:alert(document.cookie)", false],
      ["viewer", "back again", false],
    ]);

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems.filter((p) => !/WebSocket/.test(p))).toEqual([]);
    expect(late.problems).toEqual([]);
  });
});
