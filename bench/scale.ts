/**
 * A cold start: N GlanceStores (and their Secrets) exist before the
 * operator starts; it is spawned and timed until a GlanceStore watch has
 * seen every one Ready=True for its generation. Then, once it is quiet, one
 * idle re-check round: every target reconciled once more with nothing
 * changed, which must write nothing to the apiserver.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { AuditEvent } from "../src/devstack/kube.js";
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../src/api/glancestore.js";
import { layout, type BenchCluster, type Layout } from "./cluster.js";
import { auditCounts, cpuSeconds, deltaBy, sumOf, writesOf, type Sample } from "./measure.js";
import { BenchOperator } from "./operator.js";
import { isReady, ObjectWatch, type StoreView } from "./watch.js";

export interface RequestCounts {
  /** Keystone token requests (kind auth). */
  readonly keystoneAuths: number;
  /** Cinder requests by kind (types, types-all, default-type, volumes, unauthorized). */
  readonly cinder: ReadonlyMap<string, number>;
}

export interface ColdStart {
  readonly label: string;
  readonly namespace: string;
  readonly stores: number;
  readonly targets: number;
  readonly credentialSets: number;
  readonly layout: Layout;
  /** Spawn of the operator process to the last store seen Ready. */
  readonly convergeMs: number;
  /** Spawn to /readyz answering 200 (informers synced). */
  readonly readyzMs: number;
  /** Spawn to quiet (nothing queued or running) after convergence: what the counts below cover. */
  readonly quietMs: number;
  readonly requests: RequestCounts;
  /** The operator's requests to the apiserver, from the audit log, by `verb resource[/subresource]`. */
  readonly apiserver: ReadonlyMap<string, number>;
  readonly reconciles: number;
  /** Summed over reconciles (4 run at once, so the sums exceed the wall time). */
  readonly phaseSeconds: { readonly openstack: number; readonly apiserver: number; readonly operator: number };
  readonly cpuSeconds: number;
  readonly peakRssMB: number;
  /** V8's heap at quiet: used, and reserved (total), in MB; what of the peak RSS is live data, what is garbage not yet collected or heap kept. */
  readonly heapUsedMB: number;
  readonly heapTotalMB: number;
  /** kube-apiserver's and etcd's CPU seconds over the same span. */
  readonly apiserverCpuSeconds: number;
  readonly etcdCpuSeconds: number;
  readonly idle: IdleRound | undefined;
}

export interface IdleRound {
  readonly recheckPeriod: string;
  /** Reconciles in the window; the round is every target once. */
  readonly reconciles: number;
  readonly targetsReconciled: number;
  readonly writes: ReadonlyMap<string, number>;
  readonly requests: RequestCounts;
  readonly cpuSeconds: number;
  readonly windowMs: number;
}

export interface ColdStartOptions {
  readonly label: string;
  readonly namespace: string;
  readonly count: number;
  readonly recheckPeriod: string;
  readonly idleRound: boolean;
  /** Fills the namespace with other objects first (the bystanders). */
  readonly prepare?: () => Promise<void>;
  readonly log: (line: string) => void;
}

const STORES_PATH = (namespace: string): string => `/apis/${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}/namespaces/${namespace}/${GLANCE_STORE_PLURAL}`;

