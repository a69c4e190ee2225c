/// <reference lib="dom" />
/**
 * Chat modes, the stream title and lockdown, for the owner and moderators (issue 18 §1, §5, §6):
 *
 * - a Lockdown button always in view (a shield, `aria-pressed`): one click applies the owner's preset
 *   (modes and slow mode) in one event, another restores what was in force before;
 * - a panel of toggles: emote-only, unique chat (with its window in seconds), members-only, account
 *   age (with its minimum in seconds), first-time hold; each change is one `chat_mode` command;
 * - the title (shown instead of the stream's UUID; page-viewer.ts);
 * - for the owner, the lockdown preset editor (`lockdown_preset`, not broadcast).
 *
 * The controls show the store's `room.modes` / `room.lockdown` / `room.title`, so a change by another
 * moderator (or a lockdown) shows here too; a field being edited is left alone until it loses focus.
 */
import { ACCOUNT_AGE_DEFAULT_S, ACCOUNT_AGE_MAX_S, MAX_TITLE_CODE_POINTS, SLOW_MODE_MAX_S, UNIQUE_DEFAULT_S, UNIQUE_MAX_S } from "../protocol.js";
import type { ChatClient, ChatMode, LockdownPreset, RoomView } from "./index.js";
import { ICONS, add, button, durationText, el, icon, labelled, numberInput } from "./page-dom.js";
import { modesText } from "./page-viewer.js";
import { DEFAULT_LOCKDOWN_PRESET } from "../rules/modes.js";

export interface ModesPanel {
  /** The lockdown bar (always shown to staff). */
  readonly bar: HTMLElement;
  /** The collapsible panel of modes, title and preset. */
  readonly element: HTMLElement;
  render(view: RoomView): void;
  /**
   * The owner's saved preset (the state route's `lockdown_preset`, staff only): the editor shows it
   * instead of DEFAULT_PRESET, unless the owner is editing it right now.
   */
  showPreset(preset: LockdownPreset): void;
  dispose(): void;
}

/** What the preset editor starts from before the state route says what is saved: the room's own default (src/rules/modes.ts). */
export const DEFAULT_PRESET: LockdownPreset = DEFAULT_LOCKDOWN_PRESET;

interface Toggle {
  mode: ChatMode;
  box: HTMLInputElement;
  seconds?: HTMLInputElement;
  secondsText?: HTMLElement;
}

