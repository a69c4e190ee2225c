// `npx tsx bench/micro-datapath.mts` (pin it: `taskset -c 1 …`): the per-message CPU of the room's
// pure data path (frame schema, prepareText, decide + apply + queue event) against the old room's
// text handling (trim + code-point count), 50,000 seed-like 64-character messages. Issue 10 asks
// whether the room's CPU per delivery regressed; this says what a message costs before fan-out.
import { prepareText } from "../src/rules/text.ts";
import { decide, apply, emptyState } from "../src/rules/room-state.ts";
import { ClientFrame, toQueueEvent } from "../src/protocol.ts";
const N = 50_000;
const texts = Array.from({ length: 1000 }, (_, k) => `~B2.${k}.${1000000 + k}. chat chat chat chat chat chat chat chat chat`.slice(0, 64));
function time(name: string, fn: (i: number) => void) {
  for (let i = 0; i < 5000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t) / 1000 / N;
  console.log(`${name}: ${us.toFixed(2)} µs/message`);
}
time("old: trim + code points", (i) => { const t = texts[i % 1000].trim(); let n = 0; for (const _ of t) n++; if (n > 500) throw 0; });
time("JSON.parse + ClientFrame.safeParse", (i) => { ClientFrame.safeParse(JSON.parse(JSON.stringify({ type: "message", text: texts[i % 1000] }))); });
time("prepareText", (i) => { prepareText(texts[i % 1000]); });
const st = emptyState("3f1c2d4e-0000-4000-8000-000000000001");
let seq = 0;
const actor = { userId: "3f1c2d4e-0000-4000-8000-0000000000aa", username: "u", role: "viewer" as const };
time("decide + apply + toQueueEvent + JSON", (i) => {
  const o = decide(st, actor, { type: "message", text: texts[i % 1000] } as any, Date.now(), { editWindowMs: 300_000, newId: () => crypto.randomUUID() });
  if (o.kind !== "ok") throw new Error(JSON.stringify(o));
  for (const e of o.events) { apply(st, e, Date.now()); JSON.stringify(toQueueEvent(e, st.streamId, new Date().toISOString(), actor.userId)); JSON.stringify(e); }
});
