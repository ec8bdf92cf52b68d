/**
 * The results as markdown: the machine, the command, the tables and the
 * issue's targets met or missed. `writeReport` replaces the generated part
 * of docs/benchmarks.md (between the two markers) and keeps the rest, which
 * people write.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { cpus, release, totalmem } from "node:os";
import type { DevBinaries } from "../src/devstack/binaries.js";
import { BYSTANDERS } from "./bystanders.js";
import type { FloorResult } from "./floor.js";
import { stat, type LatencyResult, type RunSplit } from "./latency.js";
import { total, writesOf } from "./measure.js";
import { peerCounts } from "./peers.js";
import type { ColdStart } from "./scale.js";
import { counts, get, markdownTable, ms, ratio, seconds } from "./table.js";

export const BEGIN = "<!-- bench:results:begin (written by `npm run bench`; edit outside these markers) -->";
export const END = "<!-- bench:results:end -->";

export interface Results {
  readonly command: string;
  /** What the operator processes ran with (the image's NODE_OPTIONS unless overridden). */
  readonly operatorNodeOptions: string;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly binaries: DevBinaries | undefined;
  readonly latency: LatencyResult | undefined;
  readonly scale: readonly ColdStart[];
  readonly floors: readonly FloorResult[];
  readonly bystanders: ColdStart | undefined;
}

export function machine(results: Results): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? "unknown";
  const packages = ["keystone", "cinder-api", "python3-glance-store"].map((name) => {
    try {
      return `${name} ${execFileSync("dpkg-query", ["-W", "-f", "${Version}", name], { encoding: "utf8" }).trim()}`;
    } catch {
      return `${name} ?`;
    }
  });
  // Cached as <cache>/bin/<name>-<version>-<flags hash>/<name>.
  const binary = (path: string | undefined): string => {
    const match = path === undefined ? null : /^(.+)-(v[^-]+)-[0-9a-f]+$/.exec(basename(dirname(path)));
    return match === null ? (path === undefined ? "?" : basename(path)) : `${match[1]} ${match[2]}`;
  };
  const load = (values: readonly number[]): string => values.map((v) => v.toFixed(2)).join(", ");
  return [
    `- **When**: ${results.startedAt.toISOString()}, ${(results.durationMs / 60_000).toFixed(1)} min in all`,
    `- **Command**: \`${results.command}\`; the operator runs as the image runs it, with \`NODE_OPTIONS=${results.operatorNodeOptions}\``,
    `- **Machine**: ${cores.length} cores (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, Node.js ${process.version}`,
    `- **Stack** (all on 127.0.0.1): ${binary(results.binaries?.kubeApiserver)}, ${binary(results.binaries?.etcd)} (\`--unsafe-no-fsync\`), audit log on (blocking); ${packages.join(", ")} under uWSGI, PostgreSQL`,
    `- **Load average** (1, 5, 15 min) before: ${load(results.loadBefore)}; after: ${load(results.loadAfter)}. The machine is shared with other work: figures are from a noisy machine, read them as orders of magnitude and ratios, not to the millisecond.`,
  ].join("\n");
}

function splitRow(what: string, runs: readonly RunSplit[]): string[] {
  const cell = (pick: (r: RunSplit) => number): string => {
    const s = stat(runs.map(pick));
    return `${ms(s.p50)} / ${ms(s.p95)}`;
  };
  return [what, String(runs.length), cell((r) => r.wallMs), cell((r) => r.openstackMs), cell((r) => r.apiserverMs), cell((r) => r.operatorMs), cell((r) => r.outsideMs), String(stat(runs.map((r) => r.reconciles)).p50)];
}

export function latencySection(latency: LatencyResult): string {
  return [
    "### Latency (one store, operator warm)",
    "",
    `p50 / p95 in ms over ${latency.runs} runs each. Creates run on a target of 1 to ${latency.storesInTarget - 1} stores, updates on one of ${latency.storesInTarget}: a reconcile decides and renders the whole target. Each column is its own percentile, so the parts do not add up to the wall time. The three middle columns are the phases of the reconciles from the apply up to the first one that wrote; that reconcile can go on after the status write the bench sees (the target's other statuses, the rollout), so they can exceed the wall time, and *outside* (wall minus the three, at least 0) is then 0.`,
    "",
    markdownTable(
      ["Change", "Runs", "Wall: apply to Ready and rendered", "Waiting on OpenStack", "Waiting on the apiserver (writes)", "Operator's own", "Outside the reconciles", "Reconciles per change (p50)"],
      [splitRow("create a store (apply to Ready=True and its `[id]` in the ConfigMap)", latency.create), splitRow("update `spec.description` (to Ready=True at the new generation and the new description in the ConfigMap)", latency.update)],
    ),
  ].join("\n");
}

