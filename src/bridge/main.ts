/**
 * `npm run bridge`: reads the environment (config.ts), starts the bridge, and on SIGTERM/SIGINT
 * stops accepting, lets in-flight requests (Kafka produces included) finish, then disconnects.
 * A second signal exits at once.
 */
import { describeError } from "../errors";
import { ConfigError, loadConfig } from "./config";
import { createLogger } from "./log";
import { startBridge } from "./server";

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`bridge: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const log = createLogger(config.logLevel);
const bridge = await startBridge(config, { logger: log });

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: draining`);
    bridge.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error("shutdown failed", { error: describeError(err) });
        process.exit(1);
      },
    );
  });
}
