/**
 * The operator as the e2e tests run it: `glance-store-operator run` (the
 * real CLI) as a child process of the stack, metrics over plain HTTP on
 * loopback, here with a client certificate of its own so the audit log
 * tells its requests from the bench's.
 */
import { readFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ManagedProcess } from "../src/devstack/processes.js";
import { imageNodeOptions } from "../src/devstack/image.js";
import { waitFor } from "../src/devstack/wait.js";
import type { BenchCluster } from "./cluster.js";
import { cpuSeconds, parseMetrics, peakRssMB, reconcileRecords, sumOf, type ReconcileRecord, type Sample } from "./measure.js";

export const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

/**
 * The NODE_OPTIONS the image runs the operator with (the Dockerfile's ENV),
 * so the benchmark measures what a cluster runs; BENCH_OPERATOR_NODE_OPTIONS
 * replaces it to try other V8 settings.
 */
export async function operatorNodeOptions(): Promise<string> {
  const override = process.env["BENCH_OPERATOR_NODE_OPTIONS"];
  if (override !== undefined) return override;
  return imageNodeOptions(fileURLToPath(new URL("../../", import.meta.url)));
}

/** The flags every benchmark run passes besides its own; the rest are the CLI's defaults (e.g. --concurrency 4). */
export function operatorFlags(options: { kubeconfig: string; namespace: string; recheckPeriod: string; metricsPort: number; healthPort: number }): string[] {
  return [
    "run",
    `--kubeconfig=${options.kubeconfig}`,
    `--namespaces=${options.namespace}`,
    `--recheck-period=${options.recheckPeriod}`,
    // Watches Deployments and StatefulSets too: the bystanders' Deployments then cost what they can cost.
    "--rollout-workloads=true",
    `--metrics-address=127.0.0.1:${options.metricsPort}`,
    "--metrics-secure=false",
    `--health-address=127.0.0.1:${options.healthPort}`,
    // The phase split and the per-target accounting of a round read the "reconcile phases" debug lines.
    "--log-level=debug",
  ];
}

export class BenchOperator {
  private constructor(
    readonly process: ManagedProcess,
    /** The user its client certificate names, as the audit log records it. */
    readonly username: string,
    readonly metricsUrl: string,
    readonly healthUrl: string,
    /** Date.now() just before it was spawned. */
    readonly spawnedAtMs: number,
    readonly spawnedAt: number,
  ) {}

  /** Spawns it and returns at once (a cold start is timed from here). */
  static async spawn(cluster: BenchCluster, options: { name: string; namespace: string; recheckPeriod: string }): Promise<BenchOperator> {
    const username = `bench-operator-${options.name}`;
    // system:masters for permission; system:serviceaccounts so the audit policy records its reads as well as its writes.
    const kubeconfig = await cluster.kube.kubeconfigFor(username, ["system:masters", "system:serviceaccounts"]);
    const metricsPort = await cluster.stack.ports.allocate();
    const healthPort = await cluster.stack.ports.allocate();
    const spawnedAtMs = Date.now();
    const spawnedAt = performance.now();
    const child = cluster.stack.supervisor.start({
      name: `operator-${options.name}`,
      command: process.execPath,
      args: [CLI, ...operatorFlags({ kubeconfig, namespace: options.namespace, recheckPeriod: options.recheckPeriod, metricsPort, healthPort })],
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        HOME: process.env["HOME"] ?? "/tmp",
        NODE_OPTIONS: await operatorNodeOptions(),
      },
    });
    return new BenchOperator(child, username, `http://127.0.0.1:${metricsPort}`, `http://127.0.0.1:${healthPort}`, spawnedAtMs, spawnedAt);
  }

  get pid(): number {
    return this.process.pid;
  }

  async waitHealthy(): Promise<void> {
    await waitFor(async () => ((await fetch(`${this.healthUrl}/readyz`)).ok ? true : undefined), {
      what: `the operator ${this.process.name} to be ready`,
      timeoutMs: 120_000,
      intervalMs: 100,
      abortIf: () => (this.process.exitInfo() ? `it exited: ${JSON.stringify(this.process.exitInfo())}` : undefined),
    });
  }

  async metrics(): Promise<Sample[]> {
    return parseMetrics(await (await fetch(`${this.metricsUrl}/metrics`)).text());
  }

  /**
   * Waits (not measured) until nothing is queued or running, twice in a row
   * 50 ms apart, after `settleMs` for events still under way to arrive.
   */
  async idle(settleMs = 150): Promise<void> {
    await delay(settleMs);
    let quiet = 0;
    const deadline = Date.now() + 600_000;
    while (quiet < 2) {
      if (Date.now() > deadline) throw new Error(`the operator ${this.process.name} never went idle`);
      const samples = await this.metrics();
      const busy = sumOf(samples, "glance_store_operator_workqueue_depth") + sumOf(samples, "glance_store_operator_workqueue_in_flight");
      quiet = busy === 0 ? quiet + 1 : 0;
      await delay(50);
    }
  }

  async reconciles(): Promise<ReconcileRecord[]> {
    return reconcileRecords(await readFile(this.process.logFile, "utf8"));
  }

  cpuSeconds(): number {
    return cpuSeconds(this.pid);
  }

  peakRssMB(): number {
    return peakRssMB(this.pid);
  }

  async stop(): Promise<void> {
    await this.process.stop(20_000);
  }
}
