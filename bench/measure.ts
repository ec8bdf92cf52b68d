/**
 * What the benchmark reads off a running process and the stack: peak RSS
 * and CPU seconds from /proc, the operator's Prometheus metrics, its
 * "reconcile phases" debug lines, the apiserver's audit log, and
 * percentiles.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { AuditEvent } from "../src/devstack/kube.js";

let clockTicks: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`), which /proc/<pid>/stat counts CPU time in. */
export function clockTicksPerSecond(): number {
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  if (!Number.isFinite(clockTicks) || clockTicks <= 0) throw new Error(`getconf CLK_TCK answered ${clockTicks}`);
  return clockTicks;
}

/** User plus system CPU seconds the process has used so far (utime + stime of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicksPerSecond();
}

/** The process's peak resident set size so far, in MB of 10^6 bytes (VmHWM of /proc/<pid>/status, which counts KiB). */
export function peakRssMB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return (Number(match[1]) * 1024) / 1e6;
}

/** One Prometheus sample: name, labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The text exposition format, as prom-client writes it (no escapes beyond \" \\ \n in label values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, "$1");
    samples.push({ name: match[1] as string, labels, value: Number(match[4]) });
  }
  return samples;
}

/** The sum of every sample named `name` whose labels include `where`. */
export function sumOf(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(where).every(([key, value]) => sample.labels[key] === value)) total += sample.value;
  }
  return total;
}

/** Counter values by one label, as `after - before`. */
export function deltaBy(before: readonly Sample[], after: readonly Sample[], name: string, label: string, where: Readonly<Record<string, string>> = {}): Map<string, number> {
  const values = (samples: readonly Sample[]): Map<string, number> => {
    const out = new Map<string, number>();
    for (const sample of samples) {
      if (sample.name !== name) continue;
      if (!Object.entries(where).every(([key, value]) => sample.labels[key] === value)) continue;
      const key = sample.labels[label] ?? "";
      out.set(key, (out.get(key) ?? 0) + sample.value);
    }
    return out;
  };
  const a = values(before);
  const b = values(after);
  const delta = new Map<string, number>();
  for (const [key, value] of b) {
    const d = value - (a.get(key) ?? 0);
    if (d !== 0) delta.set(key, d);
  }
  return delta;
}

/** The operator's "reconcile phases" debug line: one reconcile of one target, and where its time went. */
export interface ReconcileRecord {
  readonly key: string;
  /** Epoch ms when it ended (the line's time) and when it started (ended minus the three phases). */
  readonly endMs: number;
  readonly startMs: number;
  readonly openstackMs: number;
  readonly apiserverMs: number;
  readonly operatorMs: number;
}

/** Every "reconcile phases" line of a pino JSON log (isoTime timestamps). */
export function reconcileRecords(log: string): ReconcileRecord[] {
  const records: ReconcileRecord[] = [];
  for (const line of log.split("\n")) {
    if (!line.includes('"reconcile phases"')) continue;
    let entry: { time?: string; msg?: string; key?: string; openstackMs?: number; apiserverMs?: number; operatorMs?: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.msg !== "reconcile phases" || entry.key === undefined || entry.time === undefined) continue;
    const openstackMs = entry.openstackMs ?? 0;
    const apiserverMs = entry.apiserverMs ?? 0;
    const operatorMs = entry.operatorMs ?? 0;
    const endMs = Date.parse(entry.time);
    records.push({ key: entry.key, endMs, startMs: endMs - openstackMs - apiserverMs - operatorMs, openstackMs, apiserverMs, operatorMs });
  }
  return records;
}

/** Requests of one user in the audit log, counted by `verb resource[/subresource]`. */
export function auditCounts(events: readonly AuditEvent[], username: string, window: { fromMs?: number; toMs?: number } = {}): Map<string, number> {
  const counts = new Map<string, number>();
  const seen = new Set<string>();
  for (const event of events) {
    if (event.user.username !== username) continue;
    // One line per completed request (ResponseComplete), or ResponseStarted for a watch: count each auditID once.
    if (seen.has(event.auditID)) continue;
    seen.add(event.auditID);
    const at = Date.parse(event.requestReceivedTimestamp);
    if (window.fromMs !== undefined && at < window.fromMs) continue;
    if (window.toMs !== undefined && at > window.toMs) continue;
    const resource = event.objectRef?.resource ?? "?";
    const what = `${event.verb} ${resource}${event.objectRef?.subresource ? `/${event.objectRef.subresource}` : ""}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return counts;
}

export const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

/** The writes among audit counts (`verb resource` keys). */
export function writesOf(counts: ReadonlyMap<string, number>): Map<string, number> {
  return new Map([...counts].filter(([what]) => WRITE_VERBS.has(what.split(" ")[0] ?? "")));
}

export function total(counts: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const value of counts.values()) sum += value;
  return sum;
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
}
