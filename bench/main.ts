/**
 * `npm run bench`: the benchmark of issue 11 on the real local stack
 * (kube-apiserver + etcd, Keystone, Cinder), the operator run as its CLI.
 * Prints the tables and, with --out, writes them into docs/benchmarks.md.
 *
 * node dist/bench/main.js [--only latency,scale,floor,bystanders] [--sizes 1,100,1000,3000]
 *                         [--runs 50] [--recheck 30s] [--out docs/benchmarks.md]
 *
 * `floor` runs after the scale run of each size (it copies what the operator
 * wrote, and its ratio needs the operator's time), so it implies `scale`.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BenchCluster } from "./cluster.js";
import { createBystanders } from "./bystanders.js";
import { runFloor, type FloorResult } from "./floor.js";
import { runLatency, type LatencyResult } from "./latency.js";
import { operatorNodeOptions } from "./operator.js";
import { resultsMarkdown, writeReport, type Results } from "./report.js";
import { coldStart, type ColdStart } from "./scale.js";

const PARTS = ["latency", "scale", "floor", "bystanders"] as const;
type Part = (typeof PARTS)[number];

const { values } = parseArgs({
  options: {
    only: { type: "string", default: PARTS.join(",") },
    sizes: { type: "string", default: "1,100,1000,3000" },
    runs: { type: "string", default: "50" },
    recheck: { type: "string", default: "30s" },
    "bystander-stores": { type: "string", default: "1000" },
    out: { type: "string" },
  },
});
const only = new Set(values.only.split(",").map((part) => part.trim()) as Part[]);
for (const part of only) if (!PARTS.includes(part)) throw new Error(`--only takes ${PARTS.join(", ")}; not ${part}`);
const sizes = values.sizes.split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sizes takes positive integers: ${values.sizes}`);
const runs = Number(values.runs);
const bystanderStores = Number(values["bystander-stores"]);

const begun = performance.now();
const log = (line: string): void => {
  process.stderr.write(`[bench ${((performance.now() - begun) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};
// As typed: `npm run bench` passes its own `--out docs/benchmarks.md` first, then what followed `--`.
const args = process.argv.slice(2);
const viaNpm = process.env["npm_lifecycle_event"] === "bench" && args[0] === "--out" && args[1] === "docs/benchmarks.md";
const command = viaNpm ? ["npm run bench", ...(args.length > 2 ? ["--", ...args.slice(2)] : [])].join(" ") : ["node dist/bench/main.js", ...args].join(" ");
const startedAt = new Date();
const loadBefore = loadavg();

const cluster = await BenchCluster.start(log);
let latency: LatencyResult | undefined;
const scale: ColdStart[] = [];
const floors: FloorResult[] = [];
let bystanders: ColdStart | undefined;
try {
  log(`stack up in ${((performance.now() - begun) / 1000).toFixed(1)} s: ${cluster.credentialSets.length} credential sets, ${cluster.volumeTypes.length} volume types`);
  if (only.has("latency")) latency = await runLatency(cluster, { runs, log });
  if (only.has("scale") || only.has("floor")) {
    for (const count of sizes) {
      const run = await coldStart(cluster, { label: `n${count}`, namespace: `bench-scale-${count}`, count, recheckPeriod: values.recheck, idleRound: only.has("scale"), log });
      scale.push(run);
      if (only.has("floor")) floors.push(await runFloor(cluster, run, log));
    }
  }
  if (only.has("bystanders")) {
    const namespace = "bench-bystanders";
    bystanders = await coldStart(cluster, {
      label: "bystanders",
      namespace,
      count: bystanderStores,
      recheckPeriod: values.recheck,
      idleRound: false,
      prepare: () => createBystanders(cluster, namespace, log),
      log,
    });
  }
} finally {
  await cluster.stop();
}

const results: Results = {
  command,
  operatorNodeOptions: await operatorNodeOptions(),
  startedAt,
  durationMs: performance.now() - begun,
  loadBefore,
  loadAfter: loadavg(),
  binaries: cluster.stack.binaries,
  latency,
  scale,
  floors,
  bystanders,
};
process.stdout.write(`${resultsMarkdown(results)}\n`);
if (values.out !== undefined) {
  await writeReport(values.out, results);
  log(`wrote ${values.out}`);
}
