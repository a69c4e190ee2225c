/**
 * The SDK as its users get it: `npm pack` this repo, install the tarball into an empty project
 * (offline: the package has no dependencies), and chat through `edge-stream-chat/client` from a
 * plain `.mjs` script against the real worker (`wrangler dev`). Then a TypeScript file in that
 * project type-checks against the shipped `.d.ts` alone. (Issue 8, item 3: the package used to
 * export TypeScript source, so plain Node failed with ERR_UNKNOWN_FILE_EXTENSION ".ts".)
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gif } from "../support/images.js";
import { ROOT } from "../support/process.js";
import { startWorker, type RunningWorker } from "../support/worker.js";

const run = promisify(execFile);

let dir: string;
let project: string;
let tarball: string;
let worker: RunningWorker;

/** Runs a command; on failure the error carries its output (npm's is the useful part). */
async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-pack-"));
  // prepack builds dist/client (tsup): packing a fresh clone works without a manual build.
  await sh("npm", ["pack", "--pack-destination", dir, "--loglevel", "warn"], ROOT);
  const tgz = readdirSync(dir).filter((f) => f.endsWith(".tgz"));
  expect(tgz).toHaveLength(1);
  tarball = join(dir, tgz[0]!);

  project = join(dir, "app");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "sdk-user", private: true, version: "1.0.0", type: "module" }));
  // --offline: the tarball must install with no registry at all, i.e. without dependencies.
  await sh("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel", "warn", tarball], project);
  worker = await startWorker();
}, 240_000);

