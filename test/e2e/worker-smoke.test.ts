import { afterAll, beforeAll, expect, it } from "vitest";
import { devToken, startWorker, type RunningWorker } from "../support/worker";

let w: RunningWorker;
beforeAll(async () => {
  w = await startWorker({ vars: { KAFKA_REST_URL: "http://127.0.0.1:1/unused" } });
});
afterAll(async () => w?.stop());

it("wrangler dev serves the demo page, health and dev tokens", async () => {
  expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
  const page = await fetch(`${w.url}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  const t = await devToken(w.url, "smoke");
  expect(t.username).toBe("smoke");
});
