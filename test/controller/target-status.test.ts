import test from "ava";
import type { V1Deployment, V1StatefulSet } from "@kubernetes/client-node";
import type { TargetDecision } from "../../src/controller/decide.js";
import { servedDifferences, targetStatusView, uncoveredImageVolumes, workloadRollout, type TargetStatusInput } from "../../src/controller/target-status.js";

const decision = (overrides: Partial<TargetDecision> = {}): TargetDecision => ({
  action: { kind: "write", config: { storesConf: "", credentialsConf: "", caFiles: {} } },
  renderedStoreIds: ["fast", "old"],
  otherStores: [{ id: "local", type: "file" }],
  defaultStoreId: "fast",
  session: undefined,
  stores: [],
  ...overrides,
});

const input = (overrides: Partial<TargetStatusInput> = {}): TargetStatusInput => ({
  target: "glance-api",
  decision: decision(),
  renderedVolumeTypes: new Map([
    ["fast", "glance-fast"],
    ["old", "glance-old"],
  ]),
  configHash: "0123456789abcdef0123",
  imageVolumes: { ok: true, byType: [], checkedAt: "2026-11-30T00:00:00Z" },
  glance: undefined,
  rollout: undefined,
  mixedCredentials: [],
  ...overrides,
});

const condition = (view: ReturnType<typeof targetStatusView>, type: string) => view.conditions.find((c) => c.type === type);

test("uncovered image volumes: only the types no rendered store has, summed, sorted, volumes without a type as ''", (t) => {
  t.deepEqual(
    uncoveredImageVolumes(
      [
        { volumeType: "glance-old", count: 3 },
        { volumeType: "glance-fast", count: 5 },
        { volumeType: "zeta", count: 1 },
        { volumeType: "alpha", count: 2 },
        { volumeType: undefined, count: 4 },
        { volumeType: "empty", count: 0 },
      ],
      ["glance-fast"],
    ),
    [
      { volumeType: "", count: 4 },
      { volumeType: "alpha", count: 2 },
      { volumeType: "glance-old", count: 3 },
      { volumeType: "zeta", count: 1 },
    ],
  );
});

test("the status: enabled_backends with the other stores, coverage, not checked Glance, and a one-line summary", (t) => {
  const view = targetStatusView(input({ imageVolumes: { ok: true, byType: [{ volumeType: "glance-orphan", count: 2 }, { volumeType: "glance-old", count: 1 }], checkedAt: "2026-11-30T00:00:00Z" } }));
  t.is(view.enabledBackends, "fast:cinder, local:file, old:cinder");
  t.deepEqual(view.storeIds, ["fast", "local", "old"]);
  t.deepEqual(view.uncoveredImageVolumes, [{ volumeType: "glance-orphan", count: 2 }]);
  t.is(view.uncoveredImageVolumeCount, 2);
  t.is(condition(view, "ImageVolumesCovered")?.status, "False");
  t.is(condition(view, "GlanceServesConfig")?.status, "Unknown");
  t.is(condition(view, "Serving")?.status, "Unknown");
  t.false(view.serving);
  t.is(view.summary, "serving unknown: fast, local, old (default fast); config written; 2 legacy volume(s) uncovered (glance-orphan: 2); hash 0123456789ab");
});

test("kept files, listing failures and mixed credentials say why", (t) => {
  const view = targetStatusView(
    input({
      decision: decision({ action: { kind: "keep", reason: "no store can be rendered now" } }),
      imageVolumes: { ok: false, reason: "Unreachable", message: "Cinder did not answer" },
      mixedCredentials: ["slow"],
    }),
  );
  t.deepEqual(view.config, { state: "Kept", reason: "Kept", message: "no store can be rendered now" });
  t.is(condition(view, "ConfigWritten")?.status, "False");
  t.is(condition(view, "ImageVolumesCovered")?.reason, "Unreachable");
  t.is(condition(view, "CredentialsShared")?.status, "False");
  t.regex(condition(view, "CredentialsShared")?.message ?? "", /"slow"/);
  t.regex(view.summary, /config kept: no store can be rendered now; legacy volumes not checked/);
});