function writes(run: ColdStart, resource: string): number {
  let n = 0;
  for (const [what, count] of run.apiserver) {
    const [verb, res] = what.split(" ");
    if (res === resource && ["create", "update", "patch", "delete"].includes(verb ?? "")) n += count;
  }
  return n;
}

function reads(run: ColdStart): number {
  let n = 0;
  for (const [what, count] of run.apiserver) if (["get", "list", "watch"].includes(what.split(" ")[0] ?? "")) n += count;
  return n;
}

function storesText(n: number): string {
  return `${n} ${n === 1 ? "store" : "stores"}`;
}

function cinderCell(map: ReadonlyMap<string, number>): string {
  return `${total(map)} (${counts(map)})`;
}

export function scaleSection(scale: readonly ColdStart[], floors: readonly FloorResult[]): string {
  const floorOf = (run: ColdStart): FloorResult | undefined => floors.find((f) => f.label === run.label);
  const timeRows = scale.map((run) => {
    const floor = floorOf(run);
    return [
      String(run.stores),
      `${run.targets} / ${run.credentialSets}`,
      seconds(run.readyzMs),
      seconds(run.convergeMs),
      floor === undefined ? "n/a" : `${seconds(floor.wallMs)} (writes ${seconds(floor.writeMs)})`,
      floor === undefined ? "n/a" : ratio(run.convergeMs / floor.wallMs),
      String(run.reconciles),
      `${run.phaseSeconds.openstack.toFixed(2)} / ${run.phaseSeconds.apiserver.toFixed(2)} / ${run.phaseSeconds.operator.toFixed(2)}`,
      `${run.cpuSeconds.toFixed(2)} / ${floor === undefined ? "n/a" : floor.cpuSeconds.toFixed(2)}`,
      `${run.peakRssMB.toFixed(0)} / ${floor === undefined ? "n/a" : floor.peakRssMB.toFixed(0)}`,
      `${run.heapUsedMB.toFixed(0)} / ${run.heapTotalMB.toFixed(0)}`,
      `${run.apiserverCpuSeconds.toFixed(1)} / ${run.etcdCpuSeconds.toFixed(1)}`,
    ];
  });
  const requestRows = scale.map((run) => {
    const floor = floorOf(run);
    return [
      String(run.stores),
      String(run.requests.keystoneAuths),
      cinderCell(run.requests.cinder),
      String(writes(run, "configmaps")),
      String(writes(run, "secrets")),
      String(writes(run, "glancestores/status")),
      String(writes(run, "glancestores")),
      String(writes(run, "events")),
      String(reads(run)),
      `${total(writesOf(run.apiserver))} / ${floor === undefined ? "n/a" : total(floor.writes)}`,
    ];
  });
  const idleRows = scale.flatMap((run) =>
    run.idle === undefined
      ? []
      : [
          [
            String(run.stores),
            run.idle.recheckPeriod,
            `${run.idle.reconciles} (${run.idle.targetsReconciled} of ${run.targets} targets)`,
            String(total(run.idle.writes)) + (total(run.idle.writes) === 0 ? "" : ` (${counts(run.idle.writes)})`),
            String(run.idle.requests.keystoneAuths),
            cinderCell(run.idle.requests.cinder),
            run.idle.cpuSeconds.toFixed(2),
          ],
        ],
  );
  return [
    "### Scale: cold start",
    "",
    "The stores and their Secrets exist before the operator starts; times run from the spawn of the operator process. *Converged*: a GlanceStore watch has seen every store Ready=True for its generation (Ready is written after the target's ConfigMap and Secret). *Floor*: the unavoidable writes of the same cold start by a minimal script (below), spawn to exit; the ratio is *converged* / *floor*. *Phases* are summed over reconciles (4 run at once, so they can exceed the wall time). CPU, RSS and the counts cover spawn until the operator is quiet after convergence.",
    "",
    markdownTable(
      ["Stores", "Targets / credential sets", "/readyz (s)", "Converged (s)", "Floor (s)", "Operator / floor", "Reconciles", "Phases: OpenStack / apiserver / own (s)", "CPU (s): operator / floor", "Peak RSS (MB): operator / floor", "Operator's V8 heap at quiet (MB): used / total", "kube-apiserver / etcd CPU (s), operator's span"],
      timeRows,
    ),
    "",
    "Requests of the same cold starts: OpenStack ones from `glance_store_operator_openstack_requests_total`, apiserver ones from the audit log (the operator runs with a client certificate of its own).",
    "",
    markdownTable(
      ["Stores", "Keystone authentications", "Cinder requests (by kind)", "ConfigMap writes", "Secret writes", "Status writes", "Finalizer writes", "Events", "apiserver reads (list, watch, get)", "All writes: operator / floor"],
      requestRows,
    ),
    "",
    "### Scale: one idle re-check round",
    "",
    "After the cold start, once the operator is quiet: until every target has been re-checked once, and the operator is quiet again.",
    "",
    markdownTable(["Stores", "Re-check period", "Reconciles", "apiserver writes", "Keystone authentications", "Cinder requests (by kind)", "Operator CPU (s)"], idleRows),
  ].join("\n");
}

