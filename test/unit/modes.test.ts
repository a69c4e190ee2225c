/**
 * Chat modes (src/rules/modes.ts; issue 18 §1): the emote test, r9k's normal form, the uniqueness
 * window and which mode refuses a message, in which order, and who is exempt.
 */
import { describe, expect, it } from "vitest";
import { MODES_OFF, UniqueWindow, isEmoteOnly, modeRefusal, uniqueKey, type ModeSubject } from "../../src/rules/modes";
import type { ChatModes } from "../../src/protocol";

describe("isEmoteOnly", () => {
  it.each([
    ["a flag (regional-indicator pair)", "🇺🇸"],
    ["a subdivision flag (tag sequence)", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"],
    ["a keycap with VS16", "1️⃣"],
    ["a keycap without VS16", "1⃣"],
    ["the # keycap", "#️⃣"],
    ["a ZWJ family", "👨‍👩‍👧"],
    ["a skin tone", "👍🏽"],
    ["a heart with VS16", "❤️"],
    ["several, with spaces and line breaks", "😀 🔥\n🎉"],
  ])("accepts %s", (_what, text) => {
    expect(isEmoteOnly(text)).toBe(true);
  });

  it.each([
    ["plain text", "hello"],
    ["digits", "123"],
    ["a bare #", "#"],
    ["a lone skin-tone modifier", "🏽"],
    ["text with an emoji", "hi 😀"],
    ["an emoji with punctuation", "😀!"],
    ["an emoji glued to a letter", "😀a"],
    ["digits before an emoji", "2 😀"],
    ["empty", ""],
    ["whitespace", "   "],
    ["a lone ZWJ", "\u200d"],
  ])("refuses %s", (_what, text) => {
    expect(isEmoteOnly(text)).toBe(false);
  });
});

describe("uniqueKey (r9k's normal form)", () => {
  it("folds case, whitespace, punctuation and runs of one character", () => {
    expect(uniqueKey("HELLOOO  world!!")).toBe(uniqueKey("hello world"));
    expect(uniqueKey("Hello, World.")).toBe(uniqueKey("helloworld"));
    expect(uniqueKey("a b\tc\nd")).toBe("abcd");
    expect(uniqueKey("aaaab")).toBe("ab");
  });

  it("applies NFKC (fullwidth and ligatures are the letters they show)", () => {
    expect(uniqueKey("Ｈｅｌｌｏ")).toBe(uniqueKey("hello"));
    expect(uniqueKey("ﬁne")).toBe(uniqueKey("fine"));
    expect(uniqueKey("e\u0301")).toBe(uniqueKey("é"));
  });

  it("keeps what differs: other letters, other order, digits", () => {
    expect(uniqueKey("hello")).not.toBe(uniqueKey("help"));
    expect(uniqueKey("ab")).not.toBe(uniqueKey("ba"));
    expect(uniqueKey("gg 1")).not.toBe(uniqueKey("gg 2"));
  });

  it("folds repeated emoji, also those written with a variation selector or a skin tone", () => {
    expect(uniqueKey("🔥🔥🔥")).toBe(uniqueKey("🔥"));
    expect(uniqueKey("❤️❤️❤️")).toBe(uniqueKey("❤️"));
    expect(uniqueKey("👍🏽👍🏽")).toBe(uniqueKey("👍🏽"));
    expect(uniqueKey("👍🏽")).not.toBe(uniqueKey("👍🏿"));
  });

  it("is empty for punctuation or whitespace only (such messages are never refused as repeats)", () => {
    expect(uniqueKey("!!! ...")).toBe("");
    expect(uniqueKey("   ")).toBe("");
  });
});

describe("UniqueWindow", () => {
  it("holds a key for the window, then forgets it (the window's end is exclusive)", () => {
    const w = new UniqueWindow();
    w.add("k", 1_000);
    expect(w.has("k", 1_000, 10_000)).toBe(true);
    expect(w.has("k", 10_999, 10_000)).toBe(true);
    expect(w.has("k", 11_000, 10_000)).toBe(false);
    expect(w.has("other", 1_000, 10_000)).toBe(false);
  });

  it("a repeat moves the key's time forward", () => {
    const w = new UniqueWindow();
    w.add("k", 0);
    w.add("k", 5_000);
    expect(w.has("k", 12_000, 10_000)).toBe(true);
    expect(w.size).toBe(1);
  });

  it("is bounded: past `max` the oldest keys go first", () => {
    const w = new UniqueWindow(3);
    for (const [i, k] of ["a", "b", "c", "d"].entries()) w.add(k, i);
    expect(w.size).toBe(3);
    expect(w.has("a", 4, 1_000)).toBe(false);
    expect(w.has("d", 4, 1_000)).toBe(true);
    // "b" refreshed, so "c" is now the oldest.
    w.add("b", 5);
    w.add("e", 6);
    expect(w.has("c", 6, 1_000)).toBe(false);
    expect(w.has("b", 6, 1_000)).toBe(true);
  });

  it("clear() forgets everything", () => {
    const w = new UniqueWindow();
    w.add("k", 0);
    w.clear();
    expect(w.size).toBe(0);
    expect(w.has("k", 0, 1_000)).toBe(false);
  });
});

describe("modeRefusal", () => {
  const NOW = 10_000_000_000;
  const viewer: ModeSubject = { staff: false, member: false, accountCreatedAt: NOW - 365 * 86_400_000 };
  const all: ChatModes = { emote_only: true, unique_s: 600, members_only: true, account_age_s: 3_600, first_time_hold: true };
  const refuse = (modes: Partial<ChatModes>, who: Partial<ModeSubject> = {}, text = "hello", images = false, window = new UniqueWindow()) =>
    modeRefusal({ ...MODES_OFF, ...modes }, { ...viewer, ...who }, text, images, NOW, window);

  it("refuses nothing with every mode off", () => {
    expect(refuse({})).toBeNull();
  });

  it("checks members_only, account_age, emote_only, unique in that order", () => {
    const seen = new UniqueWindow();
    seen.add(uniqueKey("hello"), NOW - 1_000);
    const young = { accountCreatedAt: NOW - 60_000 };
    expect(refuse(all, young, "hello", false, seen)).toBe("members_only");
    expect(refuse({ ...all, members_only: false }, young, "hello", false, seen)).toBe("account_too_new");
    expect(refuse({ ...all, members_only: false, account_age_s: 0 }, young, "hello", false, seen)).toBe("emote_only");
    expect(refuse({ ...all, members_only: false, account_age_s: 0, emote_only: false }, young, "hello", false, seen)).toBe("not_unique");
  });

  it("exempts staff from every mode", () => {
    const seen = new UniqueWindow();
    seen.add(uniqueKey("hello"), NOW - 1_000);
    expect(refuse(all, { staff: true, member: false, accountCreatedAt: null }, "hello", true, seen)).toBeNull();
  });

  it("exempts members from account_age only", () => {
    const member = { member: true, accountCreatedAt: NOW - 1_000 };
    expect(refuse({ account_age_s: 3_600 }, member)).toBeNull();
    expect(refuse({ account_age_s: 3_600, emote_only: true }, member)).toBe("emote_only");
    expect(refuse({ members_only: true }, member)).toBeNull();
  });

  it("account_age: an unknown age fails closed; the minimum itself passes", () => {
    expect(refuse({ account_age_s: 3_600 }, { accountCreatedAt: null })).toBe("account_too_new");
    expect(refuse({ account_age_s: 3_600 }, { accountCreatedAt: NOW - 3_600_000 })).toBeNull();
    expect(refuse({ account_age_s: 3_600 }, { accountCreatedAt: NOW - 3_599_999 })).toBe("account_too_new");
    // A creation time in the future is not old enough either.
    expect(refuse({ account_age_s: 3_600 }, { accountCreatedAt: NOW + 60_000 })).toBe("account_too_new");
  });

  it("emote_only refuses images, even with emoji text", () => {
    expect(refuse({ emote_only: true }, {}, "🔥")).toBeNull();
    expect(refuse({ emote_only: true }, {}, "🔥", true)).toBe("emote_only");
    expect(refuse({ emote_only: true }, {}, "", true)).toBe("emote_only");
  });

  it("unique: refuses a normal form seen within the window, not one seen before it or a punctuation-only text", () => {
    const w = new UniqueWindow();
    w.add(uniqueKey("buy followers"), NOW - 599_000);
    w.add(uniqueKey("old news"), NOW - 600_000);
    w.add("", NOW - 1_000);
    expect(refuse({ unique_s: 600 }, {}, "BUY   followerssss!!", false, w)).toBe("not_unique");
    expect(refuse({ unique_s: 600 }, {}, "old news", false, w)).toBeNull();
    expect(refuse({ unique_s: 600 }, {}, "?!", false, w)).toBeNull();
    expect(refuse({ unique_s: 0 }, {}, "buy followers", false, w)).toBeNull();
  });
});
