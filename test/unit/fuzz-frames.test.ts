/**
 * The frame fuzzer's generators (test/support/fuzz-frames.ts): the same steps for the same seed,
 * every command type of the protocol's unions made valid and mutated in every field, on the socket
 * and over HTTP, and new commands picked up from the schema alone.
 */
import * as z from "zod";
import { describe, expect, it } from "vitest";
import { ClientFrame, ModerationCommand, Uuid } from "../../src/protocol";
import {
  FUZZ_CAST,
  HTTP_SPECS,
  Hole,
  SAFE_SECONDS,
  SOCKET_SPECS,
  commandSpecs,
  fuzzSteps,
  httpVerdict,
  render,
  renderTree,
  socketVerdict,
  socketWireText,
  timeSafe,
  validObject,
  type FuzzStep,
  type Resolver,
} from "../support/fuzz-frames";
import * as fc from "fast-check";

const COMMENT = "11111111-1111-4111-8111-111111111111";
const USER = "22222222-2222-4222-8222-222222222222";
const resolve: Resolver = (pool) => (pool === "user" ? USER : pool === "comment" ? COMMENT : "upload-1");
const verdict = (s: FuzzStep) => (s.channel === "socket" ? socketVerdict(render(s.payload, resolve)) : httpVerdict(render(s.payload, resolve)));

const steps = fuzzSteps(19, 12_000);

describe("fuzzSteps is deterministic for a seed", () => {
  it("the same seed gives the same steps; another seed others", () => {
    expect(fuzzSteps(19, 300)).toEqual(steps.slice(0, 300));
    const other = fuzzSteps(20, 300);
    expect(other.map((s) => JSON.stringify(s.origin))).not.toEqual(steps.slice(0, 300).map((s) => JSON.stringify(s.origin)));
  });
});

describe("the commands come from the protocol's schemas", () => {
  it("every option of ClientFrame and of ModerationCommand is a spec, in the unions' order", () => {
    expect(SOCKET_SPECS.map((s) => s.type)).toEqual(ClientFrame.options.map((o) => o.shape.type.value));
    expect(HTTP_SPECS.map((s) => s.type)).toEqual(ModerationCommand.options.map((o) => o.shape.type.value));
    expect(SOCKET_SPECS.find((s) => s.type === "timeout")!.fields).toEqual(["type", "user_id", "seconds", "reason", "client_msg_id"]);
  });

  it("a command added to a union is generated with no change to the fuzzer: valid values, holes for ids, long durations", () => {
    const Added = z.discriminatedUnion("type", [
      ...ClientFrame.options,
      z.object({ type: z.literal("zz_new"), user_id: Uuid, seconds: z.number().int().min(1).max(7_200), preset: z.object({ on: z.boolean(), mode: z.enum(["a", "b"]) }) }),
    ]);
    const spec = commandSpecs(Added).find((s) => s.type === "zz_new")!;
    expect(spec.fields).toEqual(["type", "user_id", "seconds", "preset", "preset.on", "preset.mode"]);
    for (const tree of fc.sample(validObject(spec.schema), { seed: 1, numRuns: 50 })) {
      expect(tree.user_id).toBeInstanceOf(Hole);
      expect(Added.safeParse(JSON.parse(renderTree(tree, resolve))).success).toBe(true);
      expect(tree.seconds as number).toBeGreaterThanOrEqual(SAFE_SECONDS);
    }
  });
});

describe("a run covers every command type and every field", () => {
  for (const [channel, specs] of [["socket", SOCKET_SPECS], ["http", HTTP_SPECS]] as const) {
    it(`${channel}: each type valid, and each of its fields mutated`, () => {
      const mine = steps.filter((s) => s.channel === channel);
      const validTypes = new Set(mine.filter((s) => s.origin.kind === "valid").map((s) => s.origin.type));
      const mutatedFields = new Set(mine.filter((s) => s.origin.kind === "mutated").map((s) => `${s.origin.type}.${s.origin.field}`));
      expect(specs.filter((s) => !validTypes.has(s.type)).map((s) => s.type)).toEqual([]);
      const missing = specs.flatMap((s) => s.fields.map((f) => `${s.type}.${f}`)).filter((f) => !mutatedFields.has(f));
      expect(missing).toEqual([]);
    });
  }

  it("valid steps are valid frames from valid users; fuzz steps come from fuzzers and include every gate refusal", () => {
    const refusals = new Set<string>();
    for (const s of steps) {
      const v = verdict(s);
      if (s.origin.kind === "valid") {
        expect(v.valid, JSON.stringify(s)).toBe(true);
        expect(FUZZ_CAST[s.actor]!.fuzz).toBe(false);
      } else {
        expect(FUZZ_CAST[s.actor]!.fuzz).toBe(true);
        if (!v.valid) refusals.add(`${s.channel}:${v.code}`);
      }
    }
    expect([...refusals].sort()).toEqual(["http:invalid_frame", "http:invalid_json", "socket:frame_too_large", "socket:invalid_frame", "socket:invalid_json", "socket:unsupported_binary"]);
  });

  it("no step is a valid command with a duration a run could outlast", () => {
    expect(steps.filter((s) => !timeSafe(s))).toEqual([]);
  });
});

describe("the oracle", () => {
  it("a lone surrogate sent raw arrives as three U+FFFD (workerd's WTF-8); a pair is kept", () => {
    expect(socketWireText("a\ud800b\ud83d\ude00\udc00")).toBe("a\ufffd\ufffd\ufffdb\ud83d\ude00\ufffd\ufffd\ufffd");
  });

  it("the gate's order: binary, size, JSON, schema", () => {
    expect(socketVerdict({ bytes: new Uint8Array([1]) })).toEqual({ valid: false, code: "unsupported_binary" });
    expect(socketVerdict({ text: JSON.stringify({ type: "message", text: "x".repeat(9_000) }) })).toEqual({ valid: false, code: "frame_too_large" });
    expect(socketVerdict({ text: "{" })).toEqual({ valid: false, code: "invalid_json" });
    expect(socketVerdict({ text: '{"type":"nope"}' })).toEqual({ valid: false, code: "invalid_frame" });
    expect(socketVerdict({ text: '{"type":"message","text":"hi","client_msg_id":"a"}' })).toMatchObject({ valid: true, type: "message", cmid: "a" });
  });

  it("over HTTP, the body is UTF-8 with a leading BOM dropped, and only moderation frames are valid", () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"type":"unpin"}')]);
    expect(httpVerdict({ bytes: bom })).toMatchObject({ valid: true, type: "unpin" });
    expect(httpVerdict({ text: '{"type":"message","text":"hi"}' })).toEqual({ valid: false, code: "invalid_frame" });
  });
});
