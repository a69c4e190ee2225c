/**
 * Where a new viewer's socket goes (src/rules/placement.ts): the shard of the user's other sockets
 * first, then the lowest-index shard of the region with room, then a new shard at the lowest free
 * index; shard names and Durable Object keys; the locationHint of each region.
 */
import { describe, expect, it } from "vitest";
import { CONTINENTS, UNKNOWN_REGION } from "../../src/metrics";
import { locationHint, pickShard, shardKey, shardName, type ShardLoad } from "../../src/rules/placement";

const STREAM = "6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f";
const MAX = 10;
const SLACK = 5;

/** A shard of `region` at `index` holding `sockets`. */
const shard = (region: string, index: number, sockets: number): ShardLoad => ({ name: shardName(region, index), region, index, sockets });

describe("shardName / shardKey", () => {
  it("names a shard {region}-{index} and keys it {stream_id}/{name}", () => {
    expect(shardName("EU", 0)).toBe("EU-0");
    expect(shardName("NA", 12)).toBe("NA-12");
    expect(shardName(UNKNOWN_REGION, 3)).toBe("unknown-3");
    expect(shardKey(STREAM, "EU-0")).toBe(`${STREAM}/EU-0`);
    expect(shardKey(STREAM, shardName("AS", 2))).toBe("6b5f0c1e-8a0b-4c59-9b5e-3f2a1d0c9e8f/AS-2");
  });

  it("gives distinct keys to the same shard name in two streams", () => {
    const other = "00000000-0000-4000-8000-000000000001";
    expect(shardKey(STREAM, "EU-0")).not.toBe(shardKey(other, "EU-0"));
  });
});

