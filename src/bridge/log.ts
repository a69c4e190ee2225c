/**
 * One-line logs on stderr: `bridge <level> <message> key=value ...`. Context values are
 * JSON-encoded when they are not plain words, so a line stays one line.
 */
import type { LogLevel } from "./config";

export interface Logger {
  debug(msg: string, ctx?: Record<string, unknown>): void;
  info(msg: string, ctx?: Record<string, unknown>): void;
  warn(msg: string, ctx?: Record<string, unknown>): void;
  error(msg: string, ctx?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function fmt(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "string" && /^[\w.:/@-]+$/.test(v)) return v;
  return JSON.stringify(v) ?? String(v);
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const min = ORDER[level];
  const at =
    (lvl: Exclude<LogLevel, "silent">) =>
    (msg: string, ctx?: Record<string, unknown>): void => {
      if (ORDER[lvl] < min) return;
      const extra = ctx
        ? Object.entries(ctx)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => ` ${k}=${fmt(v)}`)
            .join("")
        : "";
      write(`bridge ${lvl} ${msg}${extra}`);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
