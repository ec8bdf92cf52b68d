import test from "ava";
import fc from "fast-check";
import type { StoreDecision, TargetDecision } from "../../src/controller/decide.js";
import { concurrentWrites, planWrites, type PlannedWrite } from "../../src/controller/write-plan.js";
import { parseRenderedConfig } from "../../src/render/parse.js";
import { renderStoresConfig, type RenderedConfig } from "../../src/render/render.js";
import { passwordCredentials, store, TEST_CA_PEM } from "../render/scenarios.js";

function config(ids: readonly string[], password = (id: string) => `pw-${id}`, ca?: (id: string) => boolean): RenderedConfig {
  const result = renderStoresConfig(
    ids.map((id, index) => store(id, { default: index === 0, volumeType: `type-${id}` }, { ...passwordCredentials(password(id)), ...(ca?.(id) ? { caCertPem: TEST_CA_PEM } : {}) })),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

function decision(action: TargetDecision["action"], renderedStoreIds: readonly string[], stores: Partial<StoreDecision>[] = []): TargetDecision {
  return {
    action,
    renderedStoreIds,
    otherStores: [],
    defaultStoreId: undefined, session: undefined,
    stores: stores.map((s, i) => ({
      key: `openstack/s${i}`,
      rendered: false,
      addDeleteEnabled: false,
      volumeType: undefined,
      volumeTypes: [],
      projectId: undefined,
      imageVolumes: undefined,
      conditions: [],
      releaseFinalizer: false,
      needsFinalizer: false,
      refusal: undefined,
      ...s,
    })),
  };
}

const kinds = (writes: readonly PlannedWrite[]): string[] => writes.map((w) => (w.kind === "putSecret" ? `putSecret:${w.step}` : w.kind));

/** Every (ConfigMap, Secret) pair the apiserver holds while the plan is carried out, the first being the current one. */
function pairsDuring(current: RenderedConfig, writes: readonly PlannedWrite[]): { storesConf: string; credentialsConf: string; caFiles: Record<string, string> }[] {
  let pair = { storesConf: current.storesConf, credentialsConf: current.credentialsConf, caFiles: { ...current.caFiles } };
  const pairs = [pair];
  for (const write of writes) {
    if (write.kind === "putSecret") pair = { ...pair, credentialsConf: write.credentialsConf, caFiles: { ...write.caFiles } };
    else if (write.kind === "putConfigMap") pair = { ...pair, storesConf: write.storesConf };
    else continue;
    pairs.push(pair);
  }
  return pairs;
}

/** What a glance-api started from this pair needs: every store the ConfigMap names, whole, from both files. */
function startable(pair: { storesConf: string; credentialsConf: string; caFiles: Record<string, string> }): string | undefined {
  const parsed = parseRenderedConfig(pair.storesConf, pair.credentialsConf, pair.caFiles);
  if (!parsed.ok) return parsed.message;
  if (parsed.unreadable.length > 0) return parsed.unreadable.map((s) => `${s.storeId}: ${s.message}`).join("; ");
  if (parsed.defaultStoreId === undefined || !parsed.storeIds.includes(parsed.defaultStoreId)) return "no default";
  return undefined;
}

test("stores only added: the Secret first, then the ConfigMap, then the rollout, then statuses", (t) => {
  const writes = planWrites(decision({ kind: "write", config: config(["a", "b"]) }, ["a", "b"], [{ needsFinalizer: true }, {}]), {
    withFinalizer: new Set(),
    files: config(["a"]),
    runningIds: ["a"],
  });
  t.deepEqual(kinds(writes), ["addFinalizer", "putSecret:final", "putConfigMap", "rollout", "status", "status"]);
});

test("stores added and removed in one reconcile: the Secret keeps the leaving store's credentials until the ConfigMap no longer names it", (t) => {
  const before = config(["a", "gone"]);
  const after = config(["a", "new"]);
  const writes = planWrites(decision({ kind: "write", config: after }, ["a", "new"], [{ releaseFinalizer: true }]), {
    withFinalizer: new Set(["openstack/s0"]),
    files: before,
    runningIds: ["a", "gone"],
  });
  t.deepEqual(kinds(writes), ["putSecret:union", "putConfigMap", "putSecret:final", "rollout", "releaseFinalizer"]);
  for (const pair of pairsDuring(before, writes)) t.is(startable(pair), undefined);
  const union = writes[0];
  t.true(union?.kind === "putSecret" && union.credentialsConf.includes("[gone]") && union.credentialsConf.includes("[new]"));
});

test("a leaving store's CA bundle stays in the Secret as long as its section does", (t) => {
  const before = config(["a", "gone"], undefined, (id) => id === "gone");
  const after = config(["a", "new"]);
  const writes = planWrites(decision({ kind: "write", config: after }, ["a", "new"]), { withFinalizer: new Set(), files: before, runningIds: ["a", "gone"] });
  for (const pair of pairsDuring(before, writes)) t.is(startable(pair), undefined);
  const final = writes.find((w) => w.kind === "putSecret" && w.step === "final");
  t.deepEqual(final?.kind === "putSecret" ? Object.keys(final.caFiles) : ["?"], [], "and leaves with it");
});

test("every store gone: the ConfigMap is deleted before the Secret, finalizers are released after", (t) => {
  const writes = planWrites(decision({ kind: "remove" }, [], [{ releaseFinalizer: true }]), { withFinalizer: new Set(["openstack/s0"]), files: config(["a"]), runningIds: ["a"] });
  t.deepEqual(kinds(writes), ["deleteConfigMap", "deleteSecret", "releaseFinalizer"]);
});

test("files kept: no file write, the rollout of what runs, statuses", (t) => {
  const writes = planWrites(decision({ kind: "keep", reason: "no default" }, ["a"], [{}]), { withFinalizer: new Set(), files: config(["a"]), runningIds: ["a"] });
  t.deepEqual(kinds(writes), ["rollout", "status"]);
});

test("any change of a target's stores and passwords passes only through pairs a glance-api starts from (property)", (t) => {
  const ids = fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e"), { minLength: 1, maxLength: 5 });
  fc.assert(
    fc.property(ids, ids, fc.boolean(), fc.boolean(), (beforeIds, afterIds, rotate, withCa) => {
      const before = config(beforeIds, undefined, (id) => withCa && id < "c");
      const after = config(afterIds, rotate ? (id) => `rotated-${id}` : undefined, (id) => withCa && id > "b");
      const writes = planWrites(decision({ kind: "write", config: after }, [...afterIds].sort()), { withFinalizer: new Set(), files: before, runningIds: beforeIds });
      const last = pairsDuring(before, writes).at(-1);
      return pairsDuring(before, writes).every((pair) => startable(pair) === undefined) && last?.storesConf === after.storesConf && last.credentialsConf === after.credentialsConf;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test("concurrentWrites: finalizers go out with the Secret write after them, the writes after the files together, the files one at a time", (t) => {
  const secret = { kind: "putSecret" as const, step: "final" as const, credentialsConf: "", caFiles: {} };
  const plan: PlannedWrite[] = [
    { kind: "addFinalizer", key: "a" },
    { kind: "addFinalizer", key: "b" },
    secret,
    { kind: "putConfigMap", storesConf: "" },
    { ...secret, step: "final" },
    { kind: "rollout", config: { storesConf: "", credentialsConf: "", caFiles: {} } },
    { kind: "releaseFinalizer", key: "c" },
    { kind: "status", key: "a" },
    { kind: "status", key: "b" },
  ];
  const batches: string[][] = [];
  for (let index = 0; index < plan.length; ) {
    const count = concurrentWrites(plan, index);
    t.true(count >= 1);
    batches.push(plan.slice(index, index + count).map((w) => ("key" in w ? `${w.kind}:${w.key}` : w.kind)));
    index += count;
  }
  t.deepEqual(batches, [["addFinalizer:a", "addFinalizer:b", "putSecret"], ["putConfigMap"], ["putSecret"], ["rollout", "releaseFinalizer:c", "status:a", "status:b"]]);
  t.is(concurrentWrites(plan, plan.length), 0);
  // The ConfigMap never shares a batch: the finalizers and the Secret it relies on are written before it is.
  t.deepEqual(concurrentWrites([{ kind: "addFinalizer", key: "a" }, { kind: "putConfigMap", storesConf: "" }], 0), 1);
});
