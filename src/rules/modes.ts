/**
 * Chat modes (issue 18 §1; README "Chat modes"), pure: which mode refuses a message, the text
 * tests behind `emote_only` and `unique`, and the uniqueness window the room keeps in memory.
 *
 *   modeRefusal(modes, actor, text, now, window)   the first mode that refuses a message, or null
 *   isEmoteOnly(text)                              only emoji (and whitespace)
 *   uniqueKey(text)                                r9k's normal form: case, whitespace and repeats folded
 *   UniqueWindow                                   the normal forms sent in the last `unique_s` seconds
 *
 * Who is exempt: the owner and moderators from every mode (they run the chat); members (token claim
 * `stream_members`, src/auth.ts) from `account_age`, since a paying member is not a fresh raid
 * account. `first_time_hold` is not a refusal: src/rules/review.ts holds the message instead.
 */
import type { ChatModes, ErrorCode, LockdownPreset } from "../protocol";

/** Every mode off: a new stream's modes. */
export const MODES_OFF: ChatModes = { emote_only: false, unique_s: 0, members_only: false, account_age_s: 0, first_time_hold: false };

/**
 * The lockdown a new stream gets until its owner saves one (`lockdown_preset`): slow mode 30 s,
 * accounts younger than 1 h refused, first messages held for review. Members-only and emote-only
 * stay off: they would silence a whole audience, which an owner should choose knowingly.
 */
export const DEFAULT_LOCKDOWN_PRESET: LockdownPreset = {
  emote_only: false,
  unique_s: 0,
  members_only: false,
  account_age_s: 3_600,
  first_time_hold: true,
  slow_mode_s: 30,
};

/**
 * Most normal forms the uniqueness window holds: past it the oldest are forgotten first, so at
 * 100 msg/s a 600 s window keeps the last ~200 s. Bounds the room's memory (~100 bytes each).
 */
export const UNIQUE_WINDOW_MAX = 20_000;

/** What the mode checks need to know about the sender. */
export interface ModeSubject {
  /** owner or moderator (exempt from every mode) */
  staff: boolean;
  /** a member/subscriber of this stream (claim `stream_members`) */
  member: boolean;
  /** when the account was created, ms since the epoch; null when nobody said */
  accountCreatedAt: number | null;
}

// An emoji: a pictographic base with its modifiers, variation selectors, keycaps and ZWJ sequences,
// or a regional-indicator pair (a flag), or a tag sequence (subdivision flags: U+1F3F4, tags, the
// cancel tag). Tag characters anywhere else are invisible ASCII ("🔥" + tags "hi" would smuggle text
// past the mode), and a lone regional indicator draws a letter: neither is an emoji.
const EMOJI_ONLY =
  /^(?:\s|\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}|\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}{2}|[\u{FE0F}\u{20E3}\u{200D}]|[#*0-9]\u{FE0F}?\u{20E3})+$/u;

/** True when `text` (non-empty after trimming) holds only emoji and whitespace. Digits alone are not emoji. */
export function isEmoteOnly(text: string): boolean {
  if (text.trim() === "" || !EMOJI_ONLY.test(text)) return false;
  // A bare digit, '#' or '*' matched only as part of a keycap; anything else has a pictograph.
  return /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u{20E3}/u.test(text);
}

/**
 * Generic combining diacritics (as blocked-term matching strips them, src/rules/text.ts), so
 * "hellö" repeats "hello"; script-specific marks stay. Enclosing marks (keycap U+20E3) are kept.
 */
const ACCENTS = /[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20DC\uFE20-\uFE2F]+/gu;
/**
 * Characters that draw nothing (format characters, default-ignorables: ZWNJ, ZWJ, CGJ, variation
 * selectors, Hangul fillers, tags, and the braille blank and U+1D159): removed, so a repeat with one
 * inserted is still a repeat — except a ZWJ joining two pictographs and a flag's tag sequence,
 * which are part of one emoji (the family, the Scottish flag).
 */
const INVISIBLE =
  /((?<=\p{Extended_Pictographic}[\p{Emoji_Modifier}\u{FE0F}]*)\u{200D}(?=\p{Extended_Pictographic})|\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F})|[\p{Cf}\p{Default_Ignorable_Code_Point}\u2800\u{1D159}]/gu;

