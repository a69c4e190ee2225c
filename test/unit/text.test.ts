/**
 * Text rules (src/rules/text.ts; DESIGN.md "Room events", "Text:"; issue 10): each rule allowed and
 * refused, with the characters people use to break chats (U+200B, U+2060, U+202E, a lone U+D800,
 * combining-mark floods), and the ones real text needs (emoji ZWJ sequences, RTL, CJK, accents).
 */
import { describe, expect, it } from "vitest";
import { type Entity, MAX_BLOCKED_TERM_CODE_POINTS, MAX_MESSAGE_CODE_POINTS, REPLY_EXCERPT_CODE_POINTS, codePointLength } from "../../src/protocol";
import {
  MAX_COMBINING_MARKS,
  MAX_LINES,
  type TextResult,
  excerpt,
  cleanLine,
  findBlockedTerm,
  findEntities,
  normalizeTerm,
  prepareText,
} from "../../src/rules/text";

const FAMILY = "\u{1F469}\u200D\u{1F469}\u200D\u{1F467}"; // 👩‍👩‍👧: three people joined by ZWJ
/** Combining marks with no precomposed form on `z`, so NFC leaves their number unchanged. */
const marks = (n: number) => Array.from({ length: n }, (_, i) => String.fromCodePoint(0x0310 + (i % 16))).join("");
const countMarks = (s: string) => s.match(/\p{M}/gu)?.length ?? 0;

function ok(result: TextResult): { text: string; entities: Entity[] } {
  expect(result.kind, JSON.stringify(result)).toBe("ok");
  return result as { kind: "ok"; text: string; entities: Entity[] };
}
function refused(result: TextResult, code: "invalid_text" | "message_too_long") {
  expect(result).toMatchObject({ kind: "invalid", code });
  expect((result as { reason: string }).reason).not.toBe("");
}
/** The text an entity covers, cut by code points as clients do. */
const covered = (text: string, e: Entity) => [...text].slice(e.offset, e.offset + e.length).join("");

describe("prepareText: trimming and visually empty text", () => {
  it("trims whitespace and keeps the rest as sent", () => {
    expect(ok(prepareText("  hello world \n")).text).toBe("hello world");
  });

  it.each([
    ["nothing", ""],
    ["spaces and newlines", "  \n\n \u3000 "],
    ["zero-width space U+200B", "\u200B"],
    ["word joiner U+2060", " \u2060\u2060 "],
    ["BOM U+FEFF", "\uFEFF"],
    ["ZWJ and ZWNJ alone", "\u200D\u200C"],
    ["Hangul filler U+3164", "\u3164\u3164"],
    ["Hangul choseong/jungseong fillers U+115F U+1160", "\u115F\u1160"],
    ["halfwidth Hangul filler U+FFA0", "\uFFA0"],
    ["braille blank U+2800", "\u2800\u2800\u2800"],
    ["variation selectors alone", "\uFE0F\uFE0E\u{E0100}"],
    ["Mongolian vowel separator U+180E", "\u180E"],
    ["soft hyphen U+00AD", "\u00AD"],
    ["bidi override only (removed)", "\u202E"],
    ["LRM/RLM marks only", "\u200E\u200F"],
    ["a mix over several lines", "\u200B\n\u3164 \n\u2060\u2800\n\uFEFF"],
  ])("%s → empty", (_, raw) => {
    expect(prepareText(raw)).toEqual({ kind: "empty" });
  });

  it("deciding emptiness before NFC gives the same answer as after, for every code point", () => {
    // prepareText tests the raw text (one pass, before the per-line work); this is why that is sound.
    const mismatches: string[] = [];
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const s = String.fromCodePoint(c);
      if (s.normalize("NFC") === s) continue; // NFC leaves it alone: nothing to compare
      const raw = prepareText(`${s} `).kind === "empty";
      const nfc = prepareText(`${s.normalize("NFC")} `).kind === "empty";
      if (raw !== nfc) mismatches.push(c.toString(16));
    }
    expect(mismatches).toEqual([]);
  });

  it.each([
    ["a ZWJ family emoji", FAMILY],
    ["an emoji with VS16", "\u2764\uFE0F"],
    ["a skin-tone modifier", "\u{1F44D}\u{1F3FD}"],
    ["a flag (regional indicators)", "\u{1F1EB}\u{1F1F7}"],
    ["a subdivision flag (tag characters)", "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}"],
    ["a keycap", "1\uFE0F\u20E3"],
    ["CJK", "你好，世界"],
  ])("%s is kept, not empty and not invalid", (_, raw) => {
    expect(ok(prepareText(raw)).text).toBe(raw);
  });

  it("a single letter among invisibles is kept; zero-width space and word joiner are dropped from it", () => {
    expect(ok(prepareText("\u200B\u3164x\u2060")).text).toBe("\u3164x");
  });

  it("an invisible character inside a link does not cut the link short (attack report 9)", () => {
    const r = ok(prepareText("see https://ex\u200Bample.com/pa\u00ADth now"));
    expect(r.text).toBe("see https://example.com/path now");
    expect(r.entities).toEqual([{ type: "url", offset: 4, length: 24, url: "https://example.com/path" }]);
  });
});

