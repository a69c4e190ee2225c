#!/usr/bin/env bash
# Bundles the demo page script (src/client/page.ts + the client SDK + zod) into public/app.js,
# which wrangler serves as a static asset. Not committed (.gitignore): wrangler.toml's [build]
# runs this before every `wrangler dev` (and again when src/ changes) and `wrangler deploy`, so
# the served page is always built from the current source.
#   scripts/build-client.sh                  one build (fails if the bundle outgrows its budget)
#   scripts/build-client.sh --watch          rebuild on every change
#   scripts/build-client.sh --outfile PATH   build somewhere else (tests compare it with the served page)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --input-type=module - "$@" <<'JS'
import * as esbuild from "esbuild";

const args = process.argv.slice(2);
const watch = args.includes("--watch");
const at = args.indexOf("--outfile");
const outfile = at >= 0 ? args[at + 1] : "public/app.js";
if (!outfile) {
  console.error("--outfile needs a path");
  process.exit(2);
}
// Budget: the page carries the whole SDK (room events, store, uploads, the text rules for quotes)
// and the parts of zod it uses (~94 KB): ~170 KB minified, ~53 KB gzip; issue 18's moderation
// panels (src/client/page-staff.ts and friends) add ~38 KB (~13 KB gzip). Far more means zod is
// bundled whole again (src/protocol.ts must keep `import * as z from "zod"`, which esbuild can
// tree-shake; a re-exported `{ z }` namespace pulls in every locale: ~440 KB).
const BUDGET_BYTES = 250 * 1024;

const options = {
  entryPoints: ["src/client/page.ts"],
  outfile,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: watch ? "info" : "warning",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  const result = await esbuild.build(options);
  const [bytes] = Object.values(result.metafile.outputs).map((o) => o.bytes);
  if (bytes > BUDGET_BYTES) {
    console.error(`${outfile} is ${bytes} bytes, over its ${BUDGET_BYTES}-byte budget (is zod bundled whole again?)`);
    process.exit(1);
  }
  console.log(`${outfile}: ${bytes} bytes`);
}
JS
