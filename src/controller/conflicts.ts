import { ambiguousStoreIdPrefixes } from "../api/store-id.js";
import type { DesiredCondition } from "./conditions.js";

/** The fields conflict resolution reads. */
export interface ConflictCandidate {
  readonly key: string;
  readonly name: string;
  readonly createdAt: string;
  readonly storeId: string;
}

/** Oldest first, then by name: the deterministic order that decides conflicts (rule 5). */
export function olderFirst(a: ConflictCandidate, b: ConflictCandidate): number {
  const byTime = Date.parse(a.createdAt) - Date.parse(b.createdAt);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Stores that may not be rendered because an older store of the target
 * owns their id (or an id equal but for case, or one that is a prefix of
 * theirs or the other way round), keyed by store key. `ordered` is
 * oldest first.
 */
export function findConflicts(ordered: readonly ConflictCandidate[], target: string): Map<string, DesiredCondition> {
  const conflicts = new Map<string, DesiredCondition>();
  const owners = new Map<string, ConflictCandidate>();
  for (const store of ordered) {
    const folded = store.storeId.toLowerCase();
    const owner = owners.get(folded);
    if (owner === undefined) {
      owners.set(folded, store);
      continue;
    }
    conflicts.set(store.key, {
      type: "Rendered",
      status: "False",
      reason: "DuplicateStoreId",
      message:
        owner.storeId === store.storeId
          ? `store id ${JSON.stringify(store.storeId)} is already used in target ${target} by GlanceStore ${owner.name}, which is older: set another spec.storeId`
          : `store id ${JSON.stringify(store.storeId)} differs only by case from ${JSON.stringify(owner.storeId)} of GlanceStore ${owner.name} (older), and Glance reads sections lower-cased: set another spec.storeId`,
    });
  }
  const winners = [...owners.values()];
  const byId = new Map(winners.map((s) => [s.storeId, s]));
  for (const [shorter, longer] of ambiguousStoreIdPrefixes(winners.map((s) => s.storeId))) {
    const a = byId.get(shorter);
    const b = byId.get(longer);
    if (a === undefined || b === undefined) continue;
    const [older, newer] = olderFirst(a, b) <= 0 ? [a, b] : [b, a];
    if (conflicts.has(older.key)) continue;
    conflicts.set(newer.key, {
      type: "Rendered",
      status: "False",
      reason: "AmbiguousStoreId",
      message: `store id ${JSON.stringify(shorter)} is a prefix of ${JSON.stringify(longer)}: Glance finds an image's store by the prefix of its location, so images could be taken for the wrong store; GlanceStore ${older.name} is older and keeps its id, give this one another spec.storeId`,
    });
  }
  return conflicts;
}
