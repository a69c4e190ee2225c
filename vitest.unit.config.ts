/**
 * Unit suites: pure modules (src/rules/…) that need neither workerd nor services. Plain Node,
 * files in parallel; fast enough to run on every change.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/unit/**/*.test.ts"],
  },
});
