/**
 * The frame fuzzer's generators (issue 19 §5), pure: no Workers APIs, so the same steps are made in
 * Node (test/unit/fuzz-frames.test.ts) and inside workerd (test/worker/fuzz.test.ts).
 *
 * Every command shape comes from the zod schemas of src/protocol.ts: the options of `ClientFrame`
 * (socket) and of `ModerationCommand` (POST /v1/streams/{id}/chat/actions) are read through
 * `z.toJSONSchema`, and values are generated from what each field's schema says (const, enum,
 * bounds, lengths, items, nested objects). A command added to those unions is fuzzed with no change
 * here. Hand-written hints only where a schema cannot give a meaningful valid value:
 *   - FIELD_POOLS: a UUID field named `id`/`reply_to` means a comment of this stream, `user_id` a user
 *     of the test's cast; the value is a {@link Hole}, filled at send time from what the run has seen;
 *   - time fields (`seconds`, `*_s`): valid values are 0 or ≥ SAFE_SECONDS, so that no rule's outcome
 *     depends on how fast a run goes — the reference run (test/worker/fuzz.test.ts) replays the
 *     valid commands at another pace and must reach the same state;
 *   - a small vocabulary for free text, so blocked terms, mentions and messages meet.
 *
 *   fuzzSteps(seed, count)   the steps of one run: who sends what on which channel (deterministic)
 *   render(step, resolve)    the bytes that go on the wire, holes filled
 *   socketVerdict / httpVerdict   what the server's gate must make of those bytes (the oracle)
 */
import * as fc from "fast-check";
import * as z from "zod";
import { ClientFrame, MAX_FRAME_BYTES, MAX_TITLE_CODE_POINTS, ModerationCommand, UNIQUE_MAX_S, type Role } from "../../src/protocol";

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

/** One user of a fuzz run: `fuzz` users send mutated and random frames, the others only valid commands. */
export interface CastMember {
  name: string;
  role: Role;
  fuzz: boolean;
  /** connects with `?batch=1` (its frames may come coalesced, its answers held behind them) */
  batch?: boolean;
}

/**
 * The users of every run, in the order they connect (the same in the fuzzed and the reference run,
 * so the room knows the same staff in both). Staff fuzzers reach the rules behind the role checks;
 * batched members exercise coalesced delivery and answers held behind it.
 */
export const FUZZ_CAST: readonly CastMember[] = [
  { name: "owner", role: "owner", fuzz: false },
  { name: "mod", role: "moderator", fuzz: false },
  { name: "viewer1", role: "viewer", fuzz: false },
  { name: "viewer2", role: "viewer", fuzz: false, batch: true },
  { name: "fuzz_owner", role: "owner", fuzz: true },
  { name: "fuzz_mod", role: "moderator", fuzz: true, batch: true },
  { name: "fuzz_viewer1", role: "viewer", fuzz: true },
  { name: "fuzz_viewer2", role: "viewer", fuzz: true, batch: true },
];

// ---------------------------------------------------------------------------------------------
// Values: JSON trees with holes and raw JSON text
// ---------------------------------------------------------------------------------------------

/** What a hole is filled from: comments the run has seen, the cast's users (+ absent ones), uploads. */
export type HolePool = "comment" | "user" | "upload";
/** How a filled id is bent: kept, upper-cased (still valid: ids are case-insensitive), or broken. */
export type HoleShape = "as_is" | "upper" | "braces" | "no_dashes" | "short" | "long" | "padded";

/** An id the schema cannot invent meaningfully: filled at send time by the runner (see {@link render}). */
export class Hole {
  constructor(
    readonly pool: HolePool,
    /** which one: the resolver maps it onto what it has (e.g. `pick % n` of the recent comments) */
    readonly pick: number,
    readonly shape: HoleShape = "as_is",
  ) {}
}

/** JSON text inserted verbatim: numbers JSON.stringify cannot write (1e999, 30-digit integers), deep nesting. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object whose text repeats keys (`{"type":"message",…,"type":"ban"}`): JSON.parse keeps the last. */
export class DupKeys {
  constructor(
    readonly base: { [k: string]: Tree },
    readonly extra: Array<[string, Tree]>,
  ) {}
}

export type Tree = null | boolean | number | string | Tree[] | { [k: string]: Tree } | Hole | RawJson | DupKeys;

