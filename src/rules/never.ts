/**
 * Exhaustiveness checks: the last branch of every switch over a protocol union (the room events,
 * server frames, commands, moderation actions of src/protocol.ts). Once every member has a case,
 * the switched value's type in the `default:` branch is `never`, so these calls type-check; add a
 * member to the union and each switch that does not handle it fails `tsc` at this call, which
 * names every file a new frame or event type touches (README "Adding a room event").
 *
 * Two flavours, so that no run-time behaviour depends on the check:
 *   assertNever(x, where)  the branch returns nothing sensible (a function that must produce a
 *                          value): reaching it at run time is a bug, so it throws
 *   exhaustive(x)          the code after the switch already does the right thing for a value it
 *                          does not know (skip it): compile-time only, a no-op at run time
 * Pure, no framework imports: the SDK bundle imports it too.
 */

/**
 * Compile-time: `value` must be `never` (every member of its union handled above). Run time: throws
 * TypeError("<where>: unexpected <value's type or the value>"), because a value outside the union
 * got past the types (a cast, or unvalidated input).
 */
export function assertNever(value: never, where: string): never {
  throw new TypeError(`${where}: unexpected ${describe(value)}`);
}

/**
 * Compile-time: `value` must be `never` (every member of its union handled above). Run time: does
 * nothing, so the caller's own fallback runs for a value outside the union, e.g. a frame type from
 * a newer peer that a cast let through.
 */
export function exhaustive(value: never): void {
  void value;
}

/** `type "x"` (or `action "x"`) for a frame-like object, else the value as JSON. */
function describe(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    const v = value as { type?: unknown; action?: unknown };
    if (typeof v.type === "string") return `type ${JSON.stringify(v.type)}`;
    if (typeof v.action === "string") return `action ${JSON.stringify(v.action)}`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
