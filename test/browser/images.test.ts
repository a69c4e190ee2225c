/**
 * Images in chat on the demo page, in headless Chromium against the real worker under `wrangler
 * dev` (local R2): a streamer and a viewer on one stream. The viewer picks a PNG (file input) and
 * sends it with text; the streamer pastes a GIF and sends it alone. Each page shows both images
 * loaded from /v1/uploads/, bounded, lazy, opening in a new tab; previews are object URLs revoked
 * once sent; refused files get plain sentences. The viewer deletes its message: the image leaves
 * both pages and its URL answers 404. Screenshot: test-artifacts/images.png. Pixel bombs (issue 22):
 * a file whose header declares 100000×100000 is refused in plain words before upload, and a comment
 * whose attachment declares a size over the bounds (changed in transit) is shown as text, never loaded.
 */
import { mkdirSync } from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pngDeclaring } from "../support/crafted-images.js";
import { gif, pixelIdat, png } from "../support/images.js";
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

/** What a page shows of one message's images, once every one of them has loaded. */
async function loadedImages(page: Page, rowSelector: string, count: number) {
  const imgs = page.locator(`${rowSelector} .images img`);
  await imgs.nth(count - 1).waitFor();
  expect(await imgs.count()).toBe(count);
  await page.waitForFunction(
    (sel) => Array.from(document.querySelectorAll<HTMLImageElement>(`${sel} .images img`)).every((i) => i.complete && i.naturalWidth > 0),
    rowSelector,
  );
  return imgs.evaluateAll((list) =>
    list.map((node) => {
      const img = node as HTMLImageElement;
      const a = img.closest("a")!;
      const box = img.getBoundingClientRect();
      const css = getComputedStyle(img);
      return {
        src: img.src,
        naturalWidth: img.naturalWidth,
        alt: img.alt,
        loading: img.loading,
        decoding: img.decoding,
        href: a.href,
        target: a.target,
        rel: a.rel,
        width: box.width,
        height: box.height,
        objectFit: css.objectFit,
      };
    }),
  );
}

/** The `#messages li` selector of the message (by its data-id). */
const rowOf = (id: string) => `#messages li[data-id="${id}"]`;

/** Waits for the page's row whose text is `text` and returns its comment id. */
async function idOf(page: Page, text: string): Promise<string> {
  const li = page.locator("#messages li").filter({ has: page.locator(".text", { hasText: text }) });
  await li.waitFor();
  return (await li.getAttribute("data-id"))!;
}

/** The streamer creates a stream on `s`, the viewer joins it on `v`; returns its id. */
async function openStream(s: Page, v: Page): Promise<string> {
  await s.goto(worker.url + "/");
  await s.getByRole("button", { name: "New stream" }).click();
  await joinAs(s, "streamer");
  const streamId = new URL(s.url()).hash.slice(1);
  await v.goto(`${worker.url}/#${streamId}`);
  await joinAs(v, "viewer");
  return streamId;
}