export async function coldStart(cluster: BenchCluster, options: ColdStartOptions): Promise<ColdStart> {
  const { namespace, count, log } = options;
  const plan = layout(count, cluster.volumeTypes);
  await cluster.namespace(namespace);
  if (options.prepare !== undefined) await options.prepare();
  const created = performance.now();
  await cluster.createStores(namespace, plan.stores);
  log(`${options.label}: ${count} stores created in ${((performance.now() - created) / 1000).toFixed(1)} s`);

  const watch = await ObjectWatch.open<StoreView>(cluster.kubeConfig, STORES_PATH(namespace));
  const ready = new Set<string>();
  watch.onEvent((type, store) => {
    const name = store.metadata?.name ?? "";
    if (type !== "DELETED" && isReady(store)) ready.add(name);
    else ready.delete(name);
  });
  await watch.until((objects) => objects.size === count, `the watch to list ${count} stores`, 120_000);

  const apiserverPid = cluster.kube.apiserver.pid;
  const etcdPid = cluster.kube.etcd.pid;
  const apiserverCpu0 = cpuSeconds(apiserverPid);
  const etcdCpu0 = cpuSeconds(etcdPid);
  const operator = await BenchOperator.spawn(cluster, { name: options.label, namespace, recheckPeriod: options.recheckPeriod });
  try {
    let readyzMs = Number.NaN;
    void operator.waitHealthy().then(
      () => (readyzMs = performance.now() - operator.spawnedAt),
      () => {},
    );
    const exited = operator.process.exited.then((info) => {
      throw new Error(`the operator exited during the cold start: ${JSON.stringify(info)}`);
    });
    const converged = await Promise.race([watch.until(() => ready.size === count, `${count} stores Ready`, 30 * 60_000), exited]);
    const convergeMs = converged - operator.spawnedAt;
    log(`${options.label}: converged in ${(convergeMs / 1000).toFixed(2)} s`);

    await operator.idle(500);
    const quietAtMs = Date.now();
    const quietMs = performance.now() - operator.spawnedAt;
    const atQuiet = await operator.metrics();
    const cpuAtQuiet = operator.cpuSeconds();
    const apiserverCpu = cpuSeconds(apiserverPid) - apiserverCpu0;
    const etcdCpu = cpuSeconds(etcdPid) - etcdCpu0;
    const audit = await cluster.kube.readAuditLog();
    watch.close();

    let idleRound: IdleRound | undefined;
    if (options.idleRound) idleRound = await runIdleRound(cluster, operator, plan, namespace, options.recheckPeriod, atQuiet, cpuAtQuiet, quietAtMs, log);

    return {
      label: options.label,
      namespace,
      stores: count,
      targets: plan.targets.length,
      credentialSets: plan.credentialSets,
      layout: plan,
      convergeMs,
      readyzMs,
      quietMs,
      requests: requestCounts([], atQuiet),
      apiserver: auditCounts(audit, operator.username),
      reconciles: sumOf(atQuiet, "glance_store_operator_reconcile_total"),
      phaseSeconds: {
        openstack: sumOf(atQuiet, "glance_store_operator_reconcile_phase_seconds_sum", { phase: "openstack" }),
        apiserver: sumOf(atQuiet, "glance_store_operator_reconcile_phase_seconds_sum", { phase: "apiserver" }),
        operator: sumOf(atQuiet, "glance_store_operator_reconcile_phase_seconds_sum", { phase: "operator" }),
      },
      cpuSeconds: cpuAtQuiet,
      // VmHWM: the peak of the whole life of the process, idle round included.
      peakRssMB: operator.peakRssMB(),
      heapUsedMB: sumOf(atQuiet, "glance_store_operator_nodejs_heap_size_used_bytes") / 1e6,
      heapTotalMB: sumOf(atQuiet, "glance_store_operator_nodejs_heap_size_total_bytes") / 1e6,
      apiserverCpuSeconds: apiserverCpu,
      etcdCpuSeconds: etcdCpu,
      idle: idleRound,
    };
  } finally {
    await operator.stop();
  }
}

/**
 * From quiet, waits (not measured) until every target has been reconciled
 * once by its re-check, then until the operator is quiet again, and counts
 * what happened in between.
 */
async function runIdleRound(
  cluster: BenchCluster,
  operator: BenchOperator,
  plan: Layout,
  namespace: string,
  recheckPeriod: string,
  atQuiet: readonly Sample[],
  cpuAtQuiet: number,
  fromMs: number,
  log: (line: string) => void,
): Promise<IdleRound> {
  const keys = new Set(plan.targets.map((target) => `${namespace}/${target}`));
  const deadline = Date.now() + 2 * parseSeconds(recheckPeriod) * 1000 + 120_000;
  for (;;) {
    const seen = new Set((await operator.reconciles()).filter((r) => r.startMs > fromMs).map((r) => r.key));
    if ([...keys].every((key) => seen.has(key))) break;
    if (Date.now() > deadline) throw new Error(`the idle round did not reach every target: ${[...keys].filter((k) => !seen.has(k)).join(", ")}`);
    await delay(500);
  }
  await operator.idle(500);
  const toMs = Date.now();
  const after = await operator.metrics();
  const cpu = operator.cpuSeconds() - cpuAtQuiet;
  const records = (await operator.reconciles()).filter((r) => r.startMs > fromMs && r.endMs <= toMs);
  const audit: AuditEvent[] = await cluster.kube.readAuditLog();
  const writes = writesOf(auditCounts(audit, operator.username, { fromMs, toMs }));
  log(`idle round: ${records.length} reconciles, ${[...writes.values()].reduce((a, b) => a + b, 0)} writes`);
  return {
    recheckPeriod,
    reconciles: records.length,
    targetsReconciled: new Set(records.map((r) => r.key)).size,
    writes,
    requests: requestCounts(atQuiet, after),
    cpuSeconds: cpu,
    windowMs: toMs - fromMs,
  };
}

/** OpenStack requests between two scrapes (all of them when `before` is empty). */
function requestCounts(before: readonly Sample[], after: readonly Sample[]): RequestCounts {
  const byKind = deltaBy(before, after, "glance_store_operator_openstack_requests_total", "kind");
  const cinder = new Map<string, number>();
  for (const kind of ["types", "types-all", "default-type", "volumes", "unauthorized"]) {
    const value = byKind.get(kind);
    if (value !== undefined) cinder.set(kind, value);
  }
  return { keystoneAuths: byKind.get("auth") ?? 0, cinder };
}

function parseSeconds(duration: string): number {
  const match = /^(\d+)(s|m)$/.exec(duration);
  if (match === null) throw new Error(`use a duration like 30s or 2m, not ${duration}`);
  return Number(match[1]) * (match[2] === "m" ? 60 : 1);
}
