import type { Condition } from "./conditions.js";
import type { StoreDecision, TargetDecision } from "./decide.js";

/**
 * What the metrics say of a target's stores, from one reconcile's decision:
 * how many are in each state, and since when the oldest lasting problems
 * last. Pure, so the alerts built on it are table-tested.
 */

/** ready: adding and deleting enabled; degraded: rendered, kept last-good; pending: not rendered; deleting: being deleted (held or not). */
export type StoreState = "ready" | "degraded" | "pending" | "deleting";

export function storeState(store: StoreDecision): StoreState {
  const ready = store.conditions.find((c) => c.type === "Ready");
  if (ready?.reason === "DeletionBlocked" || ready?.reason === "Deleting") return "deleting";
  if (store.addDeleteEnabled) return "ready";
  if (store.rendered) return "degraded";
  return "pending";
}

export function countStates(decision: TargetDecision): Record<StoreState, number> {
  const counts: Record<StoreState, number> = { ready: 0, degraded: 0, pending: 0, deleting: 0 };
  for (const store of decision.stores) counts[storeState(store)] += 1;
  return counts;
}

/** What the times are read from, per store key (`namespace/name`). */
export interface StoreSummarySources {
  /** The store's conditions as written to its status (with lastTransitionTime), if known. */
  conditions(key: string): readonly Condition[] | undefined;
  /** The store's metadata.deletionTimestamp, if set. */
  deletionTimestamp(key: string): string | undefined;
}

/**
 * Since when (ms since the epoch) the target's longest-degraded store has not
 * been Ready (its Ready lastTransitionTime, which survives operator restarts
 * and leader changes), the earliest deletionTimestamp of its stores whose
 * deletion is held, and how many of its stores Keystone refused the
 * credentials of (held off, as their status records, across restarts too).
 */
export function storeSummary(decision: TargetDecision, sources: StoreSummarySources): { degradedSinceMs: number | undefined; deletionBlockedSinceMs: number | undefined; credentialsRefused: number } {
  let degradedSinceMs: number | undefined;
  let deletionBlockedSinceMs: number | undefined;
  let credentialsRefused = 0;
  const earliest = (current: number | undefined, time: string | undefined): number | undefined => {
    const ms = time === undefined ? Number.NaN : Date.parse(time);
    if (!Number.isFinite(ms)) return current;
    return current === undefined || ms < current ? ms : current;
  };
  for (const store of decision.stores) {
    const state = storeState(store);
    if (state === "degraded") {
      const ready = sources.conditions(store.key)?.find((c) => c.type === "Ready");
      if (ready?.status !== "True") degradedSinceMs = earliest(degradedSinceMs, ready?.lastTransitionTime);
    }
    const held = store.conditions.find((c) => c.type === "Ready")?.reason === "DeletionBlocked";
    if (held) deletionBlockedSinceMs = earliest(deletionBlockedSinceMs, sources.deletionTimestamp(store.key));
    if (store.conditions.some((c) => c.type === "CredentialsValid" && c.reason === "AuthFailed")) credentialsRefused += 1;
  }
  return { degradedSinceMs, deletionBlockedSinceMs, credentialsRefused };
}
