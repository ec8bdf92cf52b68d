/**
 * Apply-to-Ready and update-to-Ready latency of one store, operator warm.
 *
 * One target with a default store already Ready (the token is cached, the
 * connections are open). Each create run adds one non-default store and is
 * done when a GlanceStore watch has seen it Ready=True for its generation
 * and a ConfigMap watch has seen its `[id]` section in the target's
 * ConfigMap (both watches opened before the first run). Each update run
 * sets `spec.description` of one store and is done when the status is
 * Ready=True for the new generation and the ConfigMap holds the new
 * description. Runs are one after the other, each once the operator is idle.
 *
 * Split of each run, from the operator's "reconcile phases" debug lines of
 * the reconciles from the apply up to the first one that wrote: time waiting
 * on OpenStack, time waiting on the apiserver for its writes, the
 * operator's own time (the rest of those reconciles), and outside the
 * reconciles (the apply itself, watch delivery to the operator and back to
 * the bench, queueing): wall minus the three, at least 0. A reconcile goes
 * on after the status write that the bench sees (the target's other statuses, the rollout),
 * so for a create the three parts can add up to more than the wall time.
 */
import { randomBytes } from "node:crypto";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../src/api/glancestore.js";
import { STORES_CONF_FILE } from "../src/render/render.js";
import { storeManifest, credentialsSecretName, type BenchCluster } from "./cluster.js";
import { percentile, type ReconcileRecord } from "./measure.js";
import { BenchOperator } from "./operator.js";
import { isReady, ObjectWatch, type StoreView } from "./watch.js";

export const LATENCY_NAMESPACE = "bench-latency";
const TARGET = "lat";
const KEY = `${LATENCY_NAMESPACE}/${TARGET}`;

export interface RunSplit {
  readonly wallMs: number;
  readonly openstackMs: number;
  readonly apiserverMs: number;
  readonly operatorMs: number;
  /** wall minus the three: outside the reconciles. */
  readonly outsideMs: number;
  /** Reconciles of the target from this apply until the next one (the ones after the first that wrote found nothing to do). */
  readonly reconciles: number;
}

export interface LatencyResult {
  readonly runs: number;
  readonly create: readonly RunSplit[];
  readonly update: readonly RunSplit[];
  /** Stores in the target at the end. */
  readonly storesInTarget: number;
}

export interface Stat {
  readonly p50: number;
  readonly p95: number;
}

export function stat(values: readonly number[]): Stat {
  return { p50: percentile(values, 50), p95: percentile(values, 95) };
}

