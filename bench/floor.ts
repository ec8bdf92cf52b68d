/**
 * Runs the floor (bench/floor-script.ts) right after a cold start of the
 * same size: the same stores, created fresh in a namespace of their own,
 * and the very bodies the operator wrote (statuses, ConfigMaps, Secrets)
 * copied from the cold start's namespace. The floor is a process of its
 * own, like the operator, and timed the same way: spawn to exit.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../src/api/glancestore.js";
import { OPTIONS } from "../src/cli/run.js";
import { configMapName, credentialsSecretName, FINALIZER } from "../src/controller/naming.js";
import type { BenchCluster } from "./cluster.js";
import type { FloorPlan } from "./floor-script.js";
import { auditCounts, writesOf } from "./measure.js";
import type { ColdStart } from "./scale.js";

const SCRIPT = fileURLToPath(new URL("./floor-script.js", import.meta.url));

export interface FloorResult {
  readonly label: string;
  readonly stores: number;
  readonly targets: number;
  readonly concurrency: number;
  /** Spawn to exit of the floor process. */
  readonly wallMs: number;
  /** First write to last, inside the process. */
  readonly writeMs: number;
  /** Its writes as the audit log has them. */
  readonly writes: ReadonlyMap<string, number>;
  /** The floor process's own CPU seconds and peak RSS, at its end. */
  readonly cpuSeconds: number;
  readonly peakRssMB: number;
}

export async function runFloor(cluster: BenchCluster, source: ColdStart, log: (line: string) => void): Promise<FloorResult> {
  const namespace = `bench-floor-${source.label}`;
  await cluster.namespace(namespace);
  await cluster.createStores(namespace, source.layout.stores);

  const list = (await cluster.custom.listNamespacedCustomObject({ group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_PLURAL, namespace: source.namespace })) as {
    items: { metadata: { name: string }; status?: unknown }[];
  };
  const statuses = new Map(list.items.map((item) => [item.metadata.name, item.status]));
  const targets: FloorPlan["targets"][number][] = [];
  for (const target of source.layout.targets) {
    const configMap = await cluster.core.readNamespacedConfigMap({ namespace: source.namespace, name: configMapName(target) });
    const secret = await cluster.core.readNamespacedSecret({ namespace: source.namespace, name: credentialsSecretName(target) });
    targets.push({
      configMap: { name: configMapName(target), labels: configMap.metadata?.labels ?? {}, data: configMap.data ?? {} },
      secret: { name: credentialsSecretName(target), labels: secret.metadata?.labels ?? {}, data: secret.data ?? {} },
      stores: source.layout.stores.filter((store) => store.target === target).map((store) => ({ name: store.name, status: statuses.get(store.name) ?? {} })),
    });
  }
  const concurrency = Number(OPTIONS.concurrency.default);
  const plan: FloorPlan = { namespace, concurrency, finalizer: FINALIZER, group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_PLURAL, targets };
  const planPath = join(cluster.stack.directory, `floor-${source.label}-plan.json`);
  const resultPath = join(cluster.stack.directory, `floor-${source.label}-result.json`);
  await writeFile(planPath, JSON.stringify(plan));

  const username = `bench-floor-${source.label}`;
  const kubeconfig = await cluster.kube.kubeconfigFor(username, ["system:masters", "system:serviceaccounts"]);
  const started = performance.now();
  const child = cluster.stack.supervisor.start({
    name: `floor-${source.label}`,
    command: process.execPath,
    args: [SCRIPT, "--kubeconfig", kubeconfig, "--plan", planPath, "--result", resultPath],
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/tmp" },
  });
  const exit = await child.exited;
  const wallMs = performance.now() - started;
  if (exit.code !== 0) throw new Error(`the floor script failed (${JSON.stringify(exit)}):\n${await child.logTail(40)}`);
  const result = JSON.parse(await readFile(resultPath, "utf8")) as { writeMs: number; writes: number; cpuSeconds: number; peakRssMB: number };
  const writes = writesOf(auditCounts(await cluster.kube.readAuditLog(), username));
  log(`${source.label} floor: ${(wallMs / 1000).toFixed(2)} s (${result.writes} writes in ${(result.writeMs / 1000).toFixed(2)} s)`);
  return { label: source.label, stores: source.stores, targets: source.targets, concurrency, wallMs, writeMs: result.writeMs, writes, cpuSeconds: result.cpuSeconds, peakRssMB: result.peakRssMB };
}
