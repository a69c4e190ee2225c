// What every peer server does with a chat message, so all targets put the same bytes on the wire
// as our ChatRoom: validate {"type":"message","text"}, trim, ≤ 500 code points, then rebuild a
// comment frame shaped exactly like the contract's
//   {"type":"comment","seq":n,"comment":{"id","stream_id","user_id","username","message","created_at"}}
// Peers do no auth, no persistence and no queue: they are the floor, not an equivalent product.
import { randomUUID } from "node:crypto";

export const MAX_CODE_POINTS = 500;

/** Returns the trimmed text, or null when the frame is not an acceptable chat message. */
export function acceptMessage(raw) {
  let f;
  try {
    f = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
  } catch {
    return null;
  }
  if (!f || f.type !== "message" || typeof f.text !== "string") return null;
  const text = f.text.trim();
  if (!text) return null;
  let n = 0;
  for (const _ of text) if (++n > MAX_CODE_POINTS) return null;
  return text;
}

export function commentObject(seq, streamId, userId, text) {
  return {
    type: "comment",
    seq,
    comment: {
      id: randomUUID(),
      stream_id: streamId,
      user_id: userId,
      username: null,
      message: text,
      created_at: new Date().toISOString(),
    },
  };
}

export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith("--") ? true : v;
}

export const STREAM_ID = "00000000-0000-4000-8000-00000000b0b0";