export async function runLatency(cluster: BenchCluster, options: { runs: number; log: (line: string) => void }): Promise<LatencyResult> {
  const { runs, log } = options;
  await cluster.namespace(LATENCY_NAMESPACE);
  const types = cluster.volumeTypes;
  const secret = credentialsSecretName(0);
  const stores = ObjectWatch.open<StoreView>(cluster.kubeConfig, `/apis/${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}/namespaces/${LATENCY_NAMESPACE}/${GLANCE_STORE_PLURAL}`);
  const configMaps = ObjectWatch.open<V1ConfigMap>(cluster.kubeConfig, `/api/v1/namespaces/${LATENCY_NAMESPACE}/configmaps`);
  const [storeWatch, configMapWatch] = await Promise.all([stores, configMaps]);
  const operator = await BenchOperator.spawn(cluster, { name: "latency", namespace: LATENCY_NAMESPACE, recheckPeriod: "5m" });
  try {
    await operator.waitHealthy();
    const storesConf = (): string => configMapWatch.objects.get(`${TARGET}-stores`)?.data?.[STORES_CONF_FILE] ?? "";
    const create = async (name: string, volumeType: string, isDefault: boolean): Promise<void> => {
      await cluster.custom.createNamespacedCustomObject({
        group: GLANCE_STORE_GROUP,
        version: GLANCE_STORE_VERSION,
        plural: GLANCE_STORE_PLURAL,
        namespace: LATENCY_NAMESPACE,
        body: storeManifest(LATENCY_NAMESPACE, { name, target: TARGET, secret, volumeType, default: isDefault }),
      });
    };
    const rendered = (name: string) => (): boolean => storesConf().includes(`[${name}]\n`);
    const ready = (name: string) => (objects: ReadonlyMap<string, StoreView>): boolean => isReady(objects.get(name));

    // Warm: the default store, Ready and rendered (one authentication, connections open).
    await create("lat-default", types[0] as string, true);
    await Promise.all([storeWatch.until(ready("lat-default"), "lat-default Ready", 120_000), configMapWatch.until(rendered("lat-default"), "lat-default rendered", 120_000)]);
    await operator.idle();

    const measure = async (apply: () => Promise<{ done: Promise<number[]> }>): Promise<RunSplit> => {
      await operator.idle();
      const before = await operator.reconciles();
      const startedMs = Date.now();
      const started = performance.now();
      const { done } = await apply();
      const times = await done;
      const wallMs = Math.max(...times) - started;
      await operator.idle();
      const records = (await operator.reconciles()).slice(before.length).filter((r) => r.key === KEY);
      return split(records, startedMs, wallMs);
    };

    const createRuns: RunSplit[] = [];
    for (let run = 0; run < runs; run++) {
      const name = `lat-c${String(run).padStart(4, "0")}`;
      createRuns.push(
        await measure(async () => {
          const done = Promise.all([storeWatch.until(ready(name), `${name} Ready`, 60_000), configMapWatch.until(rendered(name), `${name} rendered`, 60_000)]);
          await create(name, types[(run + 1) % types.length] as string, false);
          return { done };
        }),
      );
    }
    log(`latency: ${runs} creates done`);

    const updated = "lat-c0000";
    const updateRuns: RunSplit[] = [];
    for (let run = 0; run < runs; run++) {
      const description = `bench update ${run} ${randomBytes(4).toString("hex")}`;
      updateRuns.push(
        await measure(async () => {
          let generation = Number.POSITIVE_INFINITY;
          const readyNow = (objects: ReadonlyMap<string, StoreView>): boolean => {
            const store = objects.get(updated);
            return isReady(store) && (store?.metadata?.generation ?? 0) >= generation;
          };
          const inConfig = (): boolean => storesConf().includes(description);
          const patched = (await cluster.custom.patchNamespacedCustomObject(
            { group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_PLURAL, namespace: LATENCY_NAMESPACE, name: updated, body: { spec: { description } } },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          )) as StoreView;
          generation = patched.metadata?.generation ?? 0;
          return { done: Promise.all([storeWatch.until(readyNow, `${updated} Ready at generation ${generation}`, 60_000), configMapWatch.until(inConfig, `${updated} description rendered`, 60_000)]) };
        }),
      );
    }
    log(`latency: ${runs} updates done`);
    return { runs, create: createRuns, update: updateRuns, storesInTarget: storeWatch.objects.size };
  } finally {
    storeWatch.close();
    configMapWatch.close();
    await operator.stop();
  }
}

/**
 * The reconciles that brought the change: from the apply up to and
 * including the first one that wrote (waited on the apiserver); the rest
 * of the wall time was spent outside them.
 */
function split(records: readonly ReconcileRecord[], startedMs: number, wallMs: number): RunSplit {
  // Log times have millisecond resolution.
  const after = records.filter((r) => r.startMs >= startedMs - 2).sort((a, b) => a.startMs - b.startMs);
  const firstWriter = after.findIndex((r) => r.apiserverMs > 0);
  const brought = firstWriter < 0 ? after.filter((r) => r.startMs <= startedMs + wallMs) : after.slice(0, firstWriter + 1);
  const openstackMs = brought.reduce((s, r) => s + r.openstackMs, 0);
  const apiserverMs = brought.reduce((s, r) => s + r.apiserverMs, 0);
  const operatorMs = brought.reduce((s, r) => s + r.operatorMs, 0);
  return { wallMs, openstackMs, apiserverMs, operatorMs, outsideMs: Math.max(0, wallMs - openstackMs - apiserverMs - operatorMs), reconciles: after.length };
}