/** What a step puts on the wire, before holes are filled. */
export type Payload =
  /** a JSON text; `edit` then changes the text itself (truncation, stray bytes, a raw lone surrogate, padding) */
  | { kind: "json"; tree: Tree; edit?: TextEdit }
  /** any text, not necessarily JSON */
  | { kind: "text"; text: string }
  /** a binary WebSocket frame, or raw body bytes over HTTP (invalid UTF-8, a BOM) */
  | { kind: "bytes"; bytes: number[] };

/** A change to a rendered JSON text, at a position given as a fraction of its length. */
export type TextEdit =
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "wrap"; before: string; after: string };

/** Where a step came from: for coverage (every type, every field) and the run's summary. */
export interface Origin {
  kind: "valid" | "mutated" | "random";
  /** the command type the frame was made from */
  type?: string;
  /** the field a mutation changed: a path such as `text` or `preset.slow_mode_s` */
  field?: string;
  /** the kind of change (see MUTATIONS and RANDOM_KINDS) */
  how: string;
}

/** One frame of a run: from cast member `actor`, over a socket or as an HTTP action. */
export interface FuzzStep {
  actor: number;
  channel: "socket" | "http";
  payload: Payload;
  origin: Origin;
}

// ---------------------------------------------------------------------------------------------
// The command shapes, from the schemas
// ---------------------------------------------------------------------------------------------

/** The subset of JSON Schema that z.toJSONSchema gives for the protocol's frames. */
export interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

/** One command type as its schema describes it. */
export interface CommandSpec {
  type: string;
  schema: JsonSchema;
  /** every field path a mutation may change: top-level fields, then nested object fields (`preset.emote_only`) */
  fields: string[];
}

type Union = { options: readonly z.ZodType[] };

/** The command types of a discriminated union of protocol frames (its options, in order), with their schemas. */
export function commandSpecs(union: Union): CommandSpec[] {
  return union.options.map((option) => {
    const schema = z.toJSONSchema(option, { io: "input", unrepresentable: "any" }) as JsonSchema;
    const type = schema.properties?.type?.const;
    if (typeof type !== "string") throw new Error(`a protocol frame without a literal type: ${JSON.stringify(schema)}`);
    return { type, schema, fields: fieldPaths(schema) };
  });
}

function fieldPaths(schema: JsonSchema, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    out.push(prefix + key);
    if (sub.properties) out.push(...fieldPaths(sub, `${prefix}${key}.`));
  }
  return out;
}

/** The socket's command types (ClientFrame) and the actions route's (ModerationCommand). */
export const SOCKET_SPECS: readonly CommandSpec[] = commandSpecs(ClientFrame);
export const HTTP_SPECS: readonly CommandSpec[] = commandSpecs(ModerationCommand);

// ---------------------------------------------------------------------------------------------
// Hints (the only hand-written knowledge of the commands)
// ---------------------------------------------------------------------------------------------

/** UUID fields by name: what they refer to. A UUID field not named here draws from either pool. */
export const FIELD_POOLS: Readonly<Record<string, HolePool>> = { id: "comment", reply_to: "comment", user_id: "user" };
/** Array fields whose items are upload ids (no schema says so: they are opaque strings). */
export const UPLOAD_FIELDS: ReadonlySet<string> = new Set(["attachments"]);
/**
 * A valid time field (`seconds`, or a name ending in `_s`) is 0 or at least this many seconds, so a
 * timeout, slow mode, a purge's reach or a mode's window lasts longer than any run: the same
 * commands give the same outcomes however fast they are sent. {@link fuzzSteps} also drops any step
 * whose frame would be valid with a shorter duration (a mutation can land on one, e.g. `1e1`).
 */
export const SAFE_SECONDS = 3_600;
/** How often a valid command of each type is chosen, relative to 1 (types not named here: 1). */
export const TYPE_WEIGHTS: Readonly<Record<string, number>> = { message: 8, edit: 2, unban: 3, ban: 0.5, timeout: 0.5, ping: 0.5 };

const isTimeField = (name: string) => name === "seconds" || name.endsWith("_s");
const UUID_PATTERN = /\[0-9a-f\]\{8\}-/;

