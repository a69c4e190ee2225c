/**
 * Text rules for chat messages (DESIGN.md "Room events: rich chat and moderation", "Text:"; issue 10):
 * what a message may contain, how it is cleaned, which blocked term it hits, how a reply quotes it,
 * and which mentions and links the server recognises in it.
 *
 * Pure: no I/O and no Workers APIs (only `String.prototype.normalize`, Unicode regexes, `URL` and,
 * when present, `Intl.Segmenter`), so the same rules run in workerd, Node and browsers.
 *
 * Every length here is in Unicode code points (an emoji or a CJK character is one), as in
 * `MAX_MESSAGE_CODE_POINTS`; entity offsets too (`[...text].slice(offset, offset + length)`).
 *
 * Cost: each function is a handful of linear passes (no regex here can backtrack more than a
 * constant per character), so a message is handled in microseconds; an 8 KiB frame (the largest a
 * socket may send) in well under a millisecond (measured in Node 22: about 4 µs CPU for a typical
 * 70-character message with a mention and a link; at most about 0.14 ms for the worst 8 KiB inputs
 * tried: fillers, marks, emoji, newline, CR, tab and bidi-control floods).
 */
import {
  type Entity,
  MAX_BLOCKED_TERM_CODE_POINTS,
  MAX_MESSAGE_CODE_POINTS,
  REPLY_EXCERPT_CODE_POINTS,
} from "../protocol";

/** The outcome of {@link prepareText}. */
export type TextResult =
  /** The text to store and broadcast (NFC, cleaned as described there) and its entities. */
  | { kind: "ok"; text: string; entities: Entity[] }
  /** Visually empty: the room ignores it like an empty message (no error, no event). */
  | { kind: "empty" }
  /** Refused: `code` is the error code the sender gets; `reason` says which rule, for logs and tests. */
  | { kind: "invalid"; code: "invalid_text" | "message_too_long"; reason: string };

/**
 * Most combining marks (`\p{M}`) allowed on one base character (DESIGN.md "Text:": "more than 8
 * combining marks on one base character → `invalid_text`"). Real writing needs at most 3–4
 * (Vietnamese, Hebrew with cantillation, Indic clusters); Zalgo text uses dozens.
 */
export const MAX_COMBINING_MARKS = 8;

/**
 * Most lines a message keeps (a design choice, not DESIGN.md's): line breaks after the 10th line
 * become spaces, so a 500-code-point message cannot be a wall of 250 one-letter lines. Runs of blank
 * lines are collapsed to one blank line before counting.
 */
export const MAX_LINES = 10;

// ---------------------------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------------------------

/** Unpaired surrogates: in a `u` regex a lone surrogate is a code point of category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * True when `s` has no unpaired surrogate. `String.prototype.isWellFormed` (ES2024: workerd, Node
 * 20, current browsers) is ten times faster than the regex, which is the fallback.
 */
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);
/** Control characters (Cc: C0, DEL, C1) except tab, line feed and carriage return, which are converted. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/**
 * Bidi embeddings, overrides (U+202A–U+202E) and isolates (U+2066–U+2069): removed, because they
 * reorder what follows them (the "Trojan Source" trick: U+202E makes `gnp.exe` read `exe.png`).
 * The marks U+200E (LRM), U+200F (RLM) and U+061C (ALM) are kept: they only set the direction of
 * neutral characters next to them, cannot reorder anything beyond, and are how people write mixed
 * right-to-left and left-to-right text correctly.
 */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]+/g;
/**
 * Invisible characters with no use in a chat line, removed from stored text: zero-width space,
 * word joiner and invisible operators, BOM, soft hyphen, Mongolian vowel separator. Hidden inside a
 * link they cut it short (`https://ex\u200Bample.com` would link to `https://ex/`); elsewhere they
 * only serve evasion. ZWJ/ZWNJ (emoji sequences, Persian and Indic spelling) and variation
 * selectors are kept.
 */
