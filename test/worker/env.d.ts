import type { Env as WorkerEnv } from "../../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_PRIVATE_JWKS: string;
      /** test/worker/fuzz.test.ts: frames per run and seed ("" = the suite's defaults) */
      FUZZ_COUNT: string;
      FUZZ_SEED: string;
    }
    interface GlobalProps {
      mainModule: typeof import("../../src/worker");
      durableNamespaces: "ChatRoom" | "DeadLetters";
    }
  }
}