/** Words the free text is made of: terms a moderator blocks turn up in messages. */
const VOCAB = ["hello", "chat", "spam", "free", "gg", "lol", "buy", "now", "stream", "nice", "bad", "word", "pog", "hi", "ok"];

// ---------------------------------------------------------------------------------------------
// Valid values from a schema
// ---------------------------------------------------------------------------------------------

const word = fc.constantFrom(...VOCAB);
const castMention = fc.constantFrom(...FUZZ_CAST.map((m) => `@${m.name}`));
const freeText: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.oneof({ weight: 6, arbitrary: word }, { weight: 1, arbitrary: castMention }, { weight: 1, arbitrary: fc.constant("https://example.com/x") }), { minLength: 1, maxLength: 8 }).map((w) => w.join(" ")) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom("  spaced  ", "line one\nline two", "emoji 🎉🎉", "ÄÖÜ ß", "日本語", "\u200b") },
);
/** client_msg_ids: mostly unique, sometimes one of a few shared ones (dedupe of repeats). */
const clientMsgId = fc.oneof({ weight: 8, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 6, maxLength: 20 }).map((s) => `c-${s}`) }, { weight: 1, arbitrary: fc.constantFrom("dup-1", "dup-2") });
const pick = fc.nat({ max: 1_000_000 });

/** A valid value for `schema` (field `name`), with holes where the value must refer to the run's comments or users. */
export function validValue(schema: JsonSchema, name: string): fc.Arbitrary<Tree> {
  if (schema.const !== undefined) return fc.constant(schema.const as Tree);
  if (schema.enum) return fc.constantFrom(...(schema.enum as Tree[]));
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) return fc.oneof(...alts.map((s) => validValue(s, name)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "integer":
    case "number": {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
      const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000);
      if (isTimeField(name)) {
        const safeMin = Math.max(min, SAFE_SECONDS);
        const ranges: Array<fc.Arbitrary<number>> = [];
        if (min <= 0) ranges.push(fc.constant(0));
        if (safeMin <= max) ranges.push(fc.integer({ min: safeMin, max }));
        if (ranges.length === 0) ranges.push(fc.constant(max)); // a schema whose every duration is short: the longest
        return fc.oneof(...ranges);
      }
      return type === "integer" ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) }) : fc.double({ min, max, noNaN: true });
    }
    case "string": {
      if (name === "client_msg_id") return clientMsgId;
      if (schema.pattern && UUID_PATTERN.test(schema.pattern)) {
        const pool = FIELD_POOLS[name];
        return pool ? pick.map((p) => new Hole(pool, p)) : fc.tuple(fc.constantFrom<HolePool>("comment", "user"), pick).map(([pl, p]) => new Hole(pl, p));
      }
      if (UPLOAD_FIELDS.has(name)) return pick.map((p) => new Hole("upload", p));
      const minLength = schema.minLength ?? 0;
      const maxLength = schema.maxLength ?? 500;
      return freeText.map((t) => fitLength(t, minLength, maxLength));
    }
    case "array": {
      const items = schema.items ?? {};
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 4, 4));
      return fc.array(validValue(items, name), { minLength, maxLength });
    }
    case "object":
      return validObject(schema);
    default:
      return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Tree>;
  }
}

/** A string cut (by code points) or padded (with vocabulary words) to `min … max` UTF-16 units. */
function fitLength(s: string, min: number, max: number): string {
  const points = [...s];
  while (points.join("").length > max) points.pop();
  let out = points.join("");
  while (out.length < min) out += VOCAB[out.length % VOCAB.length]!.slice(0, min - out.length);
  return out;
}

/** A valid object for an object schema: every required field, each optional one half of the time; `type` first. */
export function validObject(schema: JsonSchema): fc.Arbitrary<{ [k: string]: Tree }> {
  const required = new Set(schema.required ?? []);
  const entries = Object.entries(schema.properties ?? {}).map(([key, sub]) =>
    required.has(key) ? validValue(sub, key).map((v) => [key, v] as const) : fc.option(validValue(sub, key).map((v) => [key, v] as const), { nil: undefined }),
  );
  return fc.tuple(...entries).map((pairs) => {
    const out: { [k: string]: Tree } = {};
    for (const p of pairs) if (p) setOwn(out, p[0], p[1]);
    return withinRefinements(out);
  });
}