const STRIPPED_INVISIBLES = /[\u200B\u2060-\u2064\uFEFF\u00AD\u180E]+/g;
/**
 * Characters that draw nothing: whitespace, format characters (Cf: zero-width space U+200B, word
 * joiner U+2060, BOM U+FEFF, ZWJ, soft hyphen, tags, the Mongolian vowel separator U+180E …),
 * default-ignorable code points (variation selectors, Hangul fillers U+115F/U+1160/U+3164/U+FFA0,
 * combining grapheme joiner …), and blanks that fonts draw empty: braille blank U+2800 and
 * U+1D159 (musical null notehead).
 */
const INVISIBLE_CHARS = "\\s\\p{White_Space}\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u2800\\u{1D159}";
const VISUALLY_EMPTY = new RegExp(`^[${INVISIBLE_CHARS}]*$`, "u");
/**
 * A run that may hold a combining-mark flood: marks, with invisible format characters between them
 * (they do not end a grapheme cluster, or render nothing, so `a◌́ZWJ◌́…` still stacks on `a`).
 */
const MARK_RUN = /\p{M}[\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}]*/gu;
const MARK = /\p{M}/gu;

// ---------------------------------------------------------------------------------------------
// prepareText
// ---------------------------------------------------------------------------------------------

/**
 * The message rules of DESIGN.md ("Text:"), applied to a `message` or `edit` frame's `text`, in this
 * order:
 *
 * 1. Unpaired surrogates (e.g. a lone U+D800) → `invalid_text`.
 * 2. Control characters (Cc: U+0000–U+001F, U+007F, U+0080–U+009F) → `invalid_text`, except:
 *    `\r\n` and a lone `\r` become `\n`, and `\t` becomes one space. U+2028/U+2029 (line/paragraph
 *    separator) become `\n` too, so `\n` is the only line break stored.
 * 3. Bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069) are removed (not an error);
 *    the marks U+200E/U+200F/U+061C are kept (see `BIDI_CONTROLS`).
 * 4. NFC normalisation: the stored text is NFC (canonically equivalent, looks the same; `e`+U+0301
 *    becomes `é`, so marks are counted and mentions matched on one form).
 * 5. Trimmed (JS `trim`: whitespace and U+FEFF); each line's trailing whitespace removed; runs of
 *    blank lines (lines of invisible characters only) collapsed to one empty line; line breaks after
 *    the {@link MAX_LINES}th line become spaces.
 * 6. Visually empty (nothing left but whitespace, format, zero-width or invisible-filler
 *    characters; see `INVISIBLE_CHARS`) → `empty`. Emoji sequences with ZWJ (👩‍👩‍👧) or variation
 *    selectors (❤️) are not empty: their pictographs are visible.
 * 7. More than `maxCodePoints` code points (default `MAX_MESSAGE_CODE_POINTS`, 500) after all the
 *    above → `message_too_long`.
 * 8. More than {@link MAX_COMBINING_MARKS} combining marks on one base character → `invalid_text`
 *    (marks separated only by invisible format characters count as one run).
 *
 * Steps 7 and 8 are both refusals; the length comes first so that the costliest scan (Unicode mark
 * classes) only ever runs on at most `maxCodePoints` code points, and step 5 stops early once the
 * text is certainly too long: an 8 KiB frame of any content costs well under a millisecond.
 *
 * Then `entities` are computed on the final text ({@link findEntities}). Blocked terms are not
 * checked here (they are per stream): call {@link findBlockedTerm} on `text`.
 */