describe("cleanLine: names and reasons", () => {
  it("keeps a plain line, drops bidi overrides, refuses controls, lone surrogates and several lines", () => {
    expect(cleanLine("  Ada Lovelace ", 64)).toBe("Ada Lovelace");
    expect(cleanLine("admin\u202E", 64)).toBe("admin");
    expect(cleanLine("admin\u0007", 64)).toBeNull();
    expect(cleanLine("spam \uD800", 200)).toBeNull();
    expect(cleanLine("two\nlines", 64)).toBeNull();
    expect(cleanLine("\u200B", 64)).toBeNull();
    expect(cleanLine("x".repeat(65), 64)).toBeNull();
  });
});

describe("prepareText: invalid characters", () => {
  it.each([
    ["a lone high surrogate U+D800", "a\uD800b"],
    ["a lone high surrogate at the end", "hello \uD83D"],
    ["a lone low surrogate", "\uDE00 hi"],
    ["a reversed pair", "\uDE00\uD83D"],
  ])("%s → invalid_text", (_, raw) => {
    refused(prepareText(raw), "invalid_text");
  });

  it("a well-formed surrogate pair is fine", () => {
    expect(ok(prepareText("\uD83D\uDE00")).text).toBe("😀");
  });

  it.each([
    ["NUL", "a\u0000b"],
    ["BEL", "\u0007"],
    ["ESC (terminal escape)", "\u001B[31mred"],
    ["vertical tab", "a\u000Bb"],
    ["form feed", "a\u000Cb"],
    ["DEL", "a\u007F"],
    ["NEL U+0085 (C1)", "a\u0085b"],
    ["CSI U+009B (C1)", "\u009B31m"],
  ])("C0/C1 control %s → invalid_text", (_, raw) => {
    refused(prepareText(raw), "invalid_text");
  });

  it("newline is allowed; \\r\\n and a lone \\r become \\n; a tab becomes a space; U+2028/U+2029 become \\n", () => {
    expect(ok(prepareText("a\nb")).text).toBe("a\nb");
    expect(ok(prepareText("a\r\nb\rc")).text).toBe("a\nb\nc");
    expect(ok(prepareText("a\tb")).text).toBe("a b");
    expect(ok(prepareText("a\u2028b\u2029c")).text).toBe("a\nb\nc");
  });
});

describe("prepareText: bidi controls are removed", () => {
  it("an RLO U+202E no longer reverses what follows", () => {
    expect(ok(prepareText("photo_\u202Egnp.exe")).text).toBe("photo_gnp.exe");
  });

  it("RTL text keeps its letters; the override and the isolates go", () => {
    const r = ok(prepareText("\u202Eשלום\u202C \u2066مرحبا\u2069 \u2067x\u2068y\u2069"));
    expect(r.text).toBe("שלום مرحبا xy");
  });

  it("all embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069 are removed", () => {
    const controls = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069";
    expect(ok(prepareText(`a${controls}b`)).text).toBe("ab");
  });

  it("the marks LRM U+200E, RLM U+200F and ALM U+061C are kept (correct mixed-direction text needs them)", () => {
    expect(ok(prepareText("עברית\u200F!")).text).toBe("עברית\u200F!");
    expect(ok(prepareText("a\u200Eb\u061Cc")).text).toBe("a\u200Eb\u061Cc");
  });
});