/**
 * The protocol's refinements that its JSON Schema cannot carry (src/protocol.ts `.refine`): a
 * `unique` window of at most UNIQUE_MAX_S (the field's bound is account_age's), a title of at most
 * MAX_TITLE_CODE_POINTS code points (the schema's bound is in UTF-16 units). A valid value is brought
 * inside them; mutations still cross them.
 */
function withinRefinements(o: { [k: string]: Tree }): { [k: string]: Tree } {
  if (o.type === "chat_mode" && o.mode === "unique" && typeof o.seconds === "number" && o.seconds > UNIQUE_MAX_S) o.seconds = UNIQUE_MAX_S;
  if (o.type === "title" && typeof o.title === "string" && [...o.title].length > MAX_TITLE_CODE_POINTS) o.title = [...o.title].slice(0, MAX_TITLE_CODE_POINTS).join("");
  return o;
}

/** Sets an own property even for keys like `__proto__` (an assignment would change the prototype instead). */
function setOwn(o: { [k: string]: Tree }, key: string, value: Tree): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Mutations: a valid command with one field changed
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATES = ["\ud800", "\udfff", "\udc00\ud800", "a\ud83d", "\ude00b"];
/** Strings the text rules, the stores and the JSON layers must survive. */
const NASTY_STRINGS: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LONE_SURROGATES.map((s) => `x${s}y`), ...LONE_SURROGATES) },
  fc.constantFrom("\u0000", "a\u0007b", "\u0085", "\u202eevil\u202c", "\u2066iso\u2069", "\u200b\u200b", "\u3164", "\ufeff", "\r\n\r\n", "\t"),
  fc.integer({ min: 9, max: 60 }).map((n) => `a${"\u0301".repeat(n)}`),
  fc.constantFrom(501, 502, 1_000).map((n) => "x".repeat(n)),
  fc.constantFrom(250, 501).map((n) => "🎉".repeat(n)),
  fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "null", "undefined", "NaN", "{}", "[]", '"', "\\", "%s%n", "' OR 1=1 --", "<script>alert(1)</script>"),
  fc.string({ unit: "binary", minLength: 0, maxLength: 40 }),
  fc.constantFrom(9_000, 20_000).map((n) => "y".repeat(n)),
);
const WRONG_TYPES: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Tree>(null, true, false, 0, -1, 1.5, "", "x", [], {}, ["x"], { a: 1 }, [null], { type: "message" }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Tree>,
);
const HUGE_NUMBERS: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom<Tree>(1e308, -1e308, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, -0, 0.5, 1e-7, 2 ** 31, 2 ** 32, -(2 ** 31) - 1),
  fc.constantFrom("1e999", "-1e999", "123456789012345678901234567890", "1E400", "-0.0", "0e0", "1.0", "1e1", "10.0e0", "0.1e1").map((t) => new RawJson(t)),
  fc.double(),
);
/** Nested arrays or objects `depth` deep, as raw text (JSON.parse and zod must not recurse into a stack overflow). */
const DEEP: fc.Arbitrary<Tree> = fc.tuple(fc.constantFrom(10, 100, 1_000, 3_000), fc.boolean()).map(([depth, arrays]) =>
  new RawJson(arrays ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`),
);
const ID_SHAPES = fc.constantFrom<HoleShape>("upper", "braces", "no_dashes", "short", "long", "padded");
const OTHER_TYPES = fc.constantFrom(...[...new Set([...SOCKET_SPECS, ...HTTP_SPECS].map((s) => s.type))]);
const TYPE_CONFUSION: fc.Arbitrary<Tree> = fc.oneof(
  OTHER_TYPES,
  OTHER_TYPES.map((t) => t.toUpperCase()),
  OTHER_TYPES.map((t) => ` ${t}`),
  fc.constantFrom<Tree>("", "__proto__", "constructor", "toString", "batch", "welcome", "comment", "error", "ack", "pong", null, 0, ["message"], { type: "message" }),
);
/** Unknown fields a client might add hoping the server uses them: zod must drop them. */
const EXTRA_FIELDS: fc.Arbitrary<[string, Tree]> = fc.oneof(
  fc.constantFrom<[string, Tree]>(["__proto__", { role: "owner", admin: true }], ["constructor", { prototype: { role: "owner" } }], ["role", "owner"], ["by", "someone"], ["seq", 1], ["user", { id: "x", role: "owner" }], ["user_id", "00000000-0000-4000-8000-000000000000"], ["stream_id", "00000000-0000-4000-8000-000000000000"], ["created_at", "1970-01-01T00:00:00Z"]),
  fc.tuple(fc.string({ maxLength: 12 }), WRONG_TYPES),
);

/** A mutation's "remove this field". */
const DROP = Symbol("drop");

/** The kinds of change a mutation makes to its field, each a function of the field's schema. */
const MUTATIONS: Record<string, (schema: JsonSchema, name: string) => fc.Arbitrary<Tree | typeof DROP>> = {
  drop: () => fc.constant(DROP),
  wrong_type: () => WRONG_TYPES,
  huge_number: () => HUGE_NUMBERS,
  nasty_string: () => NASTY_STRINGS,
  deep_nesting: () => DEEP,
  out_of_range: (s) => outOfRange(s),
  boundary: (s, name) => boundary(s, name),
  bent_id: (s, name) => (s.pattern && UUID_PATTERN.test(s.pattern) ? fc.tuple(fc.constantFrom<HolePool>(FIELD_POOLS[name] ?? "comment"), pick, ID_SHAPES).map(([pl, p, sh]) => new Hole(pl, p, sh)) : WRONG_TYPES),
  other_valid: (s, name) => validValue(s, name),
};

/** Values just outside a schema's bounds (a number one past, a string one longer, an array one item more). */
function outOfRange(s: JsonSchema): fc.Arbitrary<Tree> {
  const out: Tree[] = [];
  if (s.minimum !== undefined) out.push(s.minimum - 1, s.minimum - 0.5);
  if (s.maximum !== undefined) out.push(s.maximum + 1, s.maximum + 0.5);
  if (s.minLength !== undefined && s.minLength > 0) out.push("x".repeat(s.minLength - 1));
  if (s.maxLength !== undefined) out.push("x".repeat(s.maxLength + 1), "🎉".repeat(Math.ceil((s.maxLength + 1) / 2)));
  if (s.maxItems !== undefined) out.push(Array.from({ length: s.maxItems + 1 }, (_, i) => `item${i}`));
  if (s.enum) out.push(...s.enum.map((e) => (typeof e === "string" ? e.toUpperCase() : e)).filter((e): e is string => typeof e === "string"), "unknown");
  if (s.const !== undefined) out.push(`${String(s.const)}x`);
  if (s.type === "boolean") out.push("true", 1, 0);
  return out.length > 0 ? fc.constantFrom(...out) : WRONG_TYPES;
}

/** Values on a schema's bounds (still valid): the smallest and largest number, string or array. */
function boundary(s: JsonSchema, name: string): fc.Arbitrary<Tree> {
  const out: Tree[] = [];
  // Time fields keep to durations no run outlasts (SAFE_SECONDS), their lower bound excepted only when it is 0.
  if (s.minimum !== undefined && (!isTimeField(name) || s.minimum === 0)) out.push(s.minimum);
  if (s.maximum !== undefined) out.push(s.maximum);
  if (s.maxLength !== undefined) out.push("w".repeat(s.maxLength), "🎉".repeat(Math.floor(s.maxLength / 2)));
  if (s.minLength !== undefined && s.minLength > 0) out.push("m".repeat(s.minLength));
  if (s.type === "string" && s.maxLength === undefined && !s.pattern) out.push("z".repeat(500), "🎉".repeat(500), "z".repeat(501));
  if (s.maxItems !== undefined) out.push(Array.from({ length: s.maxItems }, (_, i) => `${VOCAB[i % VOCAB.length]}${i}`));
  return out.length > 0 ? fc.constantFrom(...out) : validValue(s, name);
}

/** The schema of a field path (`preset.slow_mode_s`) within a command's schema. */
function schemaAt(schema: JsonSchema, path: string[]): JsonSchema {
  let s: JsonSchema = schema;
  for (const key of path) s = s.properties?.[key] ?? {};
  return s;
}

/** `tree` with the value at `path` replaced (or removed, for DROP); parents made when missing. */
function withField(tree: { [k: string]: Tree }, path: string[], value: Tree | typeof DROP): { [k: string]: Tree } {
  const [head, ...rest] = path as [string, ...string[]];
  const out: { [k: string]: Tree } = {};
  for (const [k, v] of Object.entries(tree)) setOwn(out, k, v);
  if (rest.length === 0) {
    if (value === DROP) delete out[head];
    else setOwn(out, head, value);
    return out;
  }
  const child = out[head];
  const base = child && typeof child === "object" && !Array.isArray(child) && !(child instanceof Hole) && !(child instanceof RawJson) && !(child instanceof DupKeys) ? (child as { [k: string]: Tree }) : {};
  setOwn(out, head, withField(base, rest, value));
  return out;
}

/** A mutated command of `spec`: a valid one with one field (or an extra field, or a repeated key) changed. */
function mutated(spec: CommandSpec): fc.Arbitrary<{ tree: Tree; origin: Origin }> {
  const fieldChange = fc
    .tuple(fc.constantFrom(...spec.fields), fc.constantFrom(...Object.keys(MUTATIONS)))
    .chain(([field, how]) => {
      const path = field.split(".");
      return fc.tuple(validObject(spec.schema), MUTATIONS[how]!(schemaAt(spec.schema, path), path[path.length - 1]!)).map(([tree, value]) => ({
        tree: withField(tree, path, value) as Tree,
        origin: { kind: "mutated", type: spec.type, field, how } as Origin,
      }));
    });
  const extra = fc.tuple(validObject(spec.schema), EXTRA_FIELDS).map(([tree, [k, v]]) => ({ tree: withField(tree, [k], v) as Tree, origin: { kind: "mutated", type: spec.type, field: "(extra)", how: `extra:${k}` } as Origin }));
  const dup = fc.tuple(validObject(spec.schema), fc.constantFrom(...spec.fields.filter((f) => !f.includes("."))), WRONG_TYPES).map(([tree, k, v]) => ({
    tree: new DupKeys(tree, [[k, v]]) as Tree,
    origin: { kind: "mutated", type: spec.type, field: k, how: "duplicate_key" } as Origin,
  }));
  return fc.oneof({ weight: 10, arbitrary: fieldChange }, { weight: 1, arbitrary: extra }, { weight: 1, arbitrary: dup });
}

// ---------------------------------------------------------------------------------------------
// Random frames
// ---------------------------------------------------------------------------------------------

const anySpec = (specs: readonly CommandSpec[]) => fc.constantFrom(...specs);
const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }).map((at) => ({ kind: "truncate", at }) as TextEdit),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(",", "}", "{", '"', "\\", "\u0000", "\ud800", "\udfff", " ", "\n", "\\u", "\\ud800", "💥")).map(([at, text]) => ({ kind: "insert", at, text }) as TextEdit),
  fc.constantFrom<TextEdit>({ kind: "wrap", before: " \n\t", after: " \n" }, { kind: "wrap", before: "\ufeff", after: "" }, { kind: "wrap", before: "[", after: "]" }, { kind: "wrap", before: "", after: "garbage" }, { kind: "wrap", before: "", after: "\u0000" }, { kind: "wrap", before: '{"a":', after: "}" }),
);

/** The kinds of random frame (Origin.how of a `random` step). */
function randomPayloads(specs: readonly CommandSpec[]): fc.Arbitrary<{ payload: Payload; origin: Origin }> {
  const r = (how: string, type?: string) => ({ kind: "random" as const, how, ...(type ? { type } : {}) });
  return fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ payload: { kind: "json", tree: v as Tree } as Payload, origin: r("json_value") })),
    fc.string({ unit: "binary", maxLength: 60 }).map((text) => ({ payload: { kind: "text", text } as Payload, origin: r("any_text") })),
    fc.constantFrom("", " ", "null", "true", "0", "[]", "{}", '""', "{", "}", '{"type":}', '{"type":"message"', "\ud800", "[".repeat(5_000), '{"type":"ping"}', '{ "type": "ping" }', '{"type":"ping","x":1}').map((text) => ({ payload: { kind: "text", text } as Payload, origin: r("literal") })),
    fc.uint8Array({ maxLength: 64 }).map((b) => ({ payload: { kind: "bytes", bytes: [...b] } as Payload, origin: r("bytes") })),
    fc.constantFrom<number[]>([0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf, 0x7b, 0x7d], [0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]).map((bytes) => ({ payload: { kind: "bytes", bytes: [...bytes] } as Payload, origin: r("bad_utf8") })),
    fc.tuple(anySpec(specs), textEdit).chain(([spec, edit]) => validObject(spec.schema).map((tree) => ({ payload: { kind: "json", tree, edit } as Payload, origin: r(`text_edit:${edit.kind}`, spec.type) }))),
    fc.tuple(anySpec(specs), fc.constantFrom(8_192, 9_000, 70_000)).chain(([spec, size]) =>
      validObject(spec.schema).map((tree) => ({ payload: { kind: "json", tree: withField(tree, ["pad"], "p".repeat(size)) } as Payload, origin: r("oversized", spec.type) })),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

const castIndex = (pred: (m: CastMember) => boolean) => FUZZ_CAST.flatMap((m, i) => (pred(m) ? [i] : []));
const VALID_ACTORS = castIndex((m) => !m.fuzz);
const FUZZ_ACTORS = castIndex((m) => m.fuzz);

function validCommand(specs: readonly CommandSpec[]): fc.Arbitrary<{ tree: Tree; origin: Origin }> {
  return fc.oneof(
    ...specs.map((spec) => ({ weight: Math.max(1, Math.round((TYPE_WEIGHTS[spec.type] ?? 1) * 2)), arbitrary: validObject(spec.schema).map((tree) => ({ tree: tree as Tree, origin: { kind: "valid", type: spec.type, how: "valid" } as Origin })) })),
  );
}

function stepArbitrary(): fc.Arbitrary<FuzzStep> {
  const channel = (ch: "socket" | "http") => (ch === "socket" ? SOCKET_SPECS : HTTP_SPECS);
  const onChannel = (ch: "socket" | "http", made: fc.Arbitrary<{ tree?: Tree; payload?: Payload; origin: Origin }>, actors: number[]) =>
    fc.tuple(made, fc.constantFrom(...actors)).map(([m, actor]) => ({ actor, channel: ch, payload: m.payload ?? ({ kind: "json", tree: m.tree! } as Payload), origin: m.origin }));
  const per = (ch: "socket" | "http") =>
    fc.oneof(
      { weight: 35, arbitrary: onChannel(ch, validCommand(channel(ch)), VALID_ACTORS) },
      { weight: 45, arbitrary: onChannel(ch, anySpec(channel(ch)).chain(mutated), FUZZ_ACTORS) },
      { weight: 20, arbitrary: onChannel(ch, randomPayloads(channel(ch)), FUZZ_ACTORS) },
    );
  return fc.oneof({ weight: 85, arbitrary: per("socket") }, { weight: 15, arbitrary: per("http") }).filter(timeSafe);
}

/**
 * The steps of one run, the same for the same seed on every machine: `count` frames, about a third
 * valid commands from the valid users, the rest mutated or random frames from the fuzzers, 15 %
 * of them as HTTP actions.
 */
export function fuzzSteps(seed: number, count: number): FuzzStep[] {
  return fc.sample(stepArbitrary(), { seed, numRuns: count });
}

// ---------------------------------------------------------------------------------------------
// Rendering and the oracle
// ---------------------------------------------------------------------------------------------

/** Fills a hole: the runner's current comment ids, the cast's user ids, upload ids. */
export type Resolver = (pool: HolePool, pick: number) => string;

/** A hole's id, bent to its shape. */
function holeText(h: Hole, resolve: Resolver): string {
  const id = resolve(h.pool, h.pick);
  switch (h.shape) {
    case "as_is":
      return id;
    case "upper":
      return id.toUpperCase();
    case "braces":
      return `{${id}}`;
    case "no_dashes":
      return id.replaceAll("-", "");
    case "short":
      return id.slice(0, -1);
    case "long":
      return `${id}0`;
    case "padded":
      return ` ${id} `;
  }
}

/** JSON text of a tree (raw parts verbatim, repeated keys kept, holes filled). */
export function renderTree(t: Tree, resolve: Resolver): string {
  if (t instanceof Hole) return JSON.stringify(holeText(t, resolve));
  if (t instanceof RawJson) return t.text;
  if (t instanceof DupKeys) {
    const parts = [...Object.entries(t.base), ...t.extra].map(([k, v]) => `${JSON.stringify(k)}:${renderTree(v, resolve)}`);
    return `{${parts.join(",")}}`;
  }
  if (Array.isArray(t)) return `[${t.map((x) => renderTree(x, resolve)).join(",")}]`;
  if (t !== null && typeof t === "object") return `{${Object.entries(t).map(([k, v]) => `${JSON.stringify(k)}:${renderTree(v, resolve)}`).join(",")}}`;
  // JSON.stringify writes -0 as 0 and non-finite numbers as null, like any client would.
  return JSON.stringify(t);
}

/** What one step sends: a text frame / text body, or bytes (a binary frame / a raw body). */
export type Wire = { text: string } | { bytes: Uint8Array<ArrayBuffer> };

/** The wire form of a step's payload, its holes filled by `resolve`. */
export function render(payload: Payload, resolve: Resolver): Wire {
  if (payload.kind === "bytes") return { bytes: Uint8Array.from(payload.bytes) };
  if (payload.kind === "text") return { text: payload.text };
  const text = renderTree(payload.tree, resolve);
  const e = payload.edit;
  if (!e) return { text };
  if (e.kind === "wrap") return { text: e.before + text + e.after };
  const at = Math.floor(e.at * text.length);
  return { text: e.kind === "truncate" ? text.slice(0, at) : text.slice(0, at) + e.text + text.slice(at) };
}

/**
 * What a WebSocket text frame holds when it arrives: workerd sends a string's lone surrogates as
 * WTF-8 (3 bytes each), and the receiver's UTF-8 decoding makes each of them three U+FFFD (measured;
 * WHATWG "maximal subpart" replacement).
 */
export function socketWireText(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd\ufffd\ufffd");
}

/** What the server's gate must answer for a frame, by the protocol's own schema: valid (its type, client_msg_id), or the code it refuses it with. */
export type Verdict = { valid: true; type: string; cmid?: string; data: unknown } | { valid: false; code: "unsupported_binary" | "frame_too_large" | "invalid_json" | "invalid_frame" };

/** The oracle for a socket frame: the gate's checks (src/fanout.ts Fanout.gate), from the schema in src/protocol.ts. */
export function socketVerdict(wire: Wire): Verdict {
  if ("bytes" in wire) return { valid: false, code: "unsupported_binary" };
  const text = socketWireText(wire.text);
  if (new TextEncoder().encode(text).byteLength > MAX_FRAME_BYTES) return { valid: false, code: "frame_too_large" };
  return parsed(text, ClientFrame);
}

/** The bytes of an HTTP action's body (a text body is UTF-8 encoded, lone surrogates as U+FFFD). */
export function httpBody(wire: Wire): Uint8Array<ArrayBuffer> {
  return "bytes" in wire ? wire.bytes : new TextEncoder().encode(wire.text);
}

/** The oracle for an HTTP action body: JSON (UTF-8, a leading BOM dropped), then one ModerationCommand. */
export function httpVerdict(wire: Wire): Verdict {
  return parsed(new TextDecoder().decode(httpBody(wire)), ModerationCommand);
}

function parsed(text: string, schema: z.ZodType): Verdict {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { valid: false, code: "invalid_json" };
  }
  const r = schema.safeParse(raw);
  if (!r.success) return { valid: false, code: "invalid_frame" };
  const data = r.data as { type: string; client_msg_id?: string };
  return { valid: true, type: data.type, ...(data.client_msg_id !== undefined ? { cmid: data.client_msg_id } : {}), data };
}

/**
 * True unless the step's frame would be valid with a duration shorter than SAFE_SECONDS (a time
 * field, at any depth, between 1 and SAFE_SECONDS − 1): such a command's outcome would depend on
 * how fast the run goes. Holes are filled with a placeholder id (they never hold a duration).
 */
export function timeSafe(step: FuzzStep): boolean {
  const wire = render(step.payload, () => "00000000-0000-4000-8000-000000000000");
  const v = step.channel === "socket" ? socketVerdict(wire) : httpVerdict(wire);
  return !v.valid || !hasShortDuration(v.data);
}

function hasShortDuration(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "number" && isTimeField(k) && x > 0 && x < SAFE_SECONDS) return true;
    if (hasShortDuration(x)) return true;
  }
  return false;
}