export function bystanderSection(bystanders: ColdStart, alone: ColdStart | undefined): string {
  const row = (what: string, run: ColdStart): string[] => [
    what,
    seconds(run.readyzMs),
    seconds(run.convergeMs),
    run.peakRssMB.toFixed(0),
    `${run.heapUsedMB.toFixed(0)} / ${run.heapTotalMB.toFixed(0)}`,
    run.cpuSeconds.toFixed(2),
    String(reads(run)),
    String(run.requests.keystoneAuths),
    String(total(run.requests.cinder)),
  ];
  const rows = [...(alone === undefined ? [] : [row(`${alone.stores} stores alone (the scale run)`, alone)]), row(`${bystanders.stores} stores + bystanders`, bystanders)];
  if (alone !== undefined) {
    const change = (a: number, b: number): string => `${b - a >= 0 ? "+" : ""}${(((b - a) / a) * 100).toFixed(0)} %`;
    rows.push(["change", change(alone.readyzMs, bystanders.readyzMs), change(alone.convergeMs, bystanders.convergeMs), change(alone.peakRssMB, bystanders.peakRssMB), change(alone.heapUsedMB, bystanders.heapUsedMB), change(alone.cpuSeconds, bystanders.cpuSeconds), "", "", ""]);
  }
  return [
    "### Bystanders",
    "",
    `The same cold start in a namespace that also holds ${BYSTANDERS.secrets} Secrets (${BYSTANDERS.largeSecrets} of them ${BYSTANDERS.largeSecretBytes / 1024} KB, shaped like Helm release Secrets), ${BYSTANDERS.configMaps} ConfigMaps and ${BYSTANDERS.deployments} Deployments, none of them the operator's.`,
    "",
    markdownTable(["Run", "/readyz (s)", "Converged (s)", "Peak RSS (MB)", "V8 heap at quiet (MB): used / total", "Operator CPU (s)", "apiserver reads", "Keystone authentications", "Cinder requests"], rows),
  ].join("\n");
}

export function peersSection(scale: readonly ColdStart[]): string {
  const rows: string[][] = [];
  for (const run of scale) {
    const types = (map: ReadonlyMap<string, number>): number => get(map, "types") + get(map, "types-all") + get(map, "default-type");
    rows.push([String(run.stores), "glance-store-operator (measured)", "cold start", String(run.requests.keystoneAuths), String(types(run.requests.cinder)), `plus ${get(run.requests.cinder, "volumes")} volume listings (image volumes, once per target per re-check period)`]);
    if (run.idle !== undefined) rows.push([String(run.stores), "glance-store-operator (measured)", `each re-check round (${run.idle.recheckPeriod} here, 5m by default)`, String(run.idle.requests.keystoneAuths), String(types(run.idle.requests.cinder)), `plus ${get(run.idle.requests.cinder, "volumes")} volume listings`]);
    for (const peer of peerCounts(run.stores, run.targets)) rows.push([String(run.stores), peer.who, peer.when, String(peer.keystoneAuths), String(peer.typeRequests), peer.note]);
  }
  return [
    "### Peers",
    "",
    "Volume-type checks beside the operator's. The peers' counts are read from their code (`bench/peers.ts` says where), not measured.",
    "",
    markdownTable(["Stores", "Who", "When", "Keystone authentications", "Cinder type requests", "Note"], rows),
  ].join("\n");
}

