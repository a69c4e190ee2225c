/**
 * The bridge's public API, for tests and tools that run it in-process:
 *
 *   import { loadConfig, startBridge } from "../src/bridge";
 *   const bridge = await startBridge(loadConfig({ ...process.env, BRIDGE_PORT: "0" }));
 *   // bridge.port, bridge.url, await bridge.close()
 */
export { ConfigError, loadConfig, type BridgeConfig } from "./config";
export { createLogger, type Logger } from "./log";
export { createBridge, startBridge, type Bridge, type BridgeOptions, type RunningBridge } from "./server";
