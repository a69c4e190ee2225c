/**
 * Node test suites: bridge, end-to-end, client SDK, browser, bench. They start real processes
 * (wrangler dev, the bridge, Chromium) on free ports, so files run one at a time.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/{bridge,e2e,client,browser,bench}/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