afterAll(async () => {
  await worker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A user's plain JavaScript: sign in (dev token), connect, send, and wait to receive it back; then
 * upload a GIF, send it alone, and fetch it from the URL its comment carries.
 */
const CHAT_SCRIPT = `
import { ChatClient, ChatError } from "edge-stream-chat/client";

const [baseUrl] = process.argv.slice(2);
const res = await fetch(baseUrl + "/dev/token", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ username: "packed" }),
});
const { token } = await res.json();
const streamId = crypto.randomUUID();
const text = "hello from the packed SDK on Node " + process.versions.node;

const chat = new ChatClient({ baseUrl, streamId, credentials: () => ({ token }) });
const received = new Promise((resolve) => {
  chat.on("comment", ({ seq, comment }) => {
    if (comment.message === text) resolve({ seq, message: comment.message, username: comment.username });
  });
});
const timeout = setTimeout(() => {
  console.error("timed out; state", chat.state);
  process.exit(3);
}, 30_000);
chat.connect();
const ack = await chat.send(text);
const got = await received;

const gifBytes = new Uint8Array(${JSON.stringify([...gif()])});
const withImage = new Promise((resolve) => {
  chat.on("comment", ({ comment }) => {
    if (comment.attachments?.length) resolve(comment);
  });
});
const upload = await chat.upload(gifBytes);
await chat.send("", { attachments: [upload.uploadId] });
const imageComment = await withImage;
const served = await fetch(imageComment.attachments[0].url);
const servedBytes = new Uint8Array(await served.arrayBuffer());
const image = {
  uploadUrl: upload.url,
  commentUrl: imageComment.attachments[0].url,
  status: served.status,
  type: served.headers.get("content-type"),
  same: servedBytes.length === gifBytes.length && servedBytes.every((b, i) => b === gifBytes[i]),
};
clearTimeout(timeout);
chat.close();
console.log(JSON.stringify({ ack: { seq: ack.seq }, got, text, image, isChatError: new ChatError("closed", "x") instanceof Error }));
`;

/** Node 20 on this machine (Debian's), if any: the oldest Node the SDK supports. */
function node20(): string | null {
  for (const p of ["/usr/bin/node", "/usr/local/bin/node"]) {
    if (existsSync(p) && execFileSync(p, ["--version"], { encoding: "utf8" }).startsWith("v20.")) return p;
  }
  return null;
}

describe("the packed SDK", () => {
  it("ships only the built SDK: ESM JavaScript and its types, no source, no dependencies", async () => {
    const listing = (await sh("tar", ["-tzf", tarball], dir)).trim().split("\n").sort();
    expect(listing).toEqual(["package/README.md", "package/dist/client/index.d.ts", "package/dist/client/index.js", "package/package.json"]);
    const installed = JSON.parse(readFileSync(join(project, "node_modules/edge-stream-chat/package.json"), "utf8")) as Record<string, unknown>;
    expect(installed.dependencies).toBeUndefined();
    expect(installed.exports).toEqual({ "./client": { types: "./dist/client/index.d.ts", default: "./dist/client/index.js" } });
    // Nothing else was installed next to it.
    expect(readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith("."))).toEqual(["edge-stream-chat"]);
    // One self-contained module: no import of a package or a Node built-in (browsers, Deno, Workers).
    const js = readFileSync(join(project, "node_modules/edge-stream-chat/dist/client/index.js"), "utf8");
    expect(js.match(/^\s*import\b.*$/gm) ?? []).toEqual([]);
    expect(js).not.toMatch(/\brequire\(|from\s*["']node:/);
  });

  it("chats from a plain .mjs script: sends a message and receives it back, uploads and sends an image", async () => {
    writeFileSync(join(project, "chat.mjs"), CHAT_SCRIPT);
    const out = await sh(process.execPath, ["chat.mjs", worker.url], project);
    const r = JSON.parse(out.trim()) as {
      ack: { seq: number };
      got: { seq: number; message: string; username: string };
      text: string;
      image: { uploadUrl: string; commentUrl: string; status: number; type: string; same: boolean };
      isChatError: boolean;
    };
    expect(r.got).toEqual({ seq: r.ack.seq, message: r.text, username: "packed" });
    expect(r.ack.seq).toBe(1);
    expect(r.image).toMatchObject({ commentUrl: r.image.uploadUrl, status: 200, type: "image/gif", same: true });
    expect(r.image.uploadUrl.startsWith(`${worker.url}/v1/uploads/`)).toBe(true);
    expect(r.isChatError).toBe(true);
  });

  const old = node20();
  it.runIf(old)("runs on Node 20 too (its WebSocket behind --experimental-websocket)", async () => {
    const version = (await sh(old!, ["--version"], project)).trim();
    writeFileSync(join(project, "chat.mjs"), CHAT_SCRIPT);
    const out = await sh(old!, ["--experimental-websocket", "chat.mjs", worker.url], project);
    const r = JSON.parse(out.trim()) as { got: { message: string }; text: string };
    expect(r.got.message).toBe(r.text);
    expect(r.text).toContain(version.replace(/^v/, ""));
  });

  it("type-checks a TypeScript user of the package against the shipped .d.ts alone", async () => {
    writeFileSync(
      join(project, "use.ts"),
      `import { ChatClient, ChatError, type SeqComment, type ConnectionState, type UploadResult } from "edge-stream-chat/client";
const chat = new ChatClient({ baseUrl: "https://chat.example", streamId: "x", credentials: () => ({ token: "t" }) });
const state: ConnectionState = chat.state;
chat.on("comment", (c: SeqComment) => console.log(c.comment.message.toUpperCase(), c.seq + 1));
chat.send("hi").then((r) => r.seq.toFixed(), (e: unknown) => e instanceof ChatError && e.code === "rate_limited");
chat.upload(new Uint8Array([1]), { contentType: "image/png" }).then(
  (u: UploadResult) => chat.send("", { attachments: [u.uploadId] }),
  (e: unknown) => e instanceof ChatError && (e.code === "upload_too_large" || e.code === "unsupported_media_type"),
);
// @ts-expect-error upload() takes bytes or a Blob, not a string
chat.upload("a path");
// @ts-expect-error the state is a union of strings, not a number (proves the types are real, not any)
const wrong: number = chat.state;
// @ts-expect-error "comment" listeners get a SeqComment
chat.on("comment", (c: string) => c);
export { state, wrong };
`,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib: ["es2022", "dom"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ["use.ts"],
      }),
    );
    await sh(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], project);
  });
});
