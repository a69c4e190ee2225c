/**
 * The page in headless Chromium when the server closes its socket with a reason (issue 19 §2/§3):
 * the chat socket is answered by this test (Playwright's routeWebSocket) with frames of the wire
 * contract, the page and its dev sign-in come from the real worker under `wrangler dev`.
 *
 *   4408 slow_consumer   the viewer is told the page fell behind and is catching up; the page
 *                        reconnects with `since`/`epoch` and shows what it missed once
 *   1013 joins_busy      the viewer is told when it will join (the server's retry_after_ms plus
 *                        jitter in [0, it]), and the page does not knock before that
 * And the SDK's socket asks for `?seen=1`. Screenshot: test-artifacts/server-busy.png.
 */
import { randomUUID } from "node:crypto";
import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS, joinAs, startBrowserRig, type BrowserRig } from "../support/browser.js";

let rig: BrowserRig;

beforeAll(async () => {
  rig = await startBrowserRig();
}, 120_000);

afterAll(async () => {
  await rig?.stop();
});

/** Polls the status line until `pred` holds on its text (fails with the last text seen). */
async function statusUntil(page: Page, pred: (text: string) => boolean, what: string, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = "";
  for (;;) {
    text = (await page.locator("#status-text").textContent()) ?? "";
    if (pred(text)) return text;
    if (Date.now() > deadline) throw new Error(`status never showed ${what}; last: ${JSON.stringify(text)}`);
    await page.waitForTimeout(25);
  }
}

describe("server closes, as the viewer sees them", () => {
  it("4408 slow_consumer: told why, resumes with since and shows the missed comment once; 1013 joins_busy: told when, and waits", async () => {
    const { context, page, problems } = await rig.person();
    const streamId = randomUUID();
    const other = { id: randomUUID(), username: "other" };
    let me = { id: "", username: "" };
    const comment = (seq: number, message: string) => ({ seq, comment: { id: randomUUID(), stream_id: streamId, user_id: other.id, username: other.username, message, created_at: new Date().toISOString() } });
    const c1 = comment(1, "first"), c2 = comment(2, "second"), c3 = comment(3, "missed while behind");
    const sockets: Array<{ url: URL; ws: WebSocketRoute; at: number; sent: Array<Record<string, unknown>> }> = [];
    /** What each connection answers, in order: welcome + history for seq `upTo` (later ones resume). */
    const welcome = (seq: number) => JSON.stringify({ type: "welcome", stream_id: streamId, user: me, seq, epoch: "e1", role: "viewer", viewers: 2, modes: { emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false }, lockdown: false });
    await context.routeWebSocket(/\/ws\/streams\//, (ws) => {
      const conn = { url: new URL(ws.url()), ws, at: Date.now(), sent: [] as Array<Record<string, unknown>> };
      sockets.push(conn);
      ws.onMessage((raw) => {
        const f = JSON.parse(String(raw)) as Record<string, unknown>;
        conn.sent.push(f);
        if (f.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      });
      const n = sockets.length;
      if (n === 1) {
        ws.send(welcome(2));
        ws.send(JSON.stringify({ type: "history", comments: [c1, c2], recovered: false }));
      } else if (n === 2) {
        // The resume: exactly what the page missed.
        ws.send(welcome(3));
        ws.send(JSON.stringify({ type: "history", comments: [c3], recovered: true }));
      } else {
        ws.send(welcome(3));
        ws.send(JSON.stringify({ type: "history", comments: [], recovered: true }));
      }
    });
    await page.route("**/dev/token", async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { user_id: string; username: string };
      me = { id: body.user_id, username: body.username };
      await route.fulfill({ response: res, json: body });
    });
    await page.goto(`${rig.worker.url}/#${streamId}`);
    await joinAs(page, "viewer");
    await page.locator("#messages li.msg .text", { hasText: "second" }).waitFor();
    expect(sockets[0]!.url.searchParams.get("seen")).toBe("1");

    // Every text the status line shows from now on (the reconnect can be quicker than a poll).
    await page.evaluate(() => {
      const w = window as unknown as { statuses: string[] };
      w.statuses = [];
      const el = document.getElementById("status-text")!;
      new MutationObserver(() => w.statuses.push(el.textContent ?? "")).observe(el, { childList: true, characterData: true, subtree: true });
    });
    // The room closes this socket as a slow consumer.
    await sockets[0]!.ws.close({ code: 4408, reason: "slow_consumer" });
    await page.locator("#messages li.msg .text", { hasText: "missed while behind" }).waitFor();
    expect(await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses)).toContain("This page fell behind the chat — catching up…");
    const resume = sockets[1]!.url.searchParams;
    expect({ since: resume.get("since"), epoch: resume.get("epoch"), seen: resume.get("seen") }).toEqual({ since: "2", epoch: "e1", seen: "1" });
    await page.locator('#status[data-state="open"]').waitFor();
    expect(await page.locator("#messages li.msg .text").allTextContents()).toHaveLength(3);
    expect((await page.locator("#messages li.msg .text", { hasText: "missed while behind" }).count())).toBe(1);

    // The room's join gate refuses the next join: 1013 with a wait of 3 s.
    const closedAt = Date.now();
    await sockets[1]!.ws.close({ code: 1013, reason: JSON.stringify({ error: "joins_busy", retry_after_ms: 3000 }) });
    const busy = await statusUntil(page, (t) => t.startsWith("The chat is busy — joining in"), "the busy words");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "server-busy.png") });
    const seconds = Number(/joining in (\d+) s/.exec(busy)?.[1]);
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(seconds).toBeLessThanOrEqual(6);
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 15_000 });
    expect(sockets).toHaveLength(3);
    expect(sockets[2]!.at - closedAt, "the next join came after the advised wait").toBeGreaterThanOrEqual(3000);
    expect(problems).toEqual([]);
  }, 60_000);
});
