/**
 * The layers of src/ (issue 17 §2), read from the source files themselves (plain Node, no bundler):
 *
 * - Only the HTTP route modules may import `hono`: src/worker.ts (the edge entry, which mounts every
 *   route) and src/uploads.ts (the upload and image routes it mounts). The Durable Objects, their
 *   stores, the SDK and the bridge get constants and helpers from framework-free modules
 *   (src/upload-rules.ts, src/rules/…, src/protocol.ts) instead.
 * - src/rules/ is pure: its modules import only relative modules, and none of those is a Durable
 *   Object or a socket/storage module — no `cloudflare:workers`, no `hono`, no `jose`, no package at
 *   all; no src/ module that itself imports `cloudflare:workers`; none of {@link SOCKET_MODULES}.
 *
 * Imports are found with TypeScript's own pre-processor (`ts.preProcessFile`), so comments and
 * strings never count and `import type`, `export … from` and `import()` all do. A failure names the
 * file, the line and the import.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");

/** The modules that may import hono: the worker's entry and the route modules it mounts. */
const ROUTE_MODULES = ["src/worker.ts", "src/uploads.ts"];

/**
 * Modules of src/ that hold sockets, Durable Object state or routes: the rules never import them
 * (the rules are what these modules call, not the other way round).
 */
const SOCKET_MODULES = [
  "src/room.ts",
  "src/shard.ts",
  "src/fanout.ts",
  "src/shard-links.ts",
  "src/answers.ts",
  "src/room-store.ts",
  "src/upload-store.ts",
  "src/outbox.ts",
  "src/room-api.ts",
  "src/consumer.ts",
  "src/dead-letters.ts",
  "src/dead-letter-store.ts",
  "src/replay.ts",
  "src/worker.ts",
  "src/uploads.ts",
];

interface Import {
  /** The importing file, relative to the checkout (`src/rules/text.ts`). */
  file: string;
  line: number;
  /** The specifier as written (`../protocol`, `hono/http-exception`). */
  spec: string;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(path);
    return d.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every import of `path` (static, type-only, re-export, dynamic), with its line. */
function importsOf(path: string, source = readFileSync(path, "utf8")): Import[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  const file = relative(ROOT, path);
  return importedFiles.map((f) => ({ file, spec: f.fileName, line: source.slice(0, f.pos).split("\n").length }));
}

/** The src/ file a relative specifier resolves to (`../protocol.js` → `src/protocol.ts`); null for a package. */
function target(imp: Import): string | null {
  if (!imp.spec.startsWith(".")) return null;
  const base = resolve(ROOT, dirname(imp.file), imp.spec).replace(/\.js$/, "");
  return relative(ROOT, base.endsWith(".ts") ? base : `${base}.ts`);
}

const isHono = (spec: string) => spec === "hono" || spec.startsWith("hono/");
const show = (imp: Import, why: string) => `${imp.file}:${imp.line} imports "${imp.spec}" — ${why}`;

/** Problems of the hono rule: an import of hono outside {@link ROUTE_MODULES}. */
function honoProblems(imports: readonly Import[]): string[] {
  return imports
    .filter((i) => isHono(i.spec) && !ROUTE_MODULES.includes(i.file))
    .map((i) => show(i, `only the route modules (${ROUTE_MODULES.join(", ")}) may import hono`));
}

/**
 * Problems of the purity rule for src/rules/: a package (anything not relative: `hono`, `jose`,
 * `zod`, `cloudflare:workers`, …), a socket module, or a module that is a Durable Object (imports
 * `cloudflare:workers` itself). `isDurableObject` answers for a src/ file.
 */
function rulesProblems(imports: readonly Import[], isDurableObject: (file: string) => boolean): string[] {
  const problems: string[] = [];
  for (const imp of imports) {
    if (!imp.file.startsWith("src/rules/")) continue;
    const to = target(imp);
    if (to === null) problems.push(show(imp, "src/rules/ is pure: no packages (hono, jose, cloudflare:workers, …), only relative modules"));
    else if (SOCKET_MODULES.includes(to)) problems.push(show(imp, `${to} is a socket/Durable Object/route module; the rules must not depend on it`));
    else if (isDurableObject(to)) problems.push(show(imp, `${to} imports cloudflare:workers (a Durable Object); the rules must not depend on it`));
  }
  return problems;
}

const all = tsFiles(SRC).flatMap((p) => importsOf(p));
const importsCloudflareWorkers = (file: string) => {
  try {
    return importsOf(join(ROOT, file)).some((i) => i.spec === "cloudflare:workers");
  } catch {
    return false; // not a file of src/ (tsc reports a bad import anyway)
  }
};

describe("layering of src/", () => {
  it("the route module list names files that exist and import hono", () => {
    for (const m of ROUTE_MODULES) expect(all.some((i) => i.file === m && isHono(i.spec)), m).toBe(true);
  });

  it(`only the route modules (${ROUTE_MODULES.join(", ")}) import hono`, () => {
    expect(honoProblems(all)).toEqual([]);
  });

  it("src/rules/ imports no package, no Durable Object and no socket module", () => {
    expect(rulesProblems(all, importsCloudflareWorkers)).toEqual([]);
  });

  it("the checks catch a bad import and name the file, line and import", () => {
    const room = importsOf(join(SRC, "room.ts"), 'import { x } from "./protocol";\nimport type { Context } from "hono";\n');
    expect(honoProblems(room)).toEqual(['src/room.ts:2 imports "hono" — only the route modules (src/worker.ts, src/uploads.ts) may import hono']);
    const source = [
      "// a comment naming \"hono\" is not an import",
      'import { z } from "zod";',
      'import type { ChatRoom } from "../room";',
      'export { fanOut } from "../fanout.js";',
      'import { DurableObject } from "cloudflare:workers";',
      'const lazy = () => import("jose");',
      'import { prepareText } from "./text";',
    ].join("\n");
    const rules = importsOf(join(SRC, "rules", "bad.ts"), source);
    expect(rulesProblems(rules, importsCloudflareWorkers).map((p) => p.split(" — ")[0])).toEqual([
      'src/rules/bad.ts:2 imports "zod"',
      'src/rules/bad.ts:3 imports "../room"',
      'src/rules/bad.ts:4 imports "../fanout.js"',
      'src/rules/bad.ts:5 imports "cloudflare:workers"',
      'src/rules/bad.ts:6 imports "jose"',
    ]);
    // A module outside the named list that is a Durable Object is caught by what it imports.
    const viaDo = importsOf(join(SRC, "rules", "bad.ts"), 'import { Thing } from "../some-object";');
    expect(rulesProblems(viaDo, (f) => f === "src/some-object.ts")).toEqual([
      'src/rules/bad.ts:1 imports "../some-object" — src/some-object.ts imports cloudflare:workers (a Durable Object); the rules must not depend on it',
    ]);
  });
});
