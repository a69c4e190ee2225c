/**
 * chat.upload() refuses pixel bombs and broken images before a byte leaves (issue 22 §1), with the
 * server's own module (src/rules/image-header.ts) and the server's codes, and maps the server's
 * 422 `image_too_large` / 400 `invalid_image` to the same ChatError codes. (The SDK's other upload
 * rules: uploads.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { ChatClient, ChatError, MAX_IMAGE_SIDE_PX, checkImage as sdkCheck } from "../../src/client/index.js";
import { uploadHttpError } from "../../src/client/uploads.js";
import { MAX_IMAGE_SIDE_PX as SERVER_SIDE, checkImage as serverCheck } from "../../src/rules/image-header.js";
import { gifWith, pngDeclaring, webpAnimated } from "../support/crafted-images.js";
import { jpegWith, pixelIdat, png } from "../support/images.js";
import { fakeWebSockets } from "./fake-websocket.js";

/** A client whose fetch records every request and answers 201 (a stored 1×1 PNG). */
function client() {
  const sent: string[] = [];
  const fetch = (async (input: RequestInfo | URL) => {
    sent.push(String(input));
    return Response.json({ upload_id: "AAAAAAAAAAAAAAAAAAAAAA", url: "/v1/uploads/x/AAAAAAAAAAAAAAAAAAAAAA", content_type: "image/png", size: 1 }, { status: 201 });
  }) as typeof globalThis.fetch;
  const c = new ChatClient({
    baseUrl: "https://chat.example",
    streamId: "7d0a5f5e-4a57-4d2b-9a39-0f5b7a4c2e11",
    credentials: () => ({ token: "tok" }),
    WebSocket: fakeWebSockets().WebSocket,
    fetch,
    network: false,
  });
  return { c, sent };
}

async function rejection(p: Promise<unknown>): Promise<ChatError> {
  const err = await p.then(
    () => new Error("expected a rejection"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

describe("chat.upload() checks the image's header locally", () => {
  it("is the server's check, the same module", () => {
    expect(sdkCheck).toBe(serverCheck);
    expect(MAX_IMAGE_SIDE_PX).toBe(SERVER_SIDE);
  });

  it("pixel bombs and frame floods → image_too_large, nothing sent", async () => {
    const idat = await pixelIdat();
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ["a PNG declaring 100000×100000", pngDeclaring(100_000, 100_000, idat), /100000×100000 px.*8192/],
      ["a JPEG SOF0 of 65000×65000", jpegWith(65_000, 65_000), /65000×65000/],
      ["a 1,000-frame GIF", gifWith(1000), /1000 frames/],
      ["a 1,000-frame WebP", webpAnimated(1000), /1000 frames/],
    ];
    for (const [what, bytes, message] of cases) {
      const { c, sent } = client();
      const err = await rejection(c.upload(new Blob([bytes as Uint8Array<ArrayBuffer>])));
      expect([what, err.code], err.message).toEqual([what, "image_too_large"]);
      expect(err.message).toMatch(message);
      expect(sent).toEqual([]);
      c.close();
    }
  });

  it("a broken image → invalid_image, nothing sent; a valid one goes", async () => {
    const { c, sent } = client();
    const err = await rejection(c.upload((await png()).subarray(0, 30)));
    expect(err.code).toBe("invalid_image");
    expect(err.message).toMatch(/past the end/);
    expect(sent).toEqual([]);
    await c.upload(await png());
    expect(sent).toHaveLength(1);
    c.close();
  });
});

describe("the server's refusals of an image", () => {
  it("422 image_too_large → image_too_large; 400 invalid_image → invalid_image; 400 incomplete_upload → upload_failed", () => {
    expect(uploadHttpError(422, { error: "image_too_large", message: "16384×16384 px" }, null)).toMatchObject({ code: "image_too_large", message: "16384×16384 px" });
    expect(uploadHttpError(400, { error: "invalid_image", message: "no IDAT" }, null)).toMatchObject({ code: "invalid_image", message: "no IDAT" });
    expect(uploadHttpError(400, { error: "incomplete_upload", message: "short" }, null).code).toBe("upload_failed");
    expect(uploadHttpError(422, { error: "something_else" }, null).code).toBe("upload_failed");
  });
});