describe("prepareText: combining marks", () => {
  it(`a base letter with ${MAX_COMBINING_MARKS} marks is allowed`, () => {
    const r = ok(prepareText(`z${marks(8)}`));
    expect(countMarks(r.text)).toBe(8);
    expect(r.text).toBe(`z${marks(8)}`.normalize("NFC"));
  });

  it("a base letter with 9 or 20 marks → invalid_text", () => {
    refused(prepareText(`z${marks(9)}`), "invalid_text");
    refused(prepareText(`hello z${marks(20)} world`), "invalid_text");
  });

  it("Zalgo text → invalid_text", () => {
    const zalgo = [..."HE COMES"].map((c, i) => c + marks(10 + (i % 5))).join("");
    refused(prepareText(zalgo), "invalid_text");
  });

  it("marks alone (no base) beyond the limit → invalid_text", () => {
    refused(prepareText(marks(12)), "invalid_text");
  });

  it("invisible characters between the marks do not split a flood", () => {
    refused(prepareText(`z${marks(5)}\u200D${marks(5)}`), "invalid_text");
    refused(prepareText(`z${marks(5)}\u200B\u2060${marks(5)}`), "invalid_text");
  });

  it("a mark that composes with its base under NFC does not count (é + 8 marks is 8 marks)", () => {
    const r = ok(prepareText(`e\u0301${marks(8)}`));
    expect(r.text.startsWith("é")).toBe(true);
    expect(countMarks(r.text)).toBe(8);
  });

  it.each([
    ["Vietnamese (NFD input)", "Tie\u0302\u0301ng Vie\u0323\u0302t"],
    ["Hindi", "नमस्ते दुनिया"],
    ["Thai", "สวัสดีครับ"],
    ["Hebrew with points", "שָׁלוֹם"],
    ["Arabic with harakat", "مَرْحَبًا"],
  ])("real writing with marks is allowed: %s", (_, raw) => {
    expect(ok(prepareText(raw)).text).toBe(raw.normalize("NFC"));
  });
});

describe("prepareText: length in code points", () => {
  it(`${MAX_MESSAGE_CODE_POINTS} code points are allowed, ${MAX_MESSAGE_CODE_POINTS + 1} → message_too_long`, () => {
    expect(codePointLength(ok(prepareText("a".repeat(500))).text)).toBe(500);
    refused(prepareText("a".repeat(501)), "message_too_long");
  });

  it("an emoji and a CJK character count as one code point each", () => {
    expect(ok(prepareText("😀".repeat(500))).text).toHaveLength(1000);
    refused(prepareText("😀".repeat(501)), "message_too_long");
    ok(prepareText("字".repeat(500)));
    refused(prepareText("字".repeat(501)), "message_too_long");
  });

  it("is counted after trimming and after removing bidi controls", () => {
    ok(prepareText(`   ${"a".repeat(500)}\n\n  `));
    ok(prepareText("\u202E".repeat(100) + "a".repeat(500)));
  });

  it("a long wall of newlines is refused, not scanned to the end", () => {
    refused(prepareText("ab\n".repeat(2000)), "message_too_long");
  });

  it("takes another limit", () => {
    expect(ok(prepareText("abc", 3)).text).toBe("abc");
    refused(prepareText("abcd", 3), "message_too_long");
  });
});

