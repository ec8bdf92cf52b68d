/**
 * How long the local stack takes to come up and go down with warm caches,
 * for each half and for both (issue 2 asks for these figures). Median of
 * --runs starts each.
 * Run: npx tsc -p . && node dist/bench/stack-startup.js [--runs 3]
 */
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { startDevStack } from "../src/devstack/stack.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" } } });
const runs = Number(values.runs);
const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN);

const report: Record<string, { startMs: number; stopMs: number }> = {};
for (const [name, options] of [
  ["kube", { kube: true, openstack: false }],
  ["openstack", { kube: false, openstack: true }],
  ["both", { kube: true, openstack: true }],
] as const) {
  const starts: number[] = [];
  const stops: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const stack = await startDevStack(options);
    const up = performance.now();
    await stack.stop();
    starts.push(up - started);
    stops.push(performance.now() - up);
  }
  report[name] = { startMs: median(starts), stopMs: median(stops) };
}
process.stdout.write(`${JSON.stringify({ runs, ...report }, null, 2)}\n`);
