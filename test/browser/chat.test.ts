/**
 * The demo page in a real browser (headless Chromium, Debian package `chromium`) against the real
 * worker under `wrangler dev`: two people in two browser contexts chat on one stream; one goes
 * offline, misses messages and types one of its own; back online it sees exactly what it missed,
 * in order, once, and its own message goes out.
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

const person = (viewport?: { width: number; height: number }) => rig.person(viewport, /ERR_INTERNET_DISCONNECTED/);

async function say(page: Page, text: string): Promise<void> {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

/** The confirmed messages on a page, top to bottom, with their seq numbers. */
function shown(page: Page): Promise<Array<{ seq: number; text: string; author: string }>> {
  return page.$$eval("#messages li", (lis) =>
    lis.map((li) => ({
      seq: Number((li as HTMLElement).dataset.seq),
      text: li.querySelector(".text")?.textContent ?? "",
      author: li.querySelector(".author")?.textContent ?? "",
    })),
  );
}

/** Waits until the page shows exactly these message texts (fails with what it shows instead). */
async function waitForTexts(page: Page, texts: string[], what: string): Promise<void> {
  try {
    await page.waitForFunction(
      (want) => {
        const got = Array.from(document.querySelectorAll("#messages li .text"), (e) => e.textContent);
        return got.length === want.length && got.every((t, i) => t === want[i]);
      },
      texts,
      { timeout: 20_000 },
    );
  } catch {
    throw new Error(`${what}: expected ${JSON.stringify(texts)}, page shows ${JSON.stringify((await shown(page)).map((m) => m.text))}`);
  }
}

describe("chat page: two viewers, one goes offline", () => {
  it("delivers every message once, in order, across a network loss — and shows own messages pending, then sent", async () => {
    const alice = await person({ width: 360, height: 740 }); // phone width
    const bob = await person({ width: 1024, height: 720 });

    // Alice starts a new stream; the stream id goes into the URL hash.
    await alice.page.goto(worker.url + "/");
    await alice.page.getByRole("button", { name: "New stream" }).click();
    await joinAs(alice.page, "alice");
    const streamId = new URL(alice.page.url()).hash.slice(1);
    expect(streamId).toMatch(/^[0-9a-f-]{36}$/);

    // Bob has the page open, not joined, when he follows Alice's link in the same tab: the stream is
    // prefilled from the hash (a hash change, not a new page load).
    await bob.page.goto(`${worker.url}/`);
    await bob.page.evaluate((id) => (location.hash = id), streamId);
    await bob.page.waitForFunction((id) => (document.getElementById("stream") as HTMLInputElement | null)?.value === id, streamId);
    expect(await bob.page.getByRole("textbox", { name: "Stream ID" }).inputValue()).toBe(streamId);
    await joinAs(bob.page, "bob");
    expect(await bob.page.locator("#stream-label").textContent()).toBe(streamId);

    await say(alice.page, "hi bob");
    await waitForTexts(bob.page, ["hi bob"], "bob sees alice");
    await say(bob.page, "hi alice");
    const greeting = ["hi bob", "hi alice"];
    await waitForTexts(alice.page, greeting, "alice sees both");
    await waitForTexts(bob.page, greeting, "bob sees both");

    // Alice loses the network. The page notices and says so.
    await alice.context.setOffline(true);
    await alice.page.locator('#status[data-state="reconnecting"]').waitFor();
    expect(await alice.page.locator("#status-text").textContent()).toBe("Offline — waiting for the network");

    // Bob keeps chatting; the server accepts each message (Bob sees them confirmed).
    const missed = ["missed one", "missed two", "missed three"];
    for (const m of missed) await say(bob.page, m);
    await waitForTexts(bob.page, [...greeting, ...missed], "bob's messages confirmed");

    // Alice types while offline: shown as pending, not as a confirmed message.
    await say(alice.page, "typed while offline");
    const pending = alice.page.locator("#outgoing li.pending");
    await pending.waitFor();
    expect(await pending.locator(".text").textContent()).toBe("typed while offline");
    expect(await pending.locator(".note").textContent()).toBe("Sending…");
    // ...and she really is cut off: none of Bob's new messages reached her.
    expect((await shown(alice.page)).map((m) => m.text)).toEqual(greeting);
    mkdirSync(ARTIFACTS, { recursive: true });
    await alice.page.screenshot({ path: `${ARTIFACTS}/chat-offline.png` });

    // Back online: Alice catches up and her message goes out.
    await alice.context.setOffline(false);
    await alice.page.locator('#status[data-state="open"]').waitFor();
    const all = [...greeting, ...missed, "typed while offline"];
    await waitForTexts(alice.page, all, "alice after reconnecting");
    await waitForTexts(bob.page, all, "bob gets alice's offline message");
    await alice.page.locator("#outgoing li").first().waitFor({ state: "detached" });

    // Exactly once, in seq order, the same on both pages.
    const a = await shown(alice.page);
    const b = await shown(bob.page);
    expect(a.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b).toEqual(a);
    expect(a.map((m) => m.author)).toEqual(["alice", "bob", "bob", "bob", "bob", "alice"]);
    // Alice's own messages are marked as hers and as sent.
    expect(await alice.page.locator("#messages li.mine .note").allTextContents()).toEqual(["✓ Sent", "✓ Sent"]);
    expect(await alice.page.locator("#notice").textContent()).toBe("Back online: 3 messages you missed are shown.");

    // Errors in plain words: a message over the limit is refused before it is sent.
    await say(alice.page, "x".repeat(501));
    expect(await alice.page.getByRole("alert").filter({ hasText: "too long" }).textContent()).toBe(
      "That message is too long: the limit is 500 characters.",
    );

    // New messages are announced to screen readers; the log can be reached by keyboard.
    expect(await alice.page.locator("#messages").getAttribute("aria-live")).toBe("polite");
    expect(await alice.page.locator("#log").getAttribute("tabindex")).toBe("0");

    // At phone width nothing overflows sideways.
    const overflow = await alice.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);

    await alice.page.screenshot({ path: `${ARTIFACTS}/chat.png` });
    await bob.page.screenshot({ path: `${ARTIFACTS}/chat-wide.png` });

    expect(alice.problems).toEqual([]);
    expect(bob.problems).toEqual([]);
  });
});