describe("prepareText: lines and normalisation", () => {
  it("collapses runs of blank lines (also lines of invisible characters) to one blank line", () => {
    expect(ok(prepareText(`a${"\n".repeat(200)}b`)).text).toBe("a\n\nb");
    expect(ok(prepareText("a\n \u200B \n\u3164\n\n\nb")).text).toBe("a\n\nb");
  });

  it("drops leading and trailing blank lines and each line's trailing spaces, keeps indentation", () => {
    expect(ok(prepareText("\n\n  a  \n   b \t\n\n")).text).toBe("a\n   b");
  });

  it(`keeps at most ${MAX_LINES} lines: later line breaks become spaces`, () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line${i}`);
    const text = ok(prepareText(lines.join("\n"))).text;
    expect(text.split("\n")).toHaveLength(MAX_LINES);
    expect(text.split("\n").at(-1)).toBe(lines.slice(MAX_LINES - 1).join(" "));
    expect(text.replace(/\n/g, " ")).toBe(lines.join(" "));
  });

  it("stores NFC", () => {
    expect(ok(prepareText("cafe\u0301")).text).toBe("caf\u00E9");
    expect(ok(prepareText("\u1100\u1161")).text).toBe("가");
  });

  it("returns the entities of the prepared text", () => {
    const r = ok(prepareText("  \u202E😀 @bob https://x.test  "));
    expect(r.text).toBe("😀 @bob https://x.test");
    expect(r.entities).toEqual(findEntities(r.text));
    expect(r.entities.map((e) => covered(r.text, e))).toEqual(["@bob", "https://x.test"]);
  });
});

describe("findEntities", () => {
  it("mentions and URLs carry code-point offsets (emoji before them)", () => {
    const text = "😀 @bob https://x.test";
    expect(findEntities(text)).toEqual([
      { type: "mention", offset: 2, length: 4, username: "bob" },
      { type: "url", offset: 7, length: 14, url: "https://x.test/" },
    ]);
  });

  it("offsets stay right after astral characters, ZWJ sequences and CJK", () => {
    const text = `𝕏 ${FAMILY} 字 @alice then https://a.test/p?q=1 and @bob_2 😀`;
    const entities = findEntities(text);
    expect(entities.map((e) => covered(text, e))).toEqual(["@alice", "https://a.test/p?q=1", "@bob_2"]);
    expect(entities[0]).toMatchObject({ type: "mention", offset: 1 + 1 + 5 + 1 + 1 + 1, username: "alice" });
  });

  describe("mentions", () => {
    it.each([
      ["@bob", "bob"],
      ["hi @bob!", "bob"],
      ["hi @bob.", "bob"],
      ["ask @jane.doe-2, please", "jane.doe-2"],
      ["@José", "José"],
      ["@名前 さん", "名前"],
      ["(@bob)", "bob"],
      ["@@bob", "bob"],
      [`@${"a".repeat(32)}`, "a".repeat(32)],
    ])("%s mentions %s", (text, username) => {
      const entities = findEntities(text);
      expect(entities).toHaveLength(1);
      expect(entities[0]).toMatchObject({ type: "mention", username });
      expect(covered(text, entities[0]!)).toBe(`@${username}`);
    });

    it("a name with a space is mentioned up to the space (usernames may have spaces, mentions cannot)", () => {
      expect(findEntities("@Jane Doe")).toEqual([{ type: "mention", offset: 0, length: 5, username: "Jane" }]);
    });

    it.each([
      ["an email address", "write to e@mail.com"],
      ["a bare @", "@ noon"],
      ["a name of 33 code points", `@${"a".repeat(33)}`],
      ["only dots", "@..."],
      ["a mention inside a link", "https://x.test/@bob"],
      ["glued to a letter", "abc@bob"],
    ])("no mention in %s", (_, text) => {
      expect(findEntities(text).filter((e) => e.type === "mention")).toEqual([]);
    });
  });

  describe("URLs", () => {
    it.each([
      ["see https://x.test.", "https://x.test", "https://x.test/"],
      ["https://x.test/a, b", "https://x.test/a", "https://x.test/a"],
      ["(see https://x.test/a)", "https://x.test/a", "https://x.test/a"],
      ["https://en.wikipedia.test/wiki/Foo_(bar)", "https://en.wikipedia.test/wiki/Foo_(bar)", "https://en.wikipedia.test/wiki/Foo_(bar)"],
      ["[https://x.test/]!", "https://x.test/", "https://x.test/"],
      ["HTTP://X.TEST/Path?Q=1#F", "HTTP://X.TEST/Path?Q=1#F", "http://x.test/Path?Q=1#F"],
      ["https://bücher.test/straße", "https://bücher.test/straße", "https://xn--bcher-kva.test/stra%C3%9Fe"],
      ["見てhttps://x.test/a。", "https://x.test/a", "https://x.test/a"],
      ["http://127.0.0.1:8787/x", "http://127.0.0.1:8787/x", "http://127.0.0.1:8787/x"],
    ])("%s links %s", (text, span, href) => {
      const entities = findEntities(text);
      expect(entities).toHaveLength(1);
      expect(entities[0]).toMatchObject({ type: "url", url: href });
      expect(covered(text, entities[0]!)).toBe(span);
    });

    it.each([
      ["javascript:", "javascript:alert(1)"],
      ["javascript: with slashes", "javascript://x.test/%0Aalert(1)"],
      ["data:", "data:text/html,<script>alert(1)</script>"],
      ["ftp:", "ftp://x.test/file"],
      ["vbscript:", "vbscript:msgbox(1)"],
      ["no scheme", "www.x.test"],
      ["a scheme and nothing else", "https:// nothing"],
      ["user info (phishing form)", "https://bank.test@evil.test/login"],
      ["glued to a word", "xhttps://x.test"],
    ])("never a url: %s", (_, text) => {
      expect(findEntities(text).filter((e) => e.type === "url")).toEqual([]);
    });

    it("every url entity is an http(s) URL, whatever the input", () => {
      const text = "javascript:https://ok.test JaVaScRiPt:alert(1) https://a.test/x data:https://b.test";
      const urls = findEntities(text).filter((e) => e.type === "url");
      expect(urls.length).toBeGreaterThan(0);
      for (const e of urls) expect(new URL(e.url).protocol).toMatch(/^https?:$/);
    });
  });

  it("several entities come sorted by offset", () => {
    const text = "@a https://x.test @b https://y.test @c";
    const offsets = findEntities(text).map((e) => e.offset);
    expect(offsets).toEqual([0, 3, 18, 21, 36]);
  });

  it("plain text has none", () => {
    expect(findEntities("just words, 100% plain: a@ b:// c")).toEqual([]);
  });
});