test("Glance serving: the same stores, default and volume types is True; any difference is False and named", (t) => {
  const served = [
    { id: "fast", type: "cinder", volumeType: "glance-fast", default: true },
    { id: "local", type: "file", default: false },
    { id: "old", type: "cinder", volumeType: "glance-old", default: false },
  ];
  const ok = targetStatusView(input({ glance: { ok: true, url: "http://g", detail: true, stores: served, checkedAt: "t" } }));
  t.is(condition(ok, "GlanceServesConfig")?.status, "True");
  t.is(condition(ok, "Serving")?.status, "True");
  t.true(ok.serving);
  t.regex(ok.summary, /^serving: /);

  const backends = [
    { id: "fast", type: "cinder" },
    { id: "local", type: "file" },
    { id: "old", type: "cinder" },
  ];
  const types = new Map([
    ["fast", "glance-fast"],
    ["old", "glance-old"],
  ]);
  t.deepEqual(servedDifferences({ detail: true, stores: served.slice(0, 2) }, backends, "fast", types), ["it does not serve old"]);
  t.deepEqual(servedDifferences({ detail: true, stores: [...served, { id: "gone", default: false }] }, backends, "fast", types), ["it serves gone, which the configuration no longer has"]);
  t.deepEqual(servedDifferences({ detail: true, stores: served }, backends, "local", types), ["its default is fast, not local"]);
  t.deepEqual(servedDifferences({ detail: true, stores: served.map((s) => (s.id === "old" ? { ...s, volumeType: "other" } : s)) }, backends, "fast", types), ["old runs volume type other, not glance-old"]);
  // Without the detail view (a non-admin), volume types are not compared.
  t.deepEqual(servedDifferences({ detail: false, stores: served.map((s) => ({ id: s.id, default: s.default })) }, backends, "fast", types), []);

  const stale = targetStatusView(input({ glance: { ok: true, url: "http://g", detail: true, stores: served.slice(0, 2), checkedAt: "t" } }));
  t.is(condition(stale, "GlanceServesConfig")?.reason, "ConfigNotLoaded");
  t.is(condition(stale, "Serving")?.status, "False");
  const unreachable = targetStatusView(input({ glance: { ok: false, reason: "Unreachable", message: "connection refused" } }));
  t.is(condition(unreachable, "GlanceServesConfig")?.status, "Unknown");
});

test("Serving needs the rollout too, when the operator rolls workloads", (t) => {
  const served = [
    { id: "fast", type: "cinder", volumeType: "glance-fast", default: true },
    { id: "local", type: "file", default: false },
    { id: "old", type: "cinder", volumeType: "glance-old", default: false },
  ];
  const glance = { ok: true as const, url: "http://g", detail: true, stores: served, checkedAt: "t" };
  const rolling = targetStatusView(input({ glance, rollout: [{ kind: "Deployment", name: "glance-api", complete: false, message: "1 of 2 replicas updated" }] }));
  t.is(condition(rolling, "RolloutComplete")?.status, "False");
  t.is(condition(rolling, "Serving")?.status, "False");
  t.is(condition(rolling, "Serving")?.reason, "RollingOut");
  const done = targetStatusView(input({ glance, rollout: [{ kind: "Deployment", name: "glance-api", complete: true, message: "" }] }));
  t.is(condition(done, "Serving")?.status, "True");
  const none = targetStatusView(input({ glance, rollout: [] }));
  t.is(condition(none, "RolloutComplete")?.reason, "NoWorkloads");
  t.is(condition(none, "Serving")?.status, "True");
});

const deployment = (hash: string | undefined, status: NonNullable<V1Deployment["status"]> | undefined, generation = 2): V1Deployment => ({
  metadata: { name: "glance-api", generation },
  spec: { replicas: 2, selector: {}, template: { metadata: { annotations: hash === undefined ? {} : { "glance.stores.dev/config-hash": hash } } } },
  ...(status === undefined ? {} : { status }),
});

test("workloadRollout: complete only when the controller saw the template with the hash and every replica is updated and available", (t) => {
  const full = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 };
  t.true(workloadRollout("Deployment", deployment("h", full), "h").complete);
  t.regex(workloadRollout("Deployment", deployment("old", full), "h").message, /does not carry the current config hash/);
  t.regex(workloadRollout("Deployment", deployment("h", { ...full, observedGeneration: 1 }), "h").message, /not seen generation 2/);
  t.regex(workloadRollout("Deployment", deployment("h", { ...full, updatedReplicas: 1 }), "h").message, /1 of 2 replicas updated/);
  t.regex(workloadRollout("Deployment", deployment("h", { ...full, replicas: 3 }), "h").message, /1 old replica/);
  t.regex(workloadRollout("Deployment", deployment("h", { ...full, availableReplicas: 1 }), "h").message, /1 of 2 updated replicas available/);
  t.false(workloadRollout("Deployment", deployment("h", full), undefined).complete);
  const set = (status: NonNullable<V1StatefulSet["status"]>): V1StatefulSet => ({ ...(deployment("h", undefined) as unknown as V1StatefulSet), status });
  t.true(workloadRollout("StatefulSet", set({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, currentRevision: "r2", updateRevision: "r2" }), "h").complete);
  t.false(workloadRollout("StatefulSet", set({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, currentRevision: "r1", updateRevision: "r2" }), "h").complete);
});
