/**
 * Where a new viewer's socket goes (DESIGN.md "Hot streams and global viewers"): a fan-out shard of
 * the viewer's region with room, created on demand; the shard that already holds the user's other
 * sockets when it can take one more (so MAX_SOCKETS_PER_USER is enforced where the sockets are).
 * Pure: unit-tested in test/unit/placement.test.ts.
 */

/** A shard as admission sees it. */
export interface ShardLoad {
  /** `{region}-{index}`, see shardName(). */
  name: string;
  region: string;
  index: number;
  /** Open sockets as last reported plus those admitted since. */
  sockets: number;
}

/** A shard's name within its stream: `{region}-{index}`, e.g. `EU-0`. */
export function shardName(region: string, index: number): string {
  return `${region}-${index}`;
}

/** The Durable Object name of a stream's shard (`CHAT_SHARD.idFromName`): `{stream_id}/{region}-{index}`. */
export function shardKey(streamId: string, name: string): string {
  return `${streamId}/${name}`;
}

/**
 * The shard for a new socket in `region`, among `shards` (any regions):
 *   1. `affinity` (the shard of the user's other sockets) if it is in this region and holds fewer
 *      than `max + slack` sockets (slack = MAX_SOCKETS_PER_USER: a user's reconnects never split them);
 *   2. else the lowest-index shard of the region with fewer than `max` sockets;
 *   3. else a new shard: the lowest index of the region not in use.
 * `max` ≥ 1 (SHARD_MAX_SOCKETS). Returns the name and whether the shard is new.
 */
export function pickShard(
  shards: readonly ShardLoad[],
  region: string,
  max: number,
  slack: number,
  affinity?: string,
): { name: string; index: number; isNew: boolean } {
  const mine = shards.filter((s) => s.region === region).sort((a, b) => a.index - b.index);
  const sticky = affinity === undefined ? undefined : mine.find((s) => s.name === affinity);
  if (sticky && sticky.sockets < max + slack) return { name: sticky.name, index: sticky.index, isNew: false };
  const open = mine.find((s) => s.sockets < max);
  if (open) return { name: open.name, index: open.index, isNew: false };
  let index = 0;
  for (const s of mine) if (s.index === index) index++;
  return { name: shardName(region, index), index, isNew: true };
}

/**
 * The `locationHint` for a region's shards (Cloudflare's Durable Object location hints): where a
 * new shard object is created, so a batch crosses to each region once. Undefined for an unknown
 * region (the platform places the object near the first request).
 */
export function locationHint(region: string): DurableObjectLocationHint | undefined {
  return HINTS.get(region);
}

const HINTS = new Map<string, DurableObjectLocationHint>([
  ["AF", "afr"],
  ["AN", "oc"],
  ["AS", "apac"],
  ["EU", "weur"],
  ["NA", "enam"],
  ["OC", "oc"],
  ["SA", "sam"],
]);