export function prepareText(raw: string, maxCodePoints: number = MAX_MESSAGE_CODE_POINTS): TextResult {
  if (!isWellFormed(raw)) return invalid("invalid_text", "unpaired surrogate");
  if (CONTROL.test(raw)) return invalid("invalid_text", "control character");

  // Step 6, taken here: steps 3–5 only remove characters this test counts as invisible (bidi
  // controls are Cf, line breaks and tabs whitespace) and NFC maps no visible character to an
  // invisible one, so the answer is the same, and a flood of blanks costs one linear pass.
  if (VISUALLY_EMPTY.test(raw)) return { kind: "empty" };

  let text = raw;
  if (text.includes("\r")) text = text.replaceAll("\r\n", "\n").replaceAll("\r", "\n");
  text = text.replace(/[\u2028\u2029]/g, "\n").replace(BIDI_CONTROLS, "").replace(STRIPPED_INVISIBLES, "").normalize("NFC");
  if (text.includes("\n")) {
    const tidy = tidyLines(text, 2 * maxCodePoints);
    if (tidy === null) return invalid("message_too_long", `more than ${maxCodePoints} code points`);
    text = tidy;
  } else {
    text = text.trim();
  }

  const length = cpLength(text);
  if (length > maxCodePoints) {
    return invalid("message_too_long", `${length} code points (max ${maxCodePoints})`);
  }
  // Step 2's tab → space, done on the short text (trimming above treats a tab as whitespace anyway).
  if (text.includes("\t")) text = text.replaceAll("\t", " ");

  for (const run of text.matchAll(MARK_RUN)) {
    if (run[0].length <= MAX_COMBINING_MARKS) continue; // each mark is at least one UTF-16 unit
    const marks = run[0].match(MARK)?.length ?? 0;
    if (marks > MAX_COMBINING_MARKS) {
      return invalid("invalid_text", `${marks} combining marks on one character (max ${MAX_COMBINING_MARKS})`);
    }
  }

  return { kind: "ok", text, entities: findEntities(text) };
}

/** Code points of a well-formed string: UTF-16 units minus one per surrogate pair. */
function cpLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

function invalid(code: "invalid_text" | "message_too_long", reason: string): TextResult {
  return { kind: "invalid", code, reason };
}

/**
 * Step 5 of prepareText for text with line breaks (only `\n` by then). Returns null as soon as the
 * lines kept hold more than `maxUnits` UTF-16 units (then the result has more than `maxUnits / 2`
 * code points whatever follows, so it is too long), which bounds the work on a wall of newlines.
 */
function tidyLines(text: string, maxUnits: number): string | null {
  const out: string[] = [];
  let units = 0;
  let blank = true; // start as if after a blank line, so leading blank lines are dropped
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const kept = text.slice(start, end).trimEnd();
    start = end + 1;
    if (kept === "" || VISUALLY_EMPTY.test(kept)) {
      if (!blank) out.push("");
      blank = true;
    } else {
      const content = out.length === 0 ? kept.trimStart() : kept;
      units += content.length;
      if (units > maxUnits) return null;
      out.push(content);
      blank = false;
    }
  }
  if (out.length > 0 && out[out.length - 1] === "") out.pop();
  if (out.length > MAX_LINES) out.splice(MAX_LINES - 1, out.length, out.slice(MAX_LINES - 1).filter((l) => l !== "").join(" "));
  return out.join("\n").trim();
}

// ---------------------------------------------------------------------------------------------
// Blocked terms
// ---------------------------------------------------------------------------------------------

/**
 * Combining diacritics that are not part of any one script's spelling (Combining Diacritical Marks
 * and its Extended/Supplement blocks, marks for symbols, half marks): stripped when matching blocked
 * terms, so accents and Zalgo (`b̷a̷d̷`) do not hide a term. Script-specific marks (Devanagari vowel
 * signs, Arabic harakat, Hebrew points, Thai vowels) are kept: stripping them would merge different
 * words (Hindi कम / काम).
 */