describe("normalizeTerm", () => {
  it("folds case, compatibility forms, zero-width characters and spacing", () => {
    expect(normalizeTerm("BadWord")).toBe("badword");
    expect(normalizeTerm("ＢＡＤ")).toBe("bad");
    expect(normalizeTerm("  bad \n  word ")).toBe("bad word");
    expect(normalizeTerm("b\u200Ba\u2060d")).toBe("bad");
    expect(normalizeTerm("Straße")).toBe("strasse");
    expect(normalizeTerm("Café")).toBe("cafe");
  });

  it("keeps script-specific marks (Hindi vowel signs)", () => {
    expect(normalizeTerm("काम")).toBe("काम");
  });

  it.each([
    ["empty", ""],
    ["spaces", "   "],
    ["only zero-width characters", "\u200B\u2060\uFEFF"],
    ["a lone surrogate", "bad\uD800"],
    ["a control character", "bad\u0000"],
    ["too long", "a".repeat(MAX_BLOCKED_TERM_CODE_POINTS + 1)],
  ])("refuses a term that is %s", (_, term) => {
    expect(normalizeTerm(term)).toBeNull();
  });

  it(`accepts ${MAX_BLOCKED_TERM_CODE_POINTS} code points, counted as code points`, () => {
    expect(normalizeTerm("a".repeat(MAX_BLOCKED_TERM_CODE_POINTS))).toBe("a".repeat(MAX_BLOCKED_TERM_CODE_POINTS));
    expect(normalizeTerm("😀".repeat(MAX_BLOCKED_TERM_CODE_POINTS))).not.toBeNull();
  });
});

