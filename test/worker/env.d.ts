import type { Env as WorkerEnv } from "../../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_PRIVATE_JWKS: string;
    }
    interface GlobalProps {
      mainModule: typeof import("../../src/worker");
      durableNamespaces: "ChatRoom" | "DeadLetters";
    }
  }
}