const GENERIC_DIACRITICS = "\\u0300-\\u036F\\u1AB0-\\u1AFF\\u1DC0-\\u1DFF\\u20D0-\\u20FF\\uFE20-\\uFE2F";
/** What matching ignores: invisible characters (bar whitespace, which is collapsed) and generic diacritics. */
const IGNORED_IN_MATCH = new RegExp(
  `[\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u2800\\u{1D159}${GENERIC_DIACRITICS}]+`,
  "gu",
);
const WHITESPACE_RUN = /[\s\p{White_Space}]+/gu;
/**
 * Marks of any script on a Latin letter or a digit: no Latin word is spelled with them, so they are
 * noise when matching (`s\u05C4cam`, `sc\u0489am`, `sca\u0E47m` all fold to `scam`). Marks on the
 * letters of their own script stay (see GENERIC_DIACRITICS).
 */
const MARKS_ON_LATIN = /(?<=[\p{Script=Latin}\p{Nd}])\p{M}+/gu;

/**
 * The form both blocked terms and messages are compared in ("folded"):
 * NFKD (compatibility forms: fullwidth `ｂａｄ`, 𝐛𝐨𝐥𝐝 and ⓒⓘⓡⓒⓛⓔⓓ letters, ligatures `ﬁ` become plain
 * letters) → case folded (`toUpperCase().toLowerCase()`, locale-independent: `ß` → `ss`, final `ς` →
 * `σ`, `İ` → `i`) → invisible characters (zero-width, format, fillers) and generic diacritics removed
 * → whitespace runs collapsed to one space → NFC.
 */
function fold(s: string): string {
  return s
    .normalize("NFKD")
    .toUpperCase()
    .toLowerCase()
    .normalize("NFKD")
    .replace(IGNORED_IN_MATCH, "")
    .replace(MARKS_ON_LATIN, "")
    .replace(WHITESPACE_RUN, " ")
    .trim()
    .normalize("NFC");
}

/**
 * The stored, folded form of a blocked term (see `fold`: NFKD, case folded, zero-width characters
 * and accents removed, spaces collapsed, NFC), or null when the term is unusable: not a string,
 * an unpaired surrogate or control character other than tab/newline, more than
 * `MAX_BLOCKED_TERM_CODE_POINTS` (100) code points once trimmed, or nothing left after folding.
 * The folded form is what `GET …/chat/state` lists (a moderator who adds "Café" sees "cafe").
 */
export function normalizeTerm(term: string): string | null {
  if (typeof term !== "string" || !isWellFormed(term) || CONTROL.test(term)) return null;
  if (cpLength(term.trim()) > MAX_BLOCKED_TERM_CODE_POINTS) return null;
  const folded = fold(term);
  return folded === "" ? null : folded;
}

/**
 * The first of `terms` (in iteration order) that `text` contains, or null. `terms` must be
 * {@link normalizeTerm} outputs; `text` is folded the same way, so matching is case-insensitive and
 * survives these evasions: zero-width and other invisible characters inserted (`b\u200Bad`,
 * soft hyphens, word joiners), case (`BaD`, `ß`/`SS`), compatibility forms (fullwidth, mathematical
 * bold, circled letters, ligatures), accents and combining-mark noise, and extra spaces or line
 * breaks inside a multi-word term.
 *
 * A term matches anywhere, also inside a longer word (a substring match: `bad` blocks `badly`,
 * so choose terms accordingly), because word boundaries do not exist in Chinese, Japanese or Thai
 * and inflections (`idiots`) would slip through otherwise. Not handled: look-alike letters from
 * other scripts (Cyrillic `а` for Latin `a`; that needs Unicode's confusables data), spaced or
 * punctuated letters (`b a d`, `b.a.d`) and leetspeak.
 */