describe("pickShard", () => {
  it("creates the region's first shard, index 0, when there is none", () => {
    expect(pickShard([], "EU", MAX, SLACK)).toEqual({ name: "EU-0", index: 0, isNew: true });
  });

  it("takes the lowest-index shard of the region with room, whatever the list's order", () => {
    const shards = [shard("EU", 2, 0), shard("EU", 0, MAX), shard("EU", 1, MAX - 1)];
    expect(pickShard(shards, "EU", MAX, SLACK)).toEqual({ name: "EU-1", index: 1, isNew: false });
    expect(pickShard([shard("EU", 3, 4), shard("EU", 1, 9)], "EU", MAX, SLACK)).toEqual({ name: "EU-1", index: 1, isNew: false });
  });

  it("does not reorder the caller's list", () => {
    const shards = [shard("EU", 2, 0), shard("EU", 0, 0)];
    pickShard(shards, "EU", MAX, SLACK);
    expect(shards.map((s) => s.index)).toEqual([2, 0]);
  });

  it("counts a shard at max as full (max is the most it holds without affinity)", () => {
    expect(pickShard([shard("EU", 0, MAX)], "EU", MAX, SLACK)).toEqual({ name: "EU-1", index: 1, isNew: true });
    expect(pickShard([shard("EU", 0, MAX + 3)], "EU", MAX, SLACK)).toEqual({ name: "EU-1", index: 1, isNew: true });
    expect(pickShard([shard("EU", 0, MAX - 1)], "EU", MAX, SLACK).name).toBe("EU-0");
  });

  it("works with max = 1", () => {
    expect(pickShard([], "EU", 1, 0)).toEqual({ name: "EU-0", index: 0, isNew: true });
    expect(pickShard([shard("EU", 0, 1)], "EU", 1, 0)).toEqual({ name: "EU-1", index: 1, isNew: true });
    expect(pickShard([shard("EU", 0, 1), shard("EU", 1, 0)], "EU", 1, 0)).toEqual({ name: "EU-1", index: 1, isNew: false });
  });

  it("opens a new shard at the lowest index not in use, filling holes", () => {
    const full = (region: string, ...indexes: number[]) => indexes.map((i) => shard(region, i, MAX));
    expect(pickShard(full("EU", 0, 1, 2), "EU", MAX, SLACK)).toEqual({ name: "EU-3", index: 3, isNew: true });
    expect(pickShard(full("EU", 0, 1, 3), "EU", MAX, SLACK)).toEqual({ name: "EU-2", index: 2, isNew: true });
    expect(pickShard(full("EU", 1, 2), "EU", MAX, SLACK)).toEqual({ name: "EU-0", index: 0, isNew: true });
    expect(pickShard(full("EU", 4, 0, 2, 1), "EU", MAX, SLACK)).toEqual({ name: "EU-3", index: 3, isNew: true });
  });

  it("keeps regions apart: other regions' shards neither take the socket nor use up its indexes", () => {
    const shards = [shard("NA", 0, 0), shard("NA", 1, 0), shard("EU", 0, MAX)];
    expect(pickShard(shards, "EU", MAX, SLACK)).toEqual({ name: "EU-1", index: 1, isNew: true });
    expect(pickShard(shards, "AS", MAX, SLACK)).toEqual({ name: "AS-0", index: 0, isNew: true });
    expect(pickShard(shards, "NA", MAX, SLACK)).toEqual({ name: "NA-0", index: 0, isNew: false });
    expect(pickShard(shards, UNKNOWN_REGION, MAX, SLACK)).toEqual({ name: "unknown-0", index: 0, isNew: true });
  });

  describe("affinity (the shard of the user's other sockets)", () => {
    it("wins over a lower-index shard with room", () => {
      const shards = [shard("EU", 0, 0), shard("EU", 1, 5)];
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-1")).toEqual({ name: "EU-1", index: 1, isNew: false });
    });

    it("holds up to max + slack sockets, and no more", () => {
      const shards = [shard("EU", 0, 0), shard("EU", 1, MAX)];
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-1").name).toBe("EU-1");
      shards[1]!.sockets = MAX + SLACK - 1;
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-1").name).toBe("EU-1");
      shards[1]!.sockets = MAX + SLACK;
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-1")).toEqual({ name: "EU-0", index: 0, isNew: false });
    });

    it("with slack 0 is the ordinary max", () => {
      const shards = [shard("EU", 0, 0), shard("EU", 1, MAX)];
      expect(pickShard(shards, "EU", MAX, 0, "EU-1").name).toBe("EU-0");
      shards[1]!.sockets = MAX - 1;
      expect(pickShard(shards, "EU", MAX, 0, "EU-1").name).toBe("EU-1");
    });

    it("a full affinity shard with no other room opens a new shard", () => {
      const shards = [shard("EU", 0, MAX), shard("EU", 1, MAX + SLACK)];
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-1")).toEqual({ name: "EU-2", index: 2, isNew: true });
    });

    it("is ignored when it is a shard of another region (the user moved or has sockets elsewhere)", () => {
      const shards = [shard("NA", 0, 1), shard("EU", 0, MAX), shard("EU", 1, 2)];
      expect(pickShard(shards, "EU", MAX, SLACK, "NA-0")).toEqual({ name: "EU-1", index: 1, isNew: false });
      expect(pickShard([shard("NA", 0, 1)], "EU", MAX, SLACK, "NA-0")).toEqual({ name: "EU-0", index: 0, isNew: true });
    });

    it("is ignored when no such shard is known (closed, or a stale name)", () => {
      const shards = [shard("EU", 0, 3)];
      expect(pickShard(shards, "EU", MAX, SLACK, "EU-7")).toEqual({ name: "EU-0", index: 0, isNew: false });
      expect(pickShard([], "EU", MAX, SLACK, "EU-0")).toEqual({ name: "EU-0", index: 0, isNew: true });
    });
  });

  it("fills shards one after the other as sockets arrive, region by region", () => {
    const shards: ShardLoad[] = [];
    const place = (region: string) => {
      const p = pickShard(shards, region, 3, 0);
      if (p.isNew) shards.push(shard(region, p.index, 0));
      shards.find((s) => s.name === p.name)!.sockets++;
      return p.name;
    };
    const eu = Array.from({ length: 7 }, () => place("EU"));
    const na = Array.from({ length: 2 }, () => place("NA"));
    expect(eu).toEqual(["EU-0", "EU-0", "EU-0", "EU-1", "EU-1", "EU-1", "EU-2"]);
    expect(na).toEqual(["NA-0", "NA-0"]);
    // A close on EU-0 frees a place there, taken before EU-2's.
    shards.find((s) => s.name === "EU-0")!.sockets--;
    expect(place("EU")).toBe("EU-0");
    expect(place("EU")).toBe("EU-2");
  });
});

describe("locationHint", () => {
  it("gives every continent a Durable Object location hint", () => {
    const hints = Object.fromEntries(CONTINENTS.map((c) => [c, locationHint(c)]));
    expect(hints).toEqual({ AF: "afr", AN: "oc", AS: "apac", EU: "weur", NA: "enam", OC: "oc", SA: "sam" });
  });

  it("gives none for the unknown region or anything that is not a continent code", () => {
    for (const region of [UNKNOWN_REGION, "XX", "eu", "", "EU-0"]) expect(locationHint(region), region).toBeUndefined();
  });
});
