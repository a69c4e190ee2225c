#!/usr/bin/env bash
# Bundles the demo page script (src/client/page.ts + the client SDK + zod) into public/app.js,
# which wrangler serves as a static asset. The output is committed, so `wrangler dev` works
# without building; run this after changing anything under src/client/ or src/protocol.ts.
#   scripts/build-client.sh          one build (fails if the bundle outgrows its budget)
#   scripts/build-client.sh --watch  rebuild on every change
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --input-type=module - "$@" <<'JS'
import * as esbuild from "esbuild";
import { readFile } from "node:fs/promises";

const watch = process.argv.includes("--watch");
const BUDGET_BYTES = 150 * 1024;

// esbuild can drop unused parts of zod only when the namespace is imported in the same file
// (`import * as z from "zod"`). `import { z } from "zod"` (src/protocol.ts) is a re-exported
// namespace, which esbuild keeps whole — every locale included: 440 KB instead of 80 KB. Both
// forms bind the same module namespace, so rewrite the import for the bundle only.
const zodNamespaceImport = {
  name: "zod-namespace-import",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]protocol\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, "utf8")).replace(
        /import\s*\{\s*z\s*\}\s*from\s*["']zod["'];?/,
        'import * as z from "zod";',
      ),
      loader: "ts",
    }));
  },
};

const options = {
  entryPoints: ["src/client/page.ts"],
  outfile: "public/app.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "info",
  plugins: [zodNamespaceImport],
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  const result = await esbuild.build(options);
  const bytes = result.metafile.outputs["public/app.js"].bytes;
  if (bytes > BUDGET_BYTES) {
    console.error(`public/app.js is ${bytes} bytes, over its ${BUDGET_BYTES}-byte budget (is zod bundled whole again?)`);
    process.exit(1);
  }
}
JS