export function findBlockedTerm(text: string, terms: Iterable<string>): string | null {
  let folded: string | undefined;
  for (const term of terms) {
    if (term === "") continue;
    folded ??= fold(text);
    if (folded.includes(term)) return term;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Reply excerpts
// ---------------------------------------------------------------------------------------------

const ELLIPSIS = "…";
let graphemes: Intl.Segmenter | null | undefined;

/**
 * What a reply quotes of its target (`reply_to.excerpt`): `text` with line breaks turned into
 * spaces, and, when that is longer than `max` code points (default `REPLY_EXCERPT_CODE_POINTS`),
 * cut to whole grapheme clusters (never inside a surrogate pair, an emoji ZWJ sequence or a letter
 * with its marks) followed by "…", the ellipsis included in `max`: the result never exceeds `max`
 * code points (`max` ≥ 1; a first cluster longer than `max - 1` is cut at code points instead).
 * Uses `Intl.Segmenter` where the runtime has it (workerd, Node, current browsers), code points
 * otherwise.
 */
export function excerpt(text: string, max: number = REPLY_EXCERPT_CODE_POINTS): string {
  const flat = text.includes("\n") ? text.split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ") : text;
  if (cpLength(flat) <= max) return flat;
  const budget = Math.max(0, max - 1);
  let out = "";
  let used = 0;
  if (graphemes === undefined) {
    graphemes = typeof Intl !== "undefined" && "Segmenter" in Intl ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
  }
  if (graphemes) {
    for (const { segment } of graphemes.segment(flat)) {
      const n = cpLength(segment);
      if (used + n > budget) break;
      out += segment;
      used += n;
    }
  }
  if (used === 0) {
    out = "";
    for (const cp of flat) {
      if (used === budget) break;
      out += cp;
      used++;
    }
  }
  return out.trimEnd() + ELLIPSIS;
}

// ---------------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------------

/**
 * A candidate link: `http://` or `https://` (any case), not glued to a preceding ASCII letter, digit
 * or `_` (`xhttps://…` is not a link; `見てhttps://…` is, as Chinese and Japanese use no spaces), then
 * a run of characters a URL may hold: ASCII URL characters and letters/digits/marks of any script
 * (IDN hosts, non-ASCII paths). Whitespace, `<>"{}|\^` and backtick, and non-ASCII punctuation
 * (`。`, `、`, `」`) end it. One character class, so the scan is linear.
 */
const URL_CANDIDATE = /(?<![A-Za-z0-9_])https?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%\p{L}\p{N}\p{M}]+/giu;
/** Characters that end a sentence rather than a URL when they end the candidate. */
const URL_TRAILING = new Set([".", ",", ":", ";", "!", "?", "'", "*"]);
/**
 * A candidate mention: `@`, not preceded by a letter, digit, mark or `_` (so `e@mail.com` is not
 * one), then a name: a letter, digit, `_`, `.` or `-`, followed by more of those or combining marks
 * (marks so names in Indic scripts or NFD are not cut inside a character; dev usernames have none).
 */
const MENTION_CANDIDATE = /(?<![\p{L}\p{N}\p{M}_])@[\p{L}\p{N}_.\-][\p{L}\p{N}\p{M}_.\-]*/gu;
/** Longest mentionable name, code points: as long as a dev username (`DEV_USERNAME_RE`, 1–32). */
const MAX_MENTION_CODE_POINTS = 32;

/**
 * Entities the server computes for already-prepared text (DESIGN.md: `mention` and `url`, with
 * code-point offsets), sorted by offset:
 *
 * - `url`: `http://` / `https://` links only; no other scheme (`javascript:`, `data:`, `ftp:`,
 *   `www.` without a scheme) ever becomes a link. Trailing `.` `,` `:` `;` `!` `?` `'` `*` are left
 *   out, and `)` / `]` when unbalanced in the link (`(see https://x.test/a)`). The rest must parse
 *   with `new URL()` to an http(s) URL with a host and without user info (`https://bank@evil.test`
 *   is a phishing form, not linked). `url` is the parsed, normalised href (punycode host,
 *   percent-encoding, `/` path), to be used as the link target; offset/length cover the text as
 *   written.
 * - `mention`: `@name`, where name is 1–32 code points of letters, digits, `_`, `.`, `-` (plus
 *   combining marks after the first); a trailing `.` is sentence punctuation and left out (`hi
 *   @bob.` mentions `bob`). Spaces end a name, so a username with spaces (dev usernames may have
 *   them) is mentioned only up to its first space. Longer names are not mentions. A mention inside
 *   a link (`https://x.test/@bob`) is not one. `username` is the name as written (match users
 *   case-insensitively).
 */
export function findEntities(text: string): Entity[] {
  const found: Array<{ start: number; end: number; entity: Entity }> = [];
  if (text.includes("://")) {
    for (const m of text.matchAll(URL_CANDIDATE)) {
      const start = m.index!;
      const candidate = trimUrl(m[0]);
      const href = httpHref(candidate);
      if (href !== null) found.push({ start, end: start + candidate.length, entity: { type: "url", offset: 0, length: 0, url: href } });
    }
  }
  if (text.includes("@")) {
    const links = found.slice();
    for (const m of text.matchAll(MENTION_CANDIDATE)) {
      const start = m.index!;
      let name = m[0].slice(1);
      let cut = name.length;
      while (cut > 0 && name[cut - 1] === ".") cut--;
      name = name.slice(0, cut);
      const n = cpLength(name);
      if (n === 0 || n > MAX_MENTION_CODE_POINTS) continue;
      if (links.some((l) => start < l.end && l.start < start + 1 + name.length)) continue;
      found.push({ start, end: start + 1 + name.length, entity: { type: "mention", offset: 0, length: 0, username: name } });
    }
  }
  if (found.length === 0) return [];
  found.sort((a, b) => a.start - b.start);
  // UTF-16 indices → code-point offsets, in one walk over the text.
  let unit = 0;
  let cp = 0;
  const advance = (to: number): number => {
    for (; unit < to; unit++) if (!isTrailSurrogateOfPair(text, unit)) cp++;
    return cp;
  };
  for (const f of found) {
    f.entity.offset = advance(f.start);
    f.entity.length = advance(f.end) - f.entity.offset;
  }
  return found.map((f) => f.entity);
}

function isTrailSurrogateOfPair(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xdc00 || c > 0xdfff || i === 0) return false;
  const p = s.charCodeAt(i - 1);
  return p >= 0xd800 && p <= 0xdbff;
}