describe("findBlockedTerm", () => {
  const terms = ["spoiler", "bad word", "酷"].map((t) => normalizeTerm(t)!);

  it.each([
    ["exact", "no spoiler please", "spoiler"],
    ["upper case", "NO SPOILER", "spoiler"],
    ["mixed case", "SpOiLeR!", "spoiler"],
    ["zero-width space inside", "spo\u200Biler", "spoiler"],
    ["word joiners and BOMs inside", "s\u2060p\uFEFFo\u2060iler", "spoiler"],
    ["soft hyphens and ZWJ inside", "spoi\u00ADl\u200Der", "spoiler"],
    ["a word shown reversed by U+202E: matched as stored (the room removes the override, so it reads reliops)", "re\u202Eliops", null],
    ["fullwidth letters", "ＳＰＯＩＬＥＲ", "spoiler"],
    ["mathematical bold letters", "𝐬𝐩𝐨𝐢𝐥𝐞𝐫", "spoiler"],
    ["circled letters", "ⓢⓟⓞⓘⓛⓔⓡ", "spoiler"],
    ["accents and Zalgo marks", "s\u0336p\u0336o\u0308i\u0301l\u0336e\u0336r", "spoiler"],
    ["a Hebrew point on a Latin letter (attack report 9)", "s\u05C4poiler", "spoiler"],
    ["a Cyrillic millions sign on a Latin letter", "sp\u0489oiler", "spoiler"],
    ["a Thai mark on a Latin letter", "spoi\u0E47ler", "spoiler"],
    ["inside a longer word", "spoilers!", "spoiler"],
    ["a multi-word term across a line break and extra spaces", "a BAD \n  word here", "bad word"],
    ["CJK", "太酷了", "酷"],
    ["nothing blocked", "a nice message", null],
  ])("%s", (_, text, expected) => {
    expect(findBlockedTerm(text, terms)).toBe(expected);
  });

  it("returns the first matching term in iteration order, from any iterable", () => {
    const set = new Set([normalizeTerm("zzz")!, normalizeTerm("bad")!, normalizeTerm("word")!]);
    expect(findBlockedTerm("bad word", set)).toBe("bad");
    expect(findBlockedTerm("bad word", [])).toBeNull();
  });

  it("does not merge words that differ only by a script's own marks (Hindi कम ≠ काम)", () => {
    expect(findBlockedTerm("मुझे काम है", [normalizeTerm("कम")!])).toBeNull();
    expect(findBlockedTerm("बहुत कम", [normalizeTerm("कम")!])).toBe("कम");
  });
});

describe("excerpt", () => {
  it("returns short text unchanged", () => {
    expect(excerpt("hello")).toBe("hello");
    expect(excerpt("a".repeat(REPLY_EXCERPT_CODE_POINTS))).toBe("a".repeat(REPLY_EXCERPT_CODE_POINTS));
  });

  it(`cuts longer text to ${REPLY_EXCERPT_CODE_POINTS} code points, the ellipsis included`, () => {
    const e = excerpt("a".repeat(REPLY_EXCERPT_CODE_POINTS + 1));
    expect(e).toBe(`${"a".repeat(REPLY_EXCERPT_CODE_POINTS - 1)}…`);
    expect(codePointLength(e)).toBe(REPLY_EXCERPT_CODE_POINTS);
  });

  it("never splits a surrogate pair", () => {
    const e = excerpt("😀".repeat(150));
    expect(e).toBe(`${"😀".repeat(99)}…`);
    expect(/\p{Cs}/u.test(e)).toBe(false);
  });

  it("never splits an emoji ZWJ sequence or a letter from its marks", () => {
    const e = excerpt(FAMILY.repeat(30), 12); // 5 code points each: two fit before the ellipsis
    expect(e).toBe(`${FAMILY.repeat(2)}…`);
    const accented = excerpt(`abc${"e\u0302\u0323".repeat(10)}`, 7); // 3 + 3 code points, then "…"
    expect(accented).toBe("abce\u0302\u0323…");
  });

  it("turns line breaks into spaces and drops trailing spaces before the ellipsis", () => {
    expect(excerpt("first line\n\nsecond line")).toBe("first line second line");
    expect(excerpt("abcd efgh", 6)).toBe("abcd…");
  });
});
