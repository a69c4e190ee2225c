/**
 * What an edit does to a comment (DESIGN.md "Room events": `comment_edited` `{seq,id,message,entities,
 * edited_at}`), in one place for every copy of a stream's comments: the room's state
 * (rules/room-state.ts apply), Redis history (sinks/redis-history.ts planHistory) and the SDK's view
 * (client/store.ts applyEvent). Pure, no framework imports: the SDK bundle imports it too.
 */
import type { Entity, StreamComment } from "../protocol";

/** The fields of a `comment_edited` frame that change the comment (the frame itself fits). */
export interface CommentEdit {
  /** The new text, as the room prepared it (trimmed, rules of src/rules/text.ts applied). */
  message: string;
  /** The new text's entities (code-point offsets); empty when it has none. */
  entities: Entity[];
  /** When the edit was accepted, RFC 3339 UTC. */
  edited_at: string;
}

/**
 * `comment` with `edit` applied, as a new object (the input is not changed): the text replaced, the
 * old entities dropped and the new ones set only when there are any (a comment without entities has
 * no `entities` key, as a new one does), `edited_at` set. Every other field is kept as it was, in
 * the same key order, so the stored and broadcast JSON of an edited comment is the same string
 * wherever it is rebuilt (Redis history compares members as strings).
 */
export function applyEdit(comment: StreamComment, edit: CommentEdit): StreamComment {
  const { entities: _old, ...rest } = comment;
  return { ...rest, message: edit.message, ...(edit.entities.length > 0 ? { entities: edit.entities } : {}), edited_at: edit.edited_at };
}
