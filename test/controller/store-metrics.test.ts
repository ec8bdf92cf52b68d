/**
 * What the metrics say of a target's stores: the state of each store, and
 * since when the oldest lasting problems last (the alerts on degraded stores
 * and held deletions read these).
 */
import test from "ava";
import type { Condition, DesiredCondition } from "../../src/controller/conditions.js";
import type { StoreDecision, TargetDecision } from "../../src/controller/decide.js";
import { countStates, storeState, storeSummary } from "../../src/controller/store-metrics.js";

function store(key: string, ready: DesiredCondition["reason"], overrides: Partial<StoreDecision> = {}): StoreDecision {
  return {
    key,
    rendered: true,
    addDeleteEnabled: ready === "Ready",
    volumeType: undefined,
    volumeTypes: [],
    projectId: undefined,
    imageVolumes: undefined,
    conditions: [{ type: "Ready", status: ready === "Ready" ? "True" : "False", reason: ready, message: "" }],
    releaseFinalizer: false,
    needsFinalizer: false,
    refusal: undefined,
    ...overrides,
  };
}

const decision = (...stores: StoreDecision[]): TargetDecision => ({ action: { kind: "keep", reason: "test" }, renderedStoreIds: [], otherStores: [], defaultStoreId: undefined, session: undefined, stores });

const readyCondition = (status: Condition["status"], since: string): Condition[] => [{ type: "Ready", status, reason: status === "True" ? "Ready" : "AuthFailed", message: "", lastTransitionTime: since }];

const STATES: [string, StoreDecision, ReturnType<typeof storeState>][] = [
  ["adding and deleting enabled: ready", store("ns/a", "Ready"), "ready"],
  ["rendered, kept last-good: degraded", store("ns/a", "AuthFailed"), "degraded"],
  ["not rendered: pending", store("ns/a", "VolumeTypeNotFound", { rendered: false }), "pending"],
  ["deletion held: deleting", store("ns/a", "DeletionBlocked"), "deleting"],
  ["leaving: deleting", store("ns/a", "Deleting", { rendered: false }), "deleting"],
  ["a volume type change waiting for confirmation still adds images: ready", store("ns/a", "VolumeTypeChangeNotConfirmed", { addDeleteEnabled: true }), "ready"],
];
for (const [name, input, expected] of STATES) test(`state: ${name}`, (t) => t.is(storeState(input), expected));

test("counts: every state is listed, zero included", (t) => {
  t.deepEqual(countStates(decision(store("ns/a", "Ready"), store("ns/b", "Ready"), store("ns/c", "Unreachable"))), { ready: 2, degraded: 1, pending: 0, deleting: 0 });
});

test("degraded since: the earliest Ready lastTransitionTime of the degraded stores, not of pending or ready ones", (t) => {
  const conditions: Record<string, Condition[]> = {
    "ns/a": readyCondition("False", "2026-01-02T10:00:00Z"),
    "ns/b": readyCondition("False", "2026-01-01T08:00:00Z"),
    "ns/pending": readyCondition("False", "2025-01-01T00:00:00Z"),
    "ns/ready": readyCondition("True", "2024-01-01T00:00:00Z"),
  };
  const times = storeSummary(decision(store("ns/a", "Unreachable"), store("ns/b", "AuthFailed"), store("ns/pending", "VolumeTypeNotFound", { rendered: false }), store("ns/ready", "Ready")), {
    conditions: (key) => conditions[key],
    deletionTimestamp: () => undefined,
  });
  t.is(times.degradedSinceMs, Date.parse("2026-01-01T08:00:00Z"));
  t.is(times.deletionBlockedSinceMs, undefined);
  t.is(times.credentialsRefused, 0);
});

test("nothing degraded, nothing held: both times are absent", (t) => {
  const times = storeSummary(decision(store("ns/a", "Ready")), { conditions: () => readyCondition("True", "2026-01-01T00:00:00Z"), deletionTimestamp: () => undefined });
  t.deepEqual(times, { degradedSinceMs: undefined, deletionBlockedSinceMs: undefined, credentialsRefused: 0 });
});

test("deletion blocked since: the earliest deletionTimestamp of the stores held by DeletionBlocked, not of those leaving", (t) => {
  const deleted: Record<string, string> = { "ns/held": "2026-03-01T12:00:00Z", "ns/held-later": "2026-03-02T12:00:00Z", "ns/leaving": "2026-02-01T00:00:00Z" };
  const times = storeSummary(decision(store("ns/held", "DeletionBlocked"), store("ns/held-later", "DeletionBlocked"), store("ns/leaving", "Deleting", { rendered: false })), {
    conditions: () => undefined,
    deletionTimestamp: (key) => deleted[key],
  });
  t.is(times.deletionBlockedSinceMs, Date.parse("2026-03-01T12:00:00Z"));
  t.is(times.degradedSinceMs, undefined);
});

test("unknown or unreadable times are skipped, not taken for the epoch", (t) => {
  const times = storeSummary(decision(store("ns/a", "Unreachable"), store("ns/held", "DeletionBlocked")), {
    conditions: () => [{ type: "Ready", status: "False", reason: "Unreachable", message: "", lastTransitionTime: "not a time" }],
    deletionTimestamp: () => undefined,
  });
  t.deepEqual(times, { degradedSinceMs: undefined, deletionBlockedSinceMs: undefined, credentialsRefused: 0 });
});

test("credentials refused: the stores whose CredentialsValid says AuthFailed, rendered or not; not KeystoneRejected", (t) => {
  const credentials = (reason: string): DesiredCondition => ({ type: "CredentialsValid", status: reason === "AuthFailed" ? "False" : "Unknown", reason, message: "" });
  const refusedKept = store("ns/kept", "AuthFailed");
  const summary = storeSummary(
    decision(
      { ...refusedKept, conditions: [credentials("AuthFailed"), ...refusedKept.conditions] },
      { ...store("ns/new", "AuthFailed", { rendered: false }), conditions: [credentials("AuthFailed")] },
      { ...store("ns/proxy", "KeystoneRejected", { rendered: false }), conditions: [credentials("KeystoneRejected")] },
    ),
    { conditions: () => undefined, deletionTimestamp: () => undefined },
  );
  t.is(summary.credentialsRefused, 2);
});
