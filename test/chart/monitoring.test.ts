/**
 * The chart's Grafana dashboard and alerts name only metrics the operator
 * really exports: every PromQL expression is parsed with Prometheus' own
 * grammar (@prometheus-io/lezer-promql, the one of its web UI), and every
 * metric it selects must be registered by OperatorMetrics (histograms as
 * their _bucket, _sum and _count series). docs/operations.md lists the same
 * metrics.
 */
import test from "ava";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { Registry } from "prom-client";
import { parseAllDocuments } from "yaml";
import { ensureDevBinaries } from "../../src/devstack/binaries.js";
import { runCommand } from "../../src/devstack/command.js";
import { METRIC_PREFIX, OperatorMetrics } from "../../src/runtime/metrics.js";

const CHART = fileURLToPath(new URL("../../../charts/glance-store-operator", import.meta.url));
const OPERATIONS = fileURLToPath(new URL("../../../docs/operations.md", import.meta.url));

/** Every series name the operator exposes, as Prometheus sees them. */
async function exportedSeries(): Promise<Set<string>> {
  const registry = new Registry();
  new OperatorMetrics(registry);
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (String(metric.type) === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
    else names.add(metric.name);
  }
  return names;
}

/** The metrics an expression selects; throws on a syntax error. Grafana's variables are replaced first. */
function selectedMetrics(expr: string): string[] {
  const promql = expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m").replaceAll("$__range", "1h");
  const tree = parser.parse(promql);
  const metrics: string[] = [];
  const errors: string[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) errors.push(`at ${cursor.from}: ${JSON.stringify(promql.slice(Math.max(0, cursor.from - 20), cursor.to + 20))}`);
    if (cursor.name === "VectorSelector") {
      const child = cursor.node.getChild("Identifier");
      if (child !== null) metrics.push(promql.slice(child.from, child.to));
    }
  } while (cursor.next());
  if (errors.length > 0) throw new Error(`not PromQL (${errors.join("; ")}): ${expr}`);
  return metrics;
}

test("the grammar finds metric names and refuses broken PromQL (the checker's own test)", (t) => {
  t.deepEqual(selectedMetrics('sum by (le) (rate(a_bucket{x="1"}[$__rate_interval])) / sum(b) or absent(c{y="z"})'), ["a_bucket", "b", "c"]);
  t.throws(() => selectedMetrics("sum(rate(a[5m])"), { message: /not PromQL/ });
  t.throws(() => selectedMetrics('a{x="1"'), { message: /not PromQL/ });
});

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string; query?: unknown }[] };
}

async function dashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(`${CHART}/dashboards/glance-store-operator.json`, "utf8")) as Dashboard;
}

function queries(board: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) out.push({ where: `panel ${JSON.stringify(panel.title)}`, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(board.panels);
  return out;
}

test("every query of the Grafana dashboard is PromQL and names only metrics the operator exports", async (t) => {
  const exported = await exportedSeries();
  const board = await dashboard();
  const all = queries(board);
  t.true(all.length >= 15, `${all.length} queries`);
  const used = new Set<string>();
  for (const { where, expr } of all) {
    const metrics = selectedMetrics(expr);
    t.true(metrics.length > 0, `${where} selects no metric: ${expr}`);
    for (const metric of metrics) {
      t.true(exported.has(metric), `${where}: ${metric} is not exported by the operator`);
      used.add(metric);
    }
  }
  // The variables' label_values(metric, label) too.
  for (const variable of board.templating.list.filter((v) => v.type === "query")) {
    const metric = /label_values\((\w+),/.exec(variable.definition ?? "")?.[1];
    t.truthy(metric, `variable ${variable.name}`);
    t.true(exported.has(metric!), `variable ${variable.name}: ${metric} is not exported`);
  }
  // What the dashboard is for: store readiness per target, reconcile latency, OpenStack requests and refusals.
  for (const wanted of [
    "glance_store_operator_stores",
    "glance_store_operator_reconcile_duration_seconds_bucket",
    "glance_store_operator_openstack_requests_total",
    "glance_store_operator_keystone_refusals_total",
    "glance_store_operator_credentials_refused_stores",
  ]) {
    t.true(used.has(wanted), `the dashboard shows ${wanted}`);
  }
  t.true(all.some(({ expr }) => /by \(target, state\)/.test(expr) && expr.includes("glance_store_operator_stores")), "readiness per target");
});

test("every panel reads the data source variable, so the dashboard works with any Prometheus", async (t) => {
  const board = await dashboard();
  t.is(board.uid, "glance-store-operator");
  t.truthy(board.templating.list.find((v) => v.name === "datasource" && v.type === "datasource"));
  const raw = await readFile(`${CHART}/dashboards/glance-store-operator.json`, "utf8");
  const uids = [...raw.matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]).filter((uid) => uid !== "glance-store-operator");
  t.true(uids.length > 0);
  t.true(uids.every((uid) => uid === "${datasource}"), JSON.stringify([...new Set(uids)]));
});

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  annotations: Record<string, string>;
}

async function alertRules(): Promise<AlertRule[]> {
  const { helm } = await ensureDevBinaries();
  const { stdout } = await runCommand(helm, ["template", "gso", CHART, "--namespace", "gso-system", "--set", "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"], { timeoutMs: 120_000 });
  const rule = parseAllDocuments(stdout)[0]!.toJSON() as { spec: { groups: { rules: AlertRule[] }[] } };
  return rule.spec.groups.flatMap((group) => group.rules);
}

test("every alert expression is PromQL and names only metrics the operator exports; its annotations use only labels it keeps", async (t) => {
  const exported = await exportedSeries();
  const rules = await alertRules();
  t.true(rules.length >= 4);
  for (const rule of rules) {
    const metrics = selectedMetrics(rule.expr);
    t.true(metrics.length > 0, rule.alert);
    for (const metric of metrics) t.true(exported.has(metric), `${rule.alert}: ${metric} is not exported by the operator`);
    if (rule.for !== undefined) t.regex(rule.for, /^[0-9]+(s|m|h|d)$/, rule.alert);
    // {{ $labels.x }} in an annotation must be a label the expression's result has.
    const kept = new Set(/by \(([^)]*)\)/.exec(rule.expr)?.[1]?.split(",").map((label) => label.trim()) ?? []);
    if (rule.expr.includes('"store_namespace"')) kept.add("store_namespace");
    for (const text of Object.values(rule.annotations)) {
      for (const match of text.matchAll(/\$labels\.(\w+)/g)) t.true(kept.has(match[1]!), `${rule.alert}: $labels.${match[1]} is not in the alert's labels`);
    }
  }
});

test("docs/operations.md lists every metric the operator exports, and no other", async (t) => {
  const registry = new Registry();
  new OperatorMetrics(registry);
  const exported = (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
  const doc = await readFile(OPERATIONS, "utf8");
  const listed = [...doc.matchAll(/^\| `(glance_store_operator_\w+)` \|/gm)].map((match) => match[1]!).sort();
  t.true(exported.every((name) => name.startsWith(METRIC_PREFIX)));
  t.deepEqual(listed, exported);
});