describe("demo page: images in chat", () => {
  it("a viewer's picked image and a streamer's pasted one show on both pages; deleting one removes it everywhere", async () => {
    const streamer = await person();
    const viewer = await person();
    const s = streamer.page;
    const v = viewer.page;

    const streamId = await openStream(s, v);

    // Refused files: plain sentences, nothing uploaded, the tray item can be removed.
    await v.locator("#file").setInputFiles({ name: "page.png", mimeType: "image/png", buffer: Buffer.from("<!doctype html><script>alert(1)</script>") });
    await v.locator("#attachments li.failed", { hasText: "Only PNG, JPEG, GIF and WebP images can be shared." }).waitFor();
    await v.getByRole("alert").filter({ hasText: "Only PNG, JPEG, GIF and WebP images can be shared." }).waitFor();
    await v.getByRole("button", { name: "Remove image page.png" }).click();
    const huge = Buffer.alloc(5 * 1024 * 1024 + 1);
    Buffer.from(await png()).copy(huge);
    await v.locator("#file").setInputFiles({ name: "huge.png", mimeType: "image/png", buffer: huge });
    await v.locator("#attachments li.failed", { hasText: "That image is too large: the limit is 5 MB." }).waitFor();
    await v.getByRole("button", { name: "Remove image huge.png" }).click();
    expect(await v.locator("#attachments").isHidden()).toBe(true);

    // The viewer picks a PNG: a local preview (object URL) once the upload passed the size checks, then sends it with text.
    const blue = Buffer.from(await png([30, 90, 200, 255]));
    await v.locator("#file").setInputFiles({ name: "blue.png", mimeType: "image/png", buffer: blue });
    const preview = v.locator("#attachments li img[src^='blob:']");
    await preview.waitFor();
    const previewUrl = (await preview.getAttribute("src"))!;
    expect(previewUrl).toMatch(/^blob:/);
    expect(await preview.getAttribute("alt")).toBe("Preview of blue.png");
    await v.locator("#attachments li.ready").waitFor();
    await v.getByRole("textbox", { name: "Message" }).fill("look at this");
    await v.getByRole("textbox", { name: "Message" }).press("Enter");
    expect(await v.locator("#attachments").isHidden()).toBe(true);
    // The preview's object URL was revoked when the image left the tray.
    expect(await v.evaluate((u) => fetch(u).then(() => "readable", () => "revoked"), previewUrl)).toBe("revoked");

    const pngId = await idOf(s, "look at this");
    expect(await idOf(v, "look at this")).toBe(pngId);
    const onStreamer = await loadedImages(s, rowOf(pngId), 1);
    const onViewer = await loadedImages(v, rowOf(pngId), 1);
    const pngUrl = onStreamer[0]!.src;
    expect(pngUrl.startsWith(`${worker.url}/v1/uploads/${streamId}/`)).toBe(true);
    for (const shown of [onStreamer[0]!, onViewer[0]!]) {
      expect(shown).toMatchObject({
        src: pngUrl,
        href: pngUrl,
        naturalWidth: 1,
        alt: "Image from viewer",
        loading: "lazy",
        decoding: "async",
        target: "_blank",
        rel: "noopener noreferrer",
        objectFit: "contain",
      });
      expect(shown.width).toBeLessThanOrEqual(240);
      expect(shown.height).toBeLessThanOrEqual(240);
      expect(shown.width).toBeGreaterThan(0);
    }
    // The served bytes are the picked file's.
    const served = await fetch(pngUrl);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await served.arrayBuffer()).equals(blue)).toBe(true);

    // The streamer pastes a GIF (a screenshot from the clipboard) and sends it with no text.
    const gifBytes = [...gif()];
    await s.getByRole("textbox", { name: "Message" }).focus();
    await s.evaluate((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], "image.gif", { type: "image/gif" }));
      document.getElementById("text")!.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    }, gifBytes);
    await s.locator("#attachments li img[src^='blob:']").waitFor();
    // Send at once: the page waits for the upload, then sends the image alone.
    await s.getByRole("button", { name: "Send" }).click();
    const gifRow = s.locator("#messages li", { has: s.locator(".author", { hasText: "streamer" }) }).filter({ has: s.locator(".images") });
    await gifRow.waitFor();
    const gifId = (await gifRow.getAttribute("data-id"))!;
    expect(await gifRow.locator(".text").count()).toBe(0);
    for (const page of [s, v]) {
      const [shown] = await loadedImages(page, rowOf(gifId), 1);
      expect(shown!.src.startsWith(`${worker.url}/v1/uploads/${streamId}/`)).toBe(true);
      expect(shown!.alt).toBe("Image from streamer");
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    await v.screenshot({ path: `${ARTIFACTS}/images.png` });

    // The viewer deletes its message: the image leaves both pages, and its URL is gone.
    await v.locator(rowOf(pngId)).getByRole("button", { name: "Delete message: look at this" }).click();
    for (const page of [s, v]) {
      await page.locator(rowOf(pngId)).waitFor({ state: "detached" });
      expect(await page.locator(`img[src="${pngUrl}"]`).count()).toBe(0);
    }
    // R2 deletes it right after the deletion event (ctx.waitUntil): poll until it answers 404.
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await fetch(pngUrl, { cache: "no-store" })).status;
      if (status === 404) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(404);
    // The other image is untouched.
    expect(await loadedImages(v, rowOf(gifId), 1)).toHaveLength(1);

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });

  it("a bomb file is refused before upload; an attachment declaring a size over the bounds is text, never an <img>", async () => {
    const streamer = await person();
    const viewer = await person();
    const s = streamer.page;
    const v = viewer.page;
    // The viewer's socket: the streamer's "sized in transit" comment arrives with its image declared 100000×100000.
    const TAMPERED = "sized in transit";
    const inflate = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(inflate);
      if (typeof node !== "object" || node === null) return;
      const o = node as Record<string, unknown>;
      if (o.message === TAMPERED && Array.isArray(o.attachments)) for (const a of o.attachments) Object.assign(a as object, { width: 100_000, height: 100_000 });
      Object.values(o).forEach(inflate);
    };
    await viewer.context.routeWebSocket(/\/ws\/streams\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => {
        if (typeof m !== "string" || !m.startsWith("{")) return ws.send(m);
        const frame = JSON.parse(m) as unknown;
        inflate(frame);
        ws.send(JSON.stringify(frame));
      });
    });

    await openStream(s, v);

    // A PNG whose header declares 100000×100000 (70 bytes): refused by the SDK, in plain words.
    const bomb = Buffer.from(pngDeclaring(100_000, 100_000, await pixelIdat()));
    await v.locator("#file").setInputFiles({ name: "bomb.png", mimeType: "image/png", buffer: bomb });
    await v.locator("#attachments li.failed", { hasText: "That image is too large to share" }).waitFor();
    // and never decoded in the sender's own tab: its preview has no source.
    expect(await v.locator("#attachments li.failed img").getAttribute("src")).toBeNull();
    await v.getByRole("button", { name: "Remove image bomb.png" }).click();

    await s.locator("#file").setInputFiles({ name: "red.png", mimeType: "image/png", buffer: Buffer.from(await png()) });
    await s.locator("#attachments li.ready").waitFor();
    await s.getByRole("textbox", { name: "Message" }).fill(TAMPERED);
    await s.getByRole("textbox", { name: "Message" }).press("Enter");
    const id = await idOf(s, TAMPERED);
    // The streamer's page: the image, with its real size as attributes.
    const [shown] = await loadedImages(s, rowOf(id), 1);
    expect(shown!.naturalWidth).toBe(1);
    expect(await s.locator(`${rowOf(id)} .images img`).evaluate((i) => [i.getAttribute("width"), i.getAttribute("height")])).toEqual(["1", "1"]);
    // The viewer's page: a line of text, no <img>, nothing fetched.
    await v.locator(`${rowOf(id)} .images .image-gone`, { hasText: "Image not shown: too large" }).waitFor();
    expect(await v.locator(`${rowOf(id)} .images img`).count()).toBe(0);
    expect(await v.locator(`${rowOf(id)} .images .image-gone`).textContent()).toContain("100000×100000 px");

    expect(streamer.problems).toEqual([]);
    expect(viewer.problems).toEqual([]);
  });
});