/**
 * Drops sentence punctuation and unbalanced closing brackets from the end of a URL candidate
 * (`(see https://x.test/a_(b))` keeps `_(b)`, drops the last `)`). Linear: bracket depths are
 * counted once and updated as characters are dropped.
 */
function trimUrl(url: string): string {
  let parens = 0;
  let squares = 0;
  for (const c of url) {
    if (c === "(") parens++;
    else if (c === ")") parens--;
    else if (c === "[") squares++;
    else if (c === "]") squares--;
  }
  let end = url.length;
  for (;;) {
    const last = url[end - 1]!;
    if (last === ")" && parens < 0) parens++;
    else if (last === "]" && squares < 0) squares++;
    else if (!URL_TRAILING.has(last)) return url.slice(0, end);
    end--;
  }
}

/** The normalised href of an http(s) URL with a host and no user info, else null. */
function httpHref(candidate: string): string | null {
  let u: URL;
  try {
    u = new URL(candidate);
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  if (u.hostname === "" || u.username !== "" || u.password !== "") return null;
  return u.href;
}

// ---------------------------------------------------------------------------------------------
// Names and short texts shown to everyone
// ---------------------------------------------------------------------------------------------

/**
 * A one-line text shown to every viewer besides a message — a username from a JWT claim or from
 * Postgres, a moderation `reason` — under the message rules (prepareText: no control characters or
 * unpaired surrogates, bidi overrides and useless invisibles removed, NFC, trimmed), on one line, at
 * most `max` code points. Null when nothing acceptable is left (empty, invalid, too long, or more
 * than one line): callers then show no name / no reason rather than a harmful one.
 */
export function cleanLine(raw: string, max: number): string | null {
  const r = prepareText(raw, max);
  return r.kind === "ok" && !r.text.includes("\n") ? r.text : null;
}
