/**
 * The Helm chart: lint, template under several values, the RBAC it grants
 * equal to what the operator declares it needs (src/controller/rbac.ts),
 * and the arguments it passes accepted by `glance-store-operator run`.
 * test/chart/least-privilege.test.ts installs it into a real kube-apiserver
 * and runs the operator as its ServiceAccount with nothing more.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { resolveRunFlags } from "../../src/cli/run.js";
import { leaderElectionRules, MANAGER_RULES, METRICS_AUTH_RULES, METRICS_READER_RULES, ROLLOUT_RULES, type PolicyRule } from "../../src/controller/rbac.js";
import { ensureDevBinaries } from "../../src/devstack/binaries.js";
import { runCommand } from "../../src/devstack/command.js";
import { E2E, isReady, NAMESPACE, unique } from "../e2e/support.js";

const CHART = fileURLToPath(new URL("../../../charts/glance-store-operator", import.meta.url));

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { name: string };
  spec?: { template?: { spec?: { containers?: { args?: string[] }[]; volumes?: unknown[] } } };
}

async function helm(args: string[]): Promise<string> {
  const { helm: path } = await ensureDevBinaries();
  return (await runCommand(path, args, { timeoutMs: 120_000 })).stdout;
}

async function template(set: string[] = []): Promise<Manifest[]> {
  const text = await helm(["template", "gso", CHART, "--namespace", "gso-system", ...set.flatMap((s) => ["--set", s])]);
  return parseAllDocuments(text)
    .map((doc) => doc.toJSON() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

const normalize = (rules: readonly PolicyRule[]) =>
  rules.map((r) => ({
    ...(r.apiGroups ? { apiGroups: [...r.apiGroups] } : {}),
    ...(r.resources ? { resources: [...r.resources].sort() } : {}),
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames].sort() } : {}),
    ...(r.nonResourceURLs ? { nonResourceURLs: [...r.nonResourceURLs].sort() } : {}),
    verbs: [...r.verbs].sort(),
  }));
const named = (docs: Manifest[], kind: string, name: string, namespace?: string): Manifest => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name && d.metadata.namespace === namespace);
  if (found === undefined) throw new Error(`no ${kind} ${namespace ?? ""}/${name} in ${docs.map((d) => `${d.kind} ${d.metadata.namespace ?? ""}/${d.metadata.name}`).join(", ")}`);
  return found;
};
const FULLNAME = "gso-glance-store-operator";

test("helm lint --strict passes", async (t) => {
  const out = await helm(["lint", "--strict", CHART]);
  t.regex(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test("by default: Roles in the watched namespace only, no permission on workloads, secure metrics, admission policies, two replicas with leader election", async (t) => {
  const docs = await template();
  t.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.namespace ?? ""}/${d.metadata.name}`).sort(), [
    `ClusterRole /${FULLNAME}-metrics-auth`,
    `ClusterRole /${FULLNAME}-metrics-reader`,
    `ClusterRoleBinding /${FULLNAME}-metrics-auth`,
    `Deployment gso-system/${FULLNAME}`,
    `PodDisruptionBudget gso-system/${FULLNAME}`,
    `Role gso-system/${FULLNAME}-leader-election`,
    `Role openstack/${FULLNAME}`,
    `RoleBinding gso-system/${FULLNAME}-leader-election`,
    `RoleBinding openstack/${FULLNAME}`,
    `Service gso-system/${FULLNAME}-metrics`,
    `ServiceAccount gso-system/${FULLNAME}`,
    `ValidatingAdmissionPolicy /${FULLNAME}-glancestores`,
    `ValidatingAdmissionPolicy /${FULLNAME}-rendered-objects`,
    `ValidatingAdmissionPolicyBinding /${FULLNAME}-glancestores`,
    `ValidatingAdmissionPolicyBinding /${FULLNAME}-rendered-objects`,
  ]);
  // No ClusterRole grants anything on Secrets, or on any namespaced resource at all.
  t.deepEqual(normalize(named(docs, "Role", FULLNAME, "openstack").rules!), normalize(MANAGER_RULES));
  t.deepEqual(normalize(named(docs, "Role", `${FULLNAME}-leader-election`, "gso-system").rules!), normalize(leaderElectionRules(FULLNAME)));
  t.deepEqual(normalize(named(docs, "ClusterRole", `${FULLNAME}-metrics-auth`).rules!), normalize(METRICS_AUTH_RULES));
  t.deepEqual(normalize(named(docs, "ClusterRole", `${FULLNAME}-metrics-reader`).rules!), normalize(METRICS_READER_RULES));
  t.false(docs.some((d) => d.rules?.some((r) => r.apiGroups?.includes("apps"))));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(args[0], "run");
  // The chart passes only flags the operator accepts.
  const flags = resolveRunFlags(args.slice(1), {});
  t.is(flags["leader-elect"], "true");
  t.is(flags["leader-election-namespace"], "gso-system");
  t.is(flags["leader-election-id"], FULLNAME);
  t.is(flags["metrics-address"], "0.0.0.0:8080");
  t.is(flags["metrics-secure"], "true");
  t.is(flags["metrics-cert-dir"], undefined);
  t.is(flags["rollout-workloads"], "false");
  t.is(flags.namespaces, "openstack");
  t.is(flags["auth-refusal-backoff"], "1h");
  t.is(flags["glance-store-version"], "4.1.0");
});

test("watchNamespaces: a Role per namespace; [] makes it cluster-wide with ClusterRoles and no --namespaces", async (t) => {
  const docs = await template(["watchNamespaces={openstack,glance-two}"]);
  t.false(docs.some((d) => d.kind === "ClusterRole" && d.rules?.some((r) => r.resources?.includes("secrets"))));
  const roles = docs.filter((d) => d.kind === "Role" && d.metadata.name === FULLNAME);
  t.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ["glance-two", "openstack"]);
  for (const role of roles) t.deepEqual(normalize(role.rules!), normalize(MANAGER_RULES));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {}).namespaces, "openstack,glance-two");

  const wide = await template(["watchNamespaces={}"]);
  t.deepEqual(normalize(named(wide, "ClusterRole", FULLNAME).rules!), normalize(MANAGER_RULES));
  t.is(named(wide, "ClusterRoleBinding", FULLNAME).roleRef?.name, FULLNAME);
  t.false(wide.some((d) => d.kind === "Role" && d.metadata.name === FULLNAME));
  const wideArgs = wide.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(wideArgs.slice(1), {}).namespaces, undefined);
});

test("rollout.enabled: the rollout rules next to the manager's, the workloads admission policy, and --rollout-workloads=true", async (t) => {
  const docs = await template(["rollout.enabled=true", "watchNamespaces={openstack,glance-two}"]);
  for (const namespace of ["openstack", "glance-two"]) {
    t.deepEqual(normalize(named(docs, "Role", `${FULLNAME}-rollout`, namespace).rules!), normalize(ROLLOUT_RULES));
    t.is(named(docs, "RoleBinding", `${FULLNAME}-rollout`, namespace).roleRef?.name, `${FULLNAME}-rollout`);
  }
  t.truthy(named(docs, "ValidatingAdmissionPolicy", `${FULLNAME}-workloads`));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {})["rollout-workloads"], "true");
  const wide = await template(["rollout.enabled=true", "watchNamespaces={}"]);
  t.deepEqual(normalize(named(wide, "ClusterRole", `${FULLNAME}-rollout`).rules!), normalize(ROLLOUT_RULES));
});

test("metrics.secure=false: plain HTTP on 127.0.0.1 only, no Service, no review permissions; certSecret mounts a certificate", async (t) => {
  const plain = await template(["metrics.secure=false"]);
  t.false(plain.some((d) => d.kind === "Service" || d.metadata.name.includes("metrics")));
  const args = plain.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  const flags = resolveRunFlags(args.slice(1), {});
  t.is(flags["metrics-address"], "127.0.0.1:8080");
  t.is(flags["metrics-secure"], "false");

  const mounted = await template(["metrics.certSecret=gso-metrics-tls"]);
  const deployment = mounted.find((d) => d.kind === "Deployment")!;
  const mountedArgs = deployment.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(mountedArgs.slice(1), {})["metrics-cert-dir"], "/etc/glance-store-operator/metrics-certs");
  t.deepEqual(deployment.spec!.template!.spec!.volumes, [{ name: "metrics-certs", secret: { secretName: "gso-metrics-tls" } }]);
});

test("without leader election: no Lease Role and --leader-elect=false; admissionPolicy.enabled=false: no policy", async (t) => {
  const docs = await template(["leaderElection.enabled=false", "replicaCount=1", "admissionPolicy.enabled=false"]);
  t.false(docs.some((d) => d.kind === "Role" && d.metadata.name.endsWith("-leader-election")));
  t.false(docs.some((d) => d.kind.startsWith("ValidatingAdmissionPolicy")));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {})["leader-elect"], "false");
});

test("deploy/glance-store-operator.yaml is the chart rendered with its defaults", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const committed = await readFile(fileURLToPath(new URL("../../../deploy/glance-store-operator.yaml", import.meta.url)), "utf8");
  const rendered = await helm(["template", "glance-store-operator", CHART, "--namespace", "glance-store-operator", "--include-crds"]);
  // Three header lines say where it comes from; the rest is helm's output, byte for byte.
  t.is(committed.split("\n").slice(3).join("\n"), rendered, "regenerate it with the command in its header");
});

test.serial("installed into a real apiserver: NOTES say what to do next; uninstalled, Glance keeps its files and a store its finalizer", async (t) => {
  const e2e = await E2E.start();
  try {
    const kube = e2e.kube;
    const install = await kube.helm(["install", "gso", CHART, "--namespace", "gso-system", "--create-namespace", "--skip-crds"]);
    t.regex(install.stdout, /STATUS: deployed/);
    // NOTES say what to do next: the Secret, the stores, the mount, where to look, how to upgrade and uninstall.
    for (const next of [/kubectl -n openstack create secret generic glance-cinder/, /kind: GlanceStore/, /\/etc\/glance\/glance\.conf\.d/, /glance\.stores\.dev\/target: glance-api/, /kubectl get gst -n openstack -o wide/, /kubectl describe gst/, /docs\/troubleshooting\.md/, /kubectl apply --server-side -f <new chart>\/crds\//, /Uninstalling/]) {
      t.regex(install.stdout, next);
    }
    const serviceAccount = (await kube.kubectl(["get", "serviceaccount", "-n", "gso-system", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.trim();
    t.is(serviceAccount, "gso-glance-store-operator");

    // A client certificate for the ServiceAccount's user name: RBAC treats it as that ServiceAccount.
    const kubeconfig = await kube.kubeconfigFor(`system:serviceaccount:gso-system:${serviceAccount}`, ["system:serviceaccounts", "system:serviceaccounts:gso-system"]);
    const denied = await kube.kubectl(["--kubeconfig", kubeconfig, "get", "pods", "-n", NAMESPACE], { allowFailure: true });
    t.regex(denied.stderr, /forbidden/);

    // Namespaced as the chart installs it by default: a Role in openstack only.
    const operator = await e2e.startOperator({ kubeconfig, leaderElect: true, leaderElectionNamespace: "gso-system", extraArgs: ["--namespaces=openstack", "--leader-election-id=gso-glance-store-operator"] });
    const type = await e2e.openstack.admin.createVolumeType(unique("chart"));
    await e2e.apply(e2e.store("charted", { volumeType: type.name, default: true }));
    const ready = await e2e.waitForStore("charted", "Ready under the chart's RBAC", isReady);
    t.true(ready.status?.rendered);
    t.truthy(await e2e.renderedFiles());

    // Uninstalled (and the operator gone), Glance keeps its files and the store its finalizer (docs/operations.md, Uninstalling).
    const uninstall = await kube.helm(["uninstall", "gso", "--namespace", "gso-system"]);
    t.regex(uninstall.stdout, /uninstalled/);
    await operator.process.stop();
    t.truthy(await e2e.renderedFiles(), "the rendered ConfigMap and Secret stay");
    t.deepEqual((await e2e.getStore("charted"))?.metadata.finalizers, ["glance.stores.dev/image-volumes"]);
    // Deleted with no operator: it waits (this is what keeps a namespace Terminating) ...
    await kube.kubectl(["delete", "glancestore", "charted", "-n", NAMESPACE, "--wait=false"]);
    t.truthy((await e2e.getStore("charted"))?.metadata.deletionTimestamp);
    // ... until the documented patch removes the finalizer; it refuses to remove any other one.
    const patch = (finalizer: string) => JSON.stringify([{ op: "test", path: "/metadata/finalizers/0", value: finalizer }, { op: "remove", path: "/metadata/finalizers/0" }]);
    const wrong = await kube.kubectl(["patch", "glancestore", "charted", "-n", NAMESPACE, "--type=json", "-p", patch("example.com/other")], { allowFailure: true });
    t.not(wrong.code, 0);
    await kube.kubectl(["patch", "glancestore", "charted", "-n", NAMESPACE, "--type=json", "-p", patch("glance.stores.dev/image-volumes")]);
    await e2e.waitForGone("charted", 30_000);
  } finally {
    await e2e.stop();
  }
});

test("deploy/monitoring/monitoring.yaml is the chart's monitoring, rendered as its header says", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const committed = await readFile(fileURLToPath(new URL("../../../deploy/monitoring/monitoring.yaml", import.meta.url)), "utf8");
  const command = /^#\s+helm (template .*)$/m.exec(committed)?.[1];
  t.truthy(command, "the header names the command");
  const args = command!.split(" ").map((arg) => (arg === "charts/glance-store-operator" ? CHART : arg));
  const rendered = await helm(args);
  t.is(committed.split("\n").slice(3).join("\n"), rendered, "regenerate it with the command in its header");
  t.deepEqual(parseAllDocuments(rendered).map((d) => (d.toJSON() as Manifest).kind), ["ServiceMonitor", "PrometheusRule", "ConfigMap"]);
});

// --- values.schema.json: a mistyped value fails at install ---

async function helmFails(args: string[]): Promise<string> {
  const { helm: path } = await ensureDevBinaries();
  const result = await runCommand(path, args, { timeoutMs: 120_000, allowFailure: true });
  if (result.code === 0) throw new Error(`helm ${args.join(" ")} passed`);
  // helm lint says why on stdout, helm template on stderr.
  return `${result.stdout}\n${result.stderr}`;
}

const SCHEMA_REFUSALS: [string, string[], RegExp][] = [
  ["a mistyped key at the top", ["replicaCunt=3"], /at '': additional properties 'replicaCunt' not allowed/],
  ["a mistyped key in a block", ["serviceMonitor.sheme=https"], /at '\/serviceMonitor': additional properties 'sheme' not allowed/],
  ["a string for a number", ["replicaCount=two"], /at '\/replicaCount': got string, want integer/],
  ["a number for a duration", ["recheckPeriod=300"], /at '\/recheckPeriod': got number, want string/],
  ["a duration without unit", ["authRefusalBackoff=60"], /at '\/authRefusalBackoff'/],
  ["an unknown log level", ["logLevel=verbose"], /at '\/logLevel': value must be one of/],
  ["an unknown anti-affinity", ["podAntiAffinity=always"], /at '\/podAntiAffinity': value must be one of 'soft', 'hard', 'none'/],
  ["an unknown scheme", ["serviceMonitor.scheme=ftp"], /at '\/serviceMonitor\/scheme'/],
  ["an alert threshold PromQL cannot take", ["prometheusRule.alerts.storeKeptLastGood.after=6 hours"], /at '\/prometheusRule\/alerts\/storeKeptLastGood\/after'/],
  ["a namespace that is not a name", ["watchNamespaces={Open_Stack}"], /at '\/watchNamespaces\/0'/],
];
for (const [name, set, message] of SCHEMA_REFUSALS) {
  test(`values.schema.json refuses ${name}, at template and at lint, naming the value`, async (t) => {
    const sets = set.flatMap((s) => ["--set", s]);
    t.regex(await helmFails(["template", "gso", CHART, ...sets]), message);
    t.regex(await helmFails(["lint", CHART, ...sets]), message);
  });
}

test("values.schema.json has an entry for every key of values.yaml, and refuses unknown keys in every block it describes", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const { parse } = await import("yaml");
  const values = parse(await readFile(`${CHART}/values.yaml`, "utf8")) as Record<string, unknown>;
  interface Schema {
    type?: string;
    properties?: Record<string, Schema>;
    additionalProperties?: boolean | Schema;
    $ref?: string;
  }
  const schema = JSON.parse(await readFile(`${CHART}/values.schema.json`, "utf8")) as Schema & { definitions: Record<string, Schema> };
  const resolve = (node: Schema): Schema => (node.$ref === undefined ? node : (schema.definitions[node.$ref.replace("#/definitions/", "")] as Schema));
  const missing: string[] = [];
  const open: string[] = [];
  const walk = (value: unknown, node: Schema, path: string): void => {
    const resolved = resolve(node);
    if (value === null || typeof value !== "object" || Array.isArray(value) || resolved.properties === undefined) return;
    if (resolved.additionalProperties !== false) open.push(path || "(top)");
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const childSchema = resolved.properties[key];
      if (childSchema === undefined) missing.push(`${path}${key}`);
      else walk(child, childSchema, `${path}${key}.`);
    }
  };
  walk(values, schema, "");
  t.deepEqual(missing, [], "add these keys to values.schema.json");
  t.deepEqual(open, [], "blocks with properties should refuse unknown keys");
});

test("every default passes the schema, and so does every optional feature turned on", async (t) => {
  const out = await helm(["lint", "--strict", CHART, "--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,podDisruptionBudget.minAvailable=1"]);
  t.regex(out, /0 chart\(s\) failed/);
});

// --- a platform team's chart: disruption budget, anti-affinity, monitoring ---

interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

async function render(set: string[] = []): Promise<Rendered[]> {
  return (await template(set)) as unknown as Rendered[];
}

const only = (docs: Rendered[], kind: string): Rendered => {
  const found = docs.filter((d) => d.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind}s rendered`);
  return found[0] as Rendered;
};

test("by default: a PodDisruptionBudget of one unavailable replica, and the replicas preferably on different nodes", async (t) => {
  const docs = await render();
  const pdb = only(docs, "PodDisruptionBudget");
  const podSpec = (only(docs, "Deployment").spec as { template: { spec: { affinity?: Record<string, unknown> } }; selector: { matchLabels: Record<string, string> } });
  t.deepEqual(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: podSpec.selector.matchLabels } });
  t.deepEqual(podSpec.template.spec.affinity, {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: podSpec.selector.matchLabels } } }],
    },
  });
});

test("anti-affinity: hard requires different nodes, none leaves it out, an explicit affinity replaces it; the budget can say minAvailable or be off", async (t) => {
  const affinityOf = async (set: string[]) => ((only(await render(set), "Deployment").spec as { template: { spec: { affinity?: Record<string, unknown> } } }).template.spec.affinity);
  t.truthy(((await affinityOf(["podAntiAffinity=hard"])) as { podAntiAffinity: Record<string, unknown> }).podAntiAffinity["requiredDuringSchedulingIgnoredDuringExecution"]);
  t.is(await affinityOf(["podAntiAffinity=none"]), undefined);
  t.deepEqual(await affinityOf(["affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"]), {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "Exists" }] }] } },
  });
  t.is((only(await render(["podDisruptionBudget.minAvailable=1"]), "PodDisruptionBudget").spec as { minAvailable?: number }).minAvailable, 1);
  t.false((await render(["podDisruptionBudget.enabled=false"])).some((d) => d.kind === "PodDisruptionBudget"));
});

test("monitoring is off by default; on, the ServiceMonitor scrapes the metrics Service over https with Prometheus' token, as the chart's secure metrics want", async (t) => {
  t.false((await render()).some((d) => ["ServiceMonitor", "PrometheusRule"].includes(d.kind) || d.metadata.name.endsWith("-dashboard")));
  const docs = await render(["serviceMonitor.enabled=true", "serviceMonitor.labels.release=kube-prometheus-stack"]);
  const monitor = only(docs, "ServiceMonitor");
  const service = only(docs, "Service");
  t.is(monitor.metadata.labels?.["release"], "kube-prometheus-stack");
  const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: Record<string, unknown>[] };
  for (const [key, value] of Object.entries(spec.selector.matchLabels)) t.is(service.metadata.labels?.[key], value);
  t.deepEqual(spec.namespaceSelector.matchNames, ["gso-system"]);
  t.deepEqual(spec.endpoints, [
    { port: "metrics", path: "/metrics", scheme: "https", interval: "30s", scrapeTimeout: "10s", bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token", tlsConfig: { insecureSkipVerify: true } },
  ]);
  t.true(((service.spec as { ports: { name: string }[] }).ports).some((port) => port.name === "metrics"));
});

test("the ServiceMonitor for an authenticated https endpoint: bearer token file or authorization, and tlsConfig (insecureSkipVerify by default, as kubebuilder's)", async (t) => {
  const endpoint = async (set: string[]) => ((only(await render(["serviceMonitor.enabled=true", ...set]), "ServiceMonitor").spec as { endpoints: Record<string, unknown>[] }).endpoints[0] as Record<string, unknown>);
  // Over https with nothing else said: Prometheus' own ServiceAccount token, and no certificate check, as kubebuilder's ServiceMonitor.
  t.like(await endpoint(["serviceMonitor.scheme=https"]), {
    scheme: "https",
    bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
    tlsConfig: { insecureSkipVerify: true },
  });
  t.is((await endpoint(["serviceMonitor.scheme=https", "serviceMonitor.bearerTokenFile=/etc/prometheus/token"]))["bearerTokenFile"], "/etc/prometheus/token");
  const withSecret = await endpoint([
    "serviceMonitor.scheme=https",
    "serviceMonitor.authorization.type=Bearer",
    "serviceMonitor.authorization.credentials.name=prometheus-token",
    "serviceMonitor.authorization.credentials.key=token",
    "serviceMonitor.tlsConfig.insecureSkipVerify=false",
    "serviceMonitor.tlsConfig.serverName=gso-glance-store-operator-metrics.gso-system.svc",
  ]);
  t.deepEqual(withSecret["authorization"], { type: "Bearer", credentials: { name: "prometheus-token", key: "token" } });
  t.false("bearerTokenFile" in withSecret, "authorization instead of the token file");
  t.deepEqual(withSecret["tlsConfig"], { insecureSkipVerify: false, serverName: "gso-glance-store-operator-metrics.gso-system.svc" });
  t.false("tlsConfig" in (await endpoint(["serviceMonitor.scheme=http"])), "no tlsConfig over http");
  t.regex(await helmFails(["template", "gso", CHART, "--set", "serviceMonitor.enabled=true,metrics.service.enabled=false"]), /serviceMonitor\.enabled needs the metrics Service/);
});

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const alertsOf = async (set: string[] = []): Promise<AlertRule[]> =>
  ((only(await render(["prometheusRule.enabled=true", ...set]), "PrometheusRule").spec as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules));

test("the PrometheusRule: the four alerts the issue asks for and three more, scoped to this installation's series, thresholds in seconds", async (t) => {
  const alerts = await alertsOf();
  t.deepEqual(alerts.map((a) => a.alert), ["GlanceStoreNotReady", "GlanceStoreKeptLastGood", "GlanceStoreDeletionBlocked", "GlanceStoreCredentialsRefused", "GlanceStoreImageVolumesUncovered", "GlanceStoreOperatorNotLeading", "GlanceStoreReconcileErrors"]);
  for (const alert of alerts) {
    t.regex(alert.expr, /job="gso-glance-store-operator-metrics",namespace="gso-system"/, alert.alert);
    t.truthy(alert.labels["severity"], alert.alert);
    t.truthy(alert.annotations["summary"] && alert.annotations["description"], alert.alert);
  }
  const byName = new Map(alerts.map((a) => [a.alert, a]));
  t.regex(byName.get("GlanceStoreKeptLastGood")!.expr, /> 21600$/);
  t.regex(byName.get("GlanceStoreDeletionBlocked")!.expr, /> 3600$/);
  t.is(byName.get("GlanceStoreCredentialsRefused")!.labels["severity"], "critical");
  t.is(byName.get("GlanceStoreNotReady")!.for, "15m");
});

test("alerts: thresholds, severities, extra labels and the selector are values; an alert can be turned off", async (t) => {
  const alerts = await alertsOf([
    "prometheusRule.alerts.storeKeptLastGood.after=1d",
    "prometheusRule.alerts.deletionBlocked.after=90m",
    "prometheusRule.alerts.storeNotReady.severity=critical",
    "prometheusRule.alerts.reconcileErrors.enabled=false",
    "prometheusRule.alertLabels.team=platform",
    'prometheusRule.selector=job="glance"',
  ]);
  const byName = new Map(alerts.map((a) => [a.alert, a]));
  t.false(byName.has("GlanceStoreReconcileErrors"));
  t.regex(byName.get("GlanceStoreKeptLastGood")!.expr, /> 86400$/);
  t.regex(byName.get("GlanceStoreDeletionBlocked")!.expr, /> 5400$/);
  t.is(byName.get("GlanceStoreNotReady")!.labels["severity"], "critical");
  for (const alert of alerts) {
    t.is(alert.labels["team"], "platform");
    t.notRegex(alert.expr, /gso-system/);
    t.regex(alert.expr, /\{job="glance"/);
  }
});

test("the Grafana dashboard ConfigMap carries the chart's JSON, the sidecar's label and the folder", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const docs = await render(["grafanaDashboard.enabled=true", "grafanaDashboard.folder=OpenStack", "grafanaDashboard.namespace=monitoring"]);
  const dashboard = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "gso-glance-store-operator-dashboard");
  t.truthy(dashboard);
  t.is(dashboard!.metadata.namespace, "monitoring");
  t.is(dashboard!.metadata.labels?.["grafana_dashboard"], "1");
  t.is(dashboard!.metadata.annotations?.["grafana_folder"], "OpenStack");
  const file = JSON.parse(await readFile(`${CHART}/dashboards/glance-store-operator.json`, "utf8")) as unknown;
  t.deepEqual(JSON.parse(dashboard!.data!["glance-store-operator.json"]!), file);
});