/** Grapheme segmenter, where the runtime has one (workerd, Node, browsers); null = code points. */
let segmenter: Intl.Segmenter | null | undefined;

/**
 * r9k's normal form of a message (issue 18 §1 `unique`): NFKC, lower case, whitespace,
 * punctuation, invisible characters and generic accents removed, every run of one repeated character folded to one ("HELLOOO  world!!" and
 * "hello world" are the same message). Emoji are kept, so "🔥" and "🔥🔥🔥" are the same too.
 * Repeats are folded by grapheme cluster, so an emoji of several code points ("❤️" with its
 * variation selector, "👍🏽" with a skin tone, a ZWJ family) folds like one of a single code point.
 */
export function uniqueKey(text: string): string {
  const folded = text
    .normalize("NFKD")
    .replace(ACCENTS, "")
    .replace(INVISIBLE, (_ch, kept: string | undefined) => kept ?? "")
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[\s\p{P}\p{Z}]+/gu, "");
  let out = "";
  let last = "";
  // Below U+0300 every code point is its own cluster (no marks, joiners or emoji): no segmenter needed.
  segmenter ??= typeof Intl.Segmenter === "function" ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
  const units = segmenter === null || /^[\u0000-\u02ff]*$/.test(folded) ? folded : segmenter.segment(folded);
  for (const part of units) {
    const ch = typeof part === "string" ? part : part.segment;
    if (ch !== last) out += ch;
    last = ch;
  }
  return out;
}

/**
 * The normal forms of the messages accepted in the last window, with when (ms). In memory only:
 * after the object restarts it starts again from the comments in the ring (README "Chat modes").
 */
export class UniqueWindow {
  private readonly seen = new Map<string, number>();

  constructor(private readonly max = UNIQUE_WINDOW_MAX) {}

  /** How many normal forms are held. */
  get size(): number {
    return this.seen.size;
  }

  /** True when `key` was accepted within `windowMs` before `now`. */
  has(key: string, now: number, windowMs: number): boolean {
    const at = this.seen.get(key);
    return at !== undefined && now - at < windowMs;
  }

  /** Records `key` as accepted at `now` (moves it to the newest end). */
  add(key: string, now: number): void {
    this.seen.delete(key);
    this.seen.set(key, now);
    while (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Forgets everything (unique mode turned off). */
  clear(): void {
    this.seen.clear();
  }
}

/**
 * The refusal a message gets from the modes, checked in this order: members_only, account_age,
 * emote_only, unique; null when none refuses. `text` is the prepared text (src/rules/text.ts);
 * `images`: the message carries attachments (refused in emote-only mode). Staff are exempt from all.
 * An account whose age nobody knows counts as new in `account_age` mode (fails closed, like Twitch's
 * phone/age gates): the README says which source wins (Postgres over the token claim).
 */
export function modeRefusal(
  modes: ChatModes,
  who: ModeSubject,
  text: string,
  images: boolean,
  now: number,
  window: UniqueWindow,
): ErrorCode | null {
  if (who.staff) return null;
  if (modes.members_only && !who.member) return "members_only";
  if (modes.account_age_s > 0 && !who.member) {
    if (who.accountCreatedAt === null || now - who.accountCreatedAt < modes.account_age_s * 1000) return "account_too_new";
  }
  if (modes.emote_only && (images || !isEmoteOnly(text))) return "emote_only";
  if (modes.unique_s > 0) {
    const key = uniqueKey(text);
    if (key !== "" && window.has(key, now, modes.unique_s * 1000)) return "not_unique";
  }
  return null;
}