export function mountModesPanel(client: ChatClient, deps: { describeError(err: unknown): string; notice(text: string): void }): ModesPanel {
  // -- lockdown bar ---------------------------------------------------------------------------
  const bar = el("div", "lockdown-bar");
  const lock = el("button", "lockdown");
  lock.type = "button";
  lock.id = "lockdown-button";
  lock.setAttribute("aria-pressed", "false");
  const lockLabel = el("span", undefined, "Lockdown");
  add(lock, icon(ICONS.shield), " ", lockLabel);
  const lockState = el("span", "lockdown-state");
  lockState.setAttribute("role", "status");
  const barError = el("span", "error");
  add(bar, lock, " ", lockState, " ", barError);
  let lockedDown = false;
  lock.addEventListener("click", () => {
    lock.disabled = true;
    barError.textContent = "";
    client.lockdown(!lockedDown).then(
      () => (lock.disabled = false),
      (err: unknown) => {
        lock.disabled = false;
        barError.textContent = deps.describeError(err);
      },
    );
  });

  // -- modes ----------------------------------------------------------------------------------
  const panel = el("details", "panel modes-panel");
  panel.id = "modes-panel";
  add(panel, el("summary", undefined, "Chat modes and title"));
  const error = el("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const run = (p: Promise<unknown>, done?: string) => {
    error.hidden = true;
    p.then(
      () => done && deps.notice(done),
      (err: unknown) => {
        error.textContent = deps.describeError(err);
        error.hidden = false;
      },
    );
  };

  const fieldset = el("fieldset", "modes");
  add(fieldset, el("legend", undefined, "Chat modes (owner and moderators are exempt)"));
  const toggles: Toggle[] = [];
  function toggle(mode: ChatMode, label: string, seconds?: { value: number; max: number; label: string }): void {
    const box = el("input");
    box.type = "checkbox";
    const row = el("div", "mode-row");
    const id = `mode-${mode}`;
    box.id = id;
    const l = el("label", undefined, label);
    l.htmlFor = id;
    add(row, box, l);
    const t: Toggle = { mode, box };
    if (seconds) {
      const n = numberInput(seconds.value, 1, seconds.max);
      const sid = `mode-${mode}-seconds`;
      n.id = sid;
      const sl = el("label", undefined, seconds.label);
      sl.htmlFor = sid;
      const words = el("span", "hint", durationText(seconds.value));
      add(row, " ", sl, " ", n, " ", words);
      t.seconds = n;
      t.secondsText = words;
      n.addEventListener("input", () => (words.textContent = Number(n.value) > 0 ? durationText(Number(n.value)) : ""));
      n.addEventListener("change", () => {
        if (box.checked && Number(n.value) >= 1) run(client.setChatMode(mode, true, Math.round(Number(n.value))));
      });
    }
    box.addEventListener("change", () => {
      const s = t.seconds && box.checked ? Math.round(Number(t.seconds.value)) : undefined;
      run(client.setChatMode(mode, box.checked, s !== undefined && s >= 1 ? s : undefined));
    });
    toggles.push(t);
    add(fieldset, row);
  }
  toggle("emote_only", "Emote-only: messages may only contain emoji");
  toggle("unique", "Unique chat: refuse repeats", { value: UNIQUE_DEFAULT_S, max: UNIQUE_MAX_S, label: "within (seconds)" });
  toggle("members_only", "Members-only");
  toggle("account_age", "Account age", { value: ACCOUNT_AGE_DEFAULT_S, max: ACCOUNT_AGE_MAX_S, label: "at least (seconds)" });
  toggle("first_time_hold", "Hold first messages for review");

  // -- title ----------------------------------------------------------------------------------
  const titleForm = el("form", "title-form");
  const titleInput = el("input");
  titleInput.maxLength = MAX_TITLE_CODE_POINTS;
  titleInput.placeholder = "Shown instead of the stream ID";
  const saveTitle = el("button", "", "Save title");
  saveTitle.type = "submit";
  const clearTitle = button("Clear", () => run(client.setTitle(""), "The title is cleared."), { className: "" });
  add(titleForm, labelled("Stream title", titleInput, "stream-title-input"), saveTitle, clearTitle);
  titleForm.addEventListener("submit", (e) => {
    e.preventDefault();
    run(client.setTitle(titleInput.value.trim()), "The title is saved.");
  });

  // -- lockdown preset (owner) ------------------------------------------------------------------
  const preset = el("details", "preset");
  preset.id = "lockdown-preset";
  add(preset, el("summary", undefined, "Lockdown preset (owner)"));
  const pForm = el("form", "preset-form");
  const p = {
    slow: numberInput(DEFAULT_PRESET.slow_mode_s, 0, SLOW_MODE_MAX_S),
    unique: numberInput(DEFAULT_PRESET.unique_s, 0, UNIQUE_MAX_S),
    age: numberInput(DEFAULT_PRESET.account_age_s, 0, ACCOUNT_AGE_MAX_S),
    emote: el("input"),
    members: el("input"),
    first: el("input"),
  };
  for (const b of [p.emote, p.members, p.first]) b.type = "checkbox";
  p.emote.checked = DEFAULT_PRESET.emote_only;
  p.members.checked = DEFAULT_PRESET.members_only;
  p.first.checked = DEFAULT_PRESET.first_time_hold;
  const savePreset = el("button", "", "Save preset");
  savePreset.type = "submit";
  add(
    pForm,
    el("p", "hint", "What Lockdown turns on. 0 seconds = off."),
    labelled("Slow mode (seconds)", p.slow, "preset-slow"),
    labelled("Unique chat window (seconds)", p.unique, "preset-unique"),
    labelled("Minimum account age (seconds)", p.age, "preset-age"),
    labelled("Emote-only", p.emote, "preset-emote", "field-check"),
    labelled("Members-only", p.members, "preset-members", "field-check"),
    labelled("Hold first messages", p.first, "preset-first", "field-check"),
    savePreset,
  );
  pForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const value: LockdownPreset = {
      slow_mode_s: Math.round(Number(p.slow.value)),
      unique_s: Math.round(Number(p.unique.value)),
      account_age_s: Math.round(Number(p.age.value)),
      emote_only: p.emote.checked,
      members_only: p.members.checked,
      first_time_hold: p.first.checked,
    };
    run(client.setLockdownPreset(value), "The lockdown preset is saved.");
  });
  add(preset, pForm);

  add(panel, fieldset, titleForm, preset, error);

  return {
    bar,
    element: panel,
    render(view) {
      lockedDown = view.lockdown;
      lock.setAttribute("aria-pressed", String(view.lockdown));
      lock.classList.toggle("on", view.lockdown);
      lockLabel.textContent = view.lockdown ? "End lockdown" : "Lockdown";
      const summary = modesText(view);
      lockState.textContent = view.lockdown
        ? `Lockdown is on.${view.slowModeS > 0 ? ` Slow mode ${durationText(view.slowModeS)}.` : ""} ${summary}`
        : "";
      for (const t of toggles) {
        const value = t.mode === "unique" ? view.modes.unique_s : t.mode === "account_age" ? view.modes.account_age_s : view.modes[t.mode];
        t.box.checked = typeof value === "number" ? value > 0 : value;
        if (t.seconds && typeof value === "number" && value > 0 && document.activeElement !== t.seconds) {
          t.seconds.value = String(value);
          if (t.secondsText) t.secondsText.textContent = durationText(value);
        }
      }
      if (document.activeElement !== titleInput) titleInput.value = view.title ?? "";
      preset.hidden = view.role !== "owner";
    },
    showPreset(saved) {
      if (pForm.contains(document.activeElement)) return;
      p.slow.value = String(saved.slow_mode_s);
      p.unique.value = String(saved.unique_s);
      p.age.value = String(saved.account_age_s);
      p.emote.checked = saved.emote_only;
      p.members.checked = saved.members_only;
      p.first.checked = saved.first_time_hold;
    },
    dispose() {
      bar.remove();
      panel.remove();
    },
  };
}
