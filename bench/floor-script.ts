/**
 * The floor: only the writes a cold start cannot avoid, with the client
 * library the operator uses and its keep-alive connections, against the same apiserver. Per target (as
 * many targets at once as the operator's default --concurrency): one
 * finalizer merge patch per store, one Secret create, one ConfigMap
 * create, one status merge patch per store, in the operator's order. The
 * bodies are prepared beforehand by bench/floor.ts (copies of what the
 * operator wrote): this process reads no object and decides nothing.
 *
 * node dist/bench/floor-script.js --kubeconfig K --plan plan.json --result result.json
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeClient, MERGE_PATCH } from "../src/kube/client.js";

export interface FloorPlan {
  readonly namespace: string;
  readonly concurrency: number;
  readonly finalizer: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly targets: readonly {
    readonly configMap: { readonly name: string; readonly labels: Record<string, string>; readonly data: Record<string, string> };
    readonly secret: { readonly name: string; readonly labels: Record<string, string>; readonly data: Record<string, string> };
    readonly stores: readonly { readonly name: string; readonly status: unknown }[];
  }[];
}

const { values } = parseArgs({ options: { kubeconfig: { type: "string" }, plan: { type: "string" }, result: { type: "string" } } });
if (values.kubeconfig === undefined || values.plan === undefined || values.result === undefined) throw new Error("usage: floor-script --kubeconfig K --plan P --result R");
const plan = JSON.parse(readFileSync(values.plan, "utf8")) as FloorPlan;
// The operator's own apiserver client (src/kube/), with its keep-alive pool: the floor pays no cost the operator does not.
const kube = await KubeClient.load({ kubeconfig: values.kubeconfig });
const { namespace, group, version, plural } = plan;
const storePath = (name: string): string => `/apis/${group}/${version}/namespaces/${namespace}/${plural}/${name}`;

const started = performance.now();
let writes = 0;
let next = 0;
const worker = async (): Promise<void> => {
  while (next < plan.targets.length) {
    const target = plan.targets[next++];
    if (target === undefined) return;
    for (const store of target.stores) {
      await kube.request({ method: "PATCH", path: storePath(store.name), body: { metadata: { finalizers: [plan.finalizer] } }, contentType: MERGE_PATCH });
      writes++;
    }
    await kube.request({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: { apiVersion: "v1", kind: "Secret", metadata: { name: target.secret.name, namespace, labels: target.secret.labels }, type: "Opaque", data: target.secret.data },
    });
    await kube.request({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: target.configMap.name, namespace, labels: target.configMap.labels }, data: target.configMap.data },
    });
    writes += 2;
    for (const store of target.stores) {
      await kube.request({ method: "PATCH", path: `${storePath(store.name)}/status`, body: { status: store.status }, contentType: MERGE_PATCH });
      writes++;
    }
  }
};
await Promise.all(Array.from({ length: Math.min(plan.concurrency, plan.targets.length) }, () => worker()));
const writeMs = performance.now() - started;
const cpu = process.cpuUsage();
const peak = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
writeFileSync(values.result, JSON.stringify({ writeMs, writes, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMB: (Number(peak?.[1]) * 1024) / 1e6 }));
