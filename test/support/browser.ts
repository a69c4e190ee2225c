/**
 * Shared set-up of the browser suites: headless Debian Chromium (playwright-core) against the real
 * worker under `wrangler dev`, people as separate browser profiles, and signing in on the demo page.
 */
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startWorker, type RunningWorker } from "./worker.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = "test-artifacts";

/** A running worker, a browser, and the profiles opened in it; `stop()` closes everything. */
export interface BrowserRig {
  worker: RunningWorker;
  browser: Browser;
  /**
   * A fresh browser profile (own storage, own network switch) with one page; `problems` collects
   * page errors and console errors (resource load failures and `ignore` aside).
   */
  person(viewport?: { width: number; height: number }, ignore?: RegExp): Promise<{ context: BrowserContext; page: Page; problems: string[] }>;
  stop(): Promise<void>;
}

export async function startBrowserRig(): Promise<BrowserRig> {
  const worker = await startWorker();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const contexts: BrowserContext[] = [];
  return {
    worker,
    browser,
    async person(viewport = { width: 900, height: 900 }, ignore) {
      const context = await browser.newContext({ viewport });
      contexts.push(context);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error" && !/Failed to load resource/.test(m.text()) && !ignore?.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      return { context, page, problems };
    },
    async stop() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await worker.stop();
    },
  };
}

/** Signs in on the demo page with `name` (by keyboard) and waits until the chat is open. */
export async function joinAs(page: Page, name: string): Promise<void> {
  await page.getByRole("textbox", { name: "Your name" }).fill(name);
  await page.getByRole("textbox", { name: "Your name" }).press("Enter");
  await page.locator('#status[data-state="open"]').waitFor();
}
