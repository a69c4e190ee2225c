/**
 * The demo page's script is built by wrangler, never committed (issue 8, item 5): on a fresh
 * clone, `wrangler dev` and `wrangler deploy` both build public/app.js from the current source
 * (wrangler.toml `[build]`), so a change to the page or the SDK cannot ship a stale page.
 *
 * "A fresh clone" = the files git would hand out (tracked + new, minus ignored) copied to a temp
 * directory, with this checkout's node_modules linked in. A marker is written into the page's
 * source there: the served /app.js must carry it and equal a build of that source, byte for byte.
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startProcess } from "../support/process.js";
import { freePort } from "../support/worker.js";

const run = promisify(execFile);

let clone: string;
const marker = `stale-page-check-${crypto.randomUUID()}`;

beforeAll(() => {
  clone = mkdtempSync(join(tmpdir(), "chat-clone-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    // Regular files only: skips files deleted but not committed yet, and a node_modules symlink.
    .filter((f) => f !== "" && existsSync(join(ROOT, f)) && lstatSync(join(ROOT, f)).isFile());
  for (const f of files) {
    mkdirSync(dirname(join(clone, f)), { recursive: true });
    cpSync(join(ROOT, f), join(clone, f));
  }
  symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"));
  // A visible change to the page's source (a string shown to users, so minifying keeps it; in a
  // module page.ts imports, so the build follows imports too).
  const page = join(clone, "src/client/page-words.ts");
  const src = readFileSync(page, "utf8");
  expect(src).toContain('"Type a message first."');
  writeFileSync(page, src.replace('"Type a message first."', JSON.stringify(marker)));
});

afterAll(() => {
  if (clone) rmSync(clone, { recursive: true, force: true });
});

/** Builds the clone's page source somewhere else: what the served page must equal. */
async function freshBuild(): Promise<string> {
  const out = join(clone, ".fresh", "app.js");
  await run("bash", [join(clone, "scripts/build-client.sh"), "--outfile", out], { cwd: clone });
  return readFileSync(out, "utf8");
}

const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" };

describe("the demo page is built from source by wrangler", () => {
  it("a fresh clone has no public/app.js, and `wrangler dev` serves one built from the current source", async () => {
    expect(existsSync(join(clone, "public/app.js"))).toBe(false);
    const port = await freePort();
    const inspector = await freePort();
    const dev = await startProcess({
      name: "wrangler dev (fresh clone)",
      // As `npm run dev` in the clone (its vars), on free ports.
      args: ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1"]
        .concat(["--inspector-port", String(inspector), "--persist-to", join(clone, ".state"), "--show-interactive-dev-session=false"])
        .concat(["--var", "DEV_TOKENS:true", "--var", "JWT_SECRET:local-dev-secret-not-for-production"]),
      env: wranglerEnv,
      cwd: clone,
      healthUrl: `http://127.0.0.1:${port}/healthz`,
      timeoutMs: 90_000,
    });
    try {
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');
      const res = await fetch(`http://127.0.0.1:${port}/app.js`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/javascript/);
      const served = await res.text();
      expect(served).toContain(marker);
      expect(served === (await freshBuild())).toBe(true);
    } finally {
      await dev.stop();
    }
  }, 120_000);

  it("`wrangler deploy --dry-run` builds it too (what a deploy uploads)", async () => {
    rmSync(join(clone, "public/app.js"), { force: true });
    const { stdout } = await run("npx", ["wrangler", "deploy", "--dry-run", "--outdir", join(clone, ".dry-run")], {
      cwd: clone,
      env: wranglerEnv,
      timeout: 120_000,
    });
    expect(stdout).toMatch(/\[custom build\] .*public\/app\.js: \d+ bytes/);
    const built = readFileSync(join(clone, "public/app.js"), "utf8");
    expect(built).toContain(marker);
    expect(built === (await freshBuild())).toBe(true);
  }, 120_000);

  it("git does not track the built page", () => {
    expect(execFileSync("git", ["ls-files", "public"], { cwd: ROOT, encoding: "utf8" }).split("\n")).not.toContain("public/app.js");
    expect(execFileSync("git", ["check-ignore", "public/app.js"], { cwd: ROOT, encoding: "utf8" }).trim()).toBe("public/app.js");
  });
});
