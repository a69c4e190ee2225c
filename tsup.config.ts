/**
 * Builds the client SDK that `npm pack` / `npm install <this repo>` ships as
 * `edge-stream-chat/client` (package.json `exports`): `npm run build:sdk`, run by `prepack`.
 *
 *   dist/client/index.js    one ES module (ES2022), zod bundled in: no runtime dependency, no
 *                           Node built-ins, so the same file runs in browsers, Node ≥ 20, Deno
 *                           and Workers (and loads straight from a URL without a bundler)
 *   dist/client/index.d.ts  its types, self-contained (src/client/types.ts explains why)
 *
 * Not minified: apps bundle and minify it themselves, and readable code helps when debugging.
 */
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/client/index.ts" },
  outDir: "dist/client",
  format: ["esm"],
  platform: "neutral",
  target: "es2022",
  dts: true,
  // zod validates every frame the server sends; bundled so installing the SDK installs nothing else.
  noExternal: ["zod"],
  treeshake: true,
  clean: true,
  sourcemap: false,
});