export function targetsSection(results: Results): string {
  const rows: string[][] = [];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? "not measured" : ok ? "met" : "**missed**");
  const latency = results.latency;
  if (latency !== undefined) {
    const wall = stat(latency.create.map((r) => r.wallMs)).p50;
    const own = stat(latency.create.map((r) => r.operatorMs)).p50;
    rows.push(["p50 apply-to-Ready ≤ 150 ms", `${ms(wall)} ms`, verdict(wall <= 150)]);
    rows.push(["of which the operator's own ≤ 20 ms", `${ms(own)} ms`, verdict(own <= 20)]);
  }
  for (const [stores, limit] of [
    [1000, 1.5],
    [3000, 2],
  ] as const) {
    const run = results.scale.find((r) => r.stores === stores);
    const floor = results.floors.find((f) => f.stores === stores && run !== undefined && f.label === run.label);
    const value = run !== undefined && floor !== undefined ? run.convergeMs / floor.wallMs : undefined;
    rows.push([`${stores} stores converge within ${limit}× the floor`, value === undefined ? "n/a" : ratio(value), verdict(value === undefined ? undefined : value <= limit)]);
  }
  for (const run of results.scale) {
    rows.push([`Keystone authentications = credential sets (${storesText(run.stores)}, cold start)`, `${run.requests.keystoneAuths} for ${run.credentialSets}`, verdict(run.requests.keystoneAuths === run.credentialSets)]);
  }
  for (const run of results.scale) {
    if (run.idle === undefined) continue;
    const lists = get(run.idle.requests.cinder, "types");
    // Every store uses the same Cinder endpoint here: one pair per credential set.
    rows.push([`Cinder type lists per round = (credential set, endpoint) pairs (${storesText(run.stores)})`, `${lists} for ${run.credentialSets}`, verdict(lists === run.credentialSets)]);
    rows.push([`idle round writes nothing (${storesText(run.stores)})`, String(total(run.idle.writes)), verdict(total(run.idle.writes) === 0)]);
  }
  const withBystanders = results.bystanders;
  rows.push(["peak RSS ≤ 150 MB with 1000 stores, bystanders included", withBystanders === undefined ? "n/a" : `${withBystanders.peakRssMB.toFixed(0)} MB`, verdict(withBystanders === undefined ? undefined : withBystanders.peakRssMB <= 150)]);
  return ["### The issue's targets", "", markdownTable(["Target", "Measured", ""], rows)].join("\n");
}

export function resultsMarkdown(results: Results): string {
  const alone = results.scale.find((run) => run.stores === results.bystanders?.stores);
  return [
    machine(results),
    targetsSection(results),
    ...(results.latency === undefined ? [] : [latencySection(results.latency)]),
    ...(results.scale.length === 0 ? [] : [scaleSection(results.scale, results.floors)]),
    ...(results.bystanders === undefined ? [] : [bystanderSection(results.bystanders, alone)]),
    ...(results.scale.length === 0 ? [] : [peersSection(results.scale)]),
  ].join("\n\n");
}

const SKELETON = `# Benchmarks

\`npm run bench\` runs the operator against the real local stack and writes the part below.

${BEGIN}
${END}
`;

/** Replaces the generated part of `path`, keeping what people wrote around it. */
export async function writeReport(path: string, results: Results): Promise<void> {
  const current = existsSync(path) ? await readFile(path, "utf8") : SKELETON;
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${path} lacks the markers ${BEGIN} ... ${END}`);
  await writeFile(path, `${current.slice(0, begin + BEGIN.length)}\n\n${resultsMarkdown(results)}\n\n${current.slice(end)}`);
}
