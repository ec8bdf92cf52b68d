/**
 * Least privilege on the real apiserver (RBAC, OwnerReferencesPermissionEnforcement,
 * ValidatingAdmissionPolicy), with the chart installed by helm with its defaults:
 *
 * - as the operator's ServiceAccount, every request outside the grants is refused: Secrets
 *   outside the watched namespaces, workloads while rollout is off, GlanceStore specs, Secrets
 *   it did not render, blockOwnerDeletion;
 * - the operator, run with exactly the arguments the chart's Deployment passes and as its
 *   ServiceAccount, makes stores Ready, and the audit log shows it used every grant and asked
 *   for nothing else, and was refused nothing;
 * - /metrics, over HTTPS, answers 401 without a token, 403 to a ServiceAccount not bound to the
 *   metrics-reader ClusterRole, 200 to one that is;
 * - with rollout.enabled it patches only the opted-in workload, only its hash annotation.
 *
 * The tests run in order on one stack; each leaves the cluster as the next one expects.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { parseAllDocuments } from "yaml";
import { leaderElectionRules, MANAGER_RULES, METRICS_AUTH_RULES, ROLLOUT_RULES, type PolicyRule } from "../../src/controller/rbac.js";
import type { AuditEvent } from "../../src/devstack/kube.js";
import type { ManagedProcess } from "../../src/devstack/processes.js";
import { waitFor } from "../../src/devstack/wait.js";
import { CLI, E2E, isReady, NAMESPACE, unique } from "../e2e/support.js";
import { KubeApiError, KubeRaw } from "../support/kube-raw.js";

const CHART = fileURLToPath(new URL("../../../charts/glance-store-operator", import.meta.url));
const RELEASE_NAMESPACE = "gso-system";
const FULLNAME = "gso-glance-store-operator";
const OPERATOR_USER = `system:serviceaccount:${RELEASE_NAMESPACE}:${FULLNAME}`;
/** A namespace the chart does not watch, with a Secret of its own. */
const ELSEWHERE = "elsewhere";

let e2e: E2E;
/** A kubeconfig that authenticates as the chart's ServiceAccount, authorized by RBAC alone. */
let operatorKubeconfig: string;
let operatorApi: KubeRaw;

test.before(async () => {
  e2e = await E2E.start();
  const kube = e2e.kube;
  await kube.kubectl(["create", "namespace", ELSEWHERE]);
  await kube.kubectl(["create", "secret", "generic", "outside", "-n", ELSEWHERE, "--from-literal=password=not-yours"]);
  const install = await kube.helm(["install", "gso", CHART, "--namespace", RELEASE_NAMESPACE, "--create-namespace", "--skip-crds"]);
  if (!/STATUS: deployed/.test(install.stdout)) throw new Error(`helm install: ${install.stdout}${install.stderr}`);
  operatorKubeconfig = await kube.kubeconfigFor(OPERATOR_USER, ["system:serviceaccounts", `system:serviceaccounts:${RELEASE_NAMESPACE}`]);
  operatorApi = await KubeRaw.fromKubeconfig(operatorKubeconfig);
});

test.after.always(async () => {
  await operatorApi?.close();
  await e2e?.stop();
});

const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";
const STORES = `/apis/glance.stores.dev/v1alpha1/namespaces/${NAMESPACE}/glancestores`;
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`;

/**
 * One request as the operator's ServiceAccount, sent as the operator sends it: a PATCH goes
 * out without the GET kubectl would send first (the operator has `get` only on Secrets). Returns the
 * status and the apiserver's message.
 */
async function asOperator(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown, contentType?: string): Promise<{ status: number; message: string }> {
  try {
    await operatorApi.json(method, path, body, contentType);
    return { status: 200, message: "" };
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    const message = (JSON.parse(error.body) as { message?: string }).message ?? error.body;
    return { status: error.status, message };
  }
}

async function chartArgs(set: string[]): Promise<string[]> {
  const rendered = await e2e.kube.helm(["template", "gso", CHART, "--namespace", RELEASE_NAMESPACE, ...set.flatMap((s) => ["--set", s])]);
  const deployment = parseAllDocuments(rendered.stdout)
    .map((doc) => doc.toJSON() as { kind?: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } } | null)
    .find((doc) => doc?.kind === "Deployment");
  return deployment!.spec!.template.spec.containers[0]!.args;
}

interface ChartOperator {
  readonly process: ManagedProcess;
  readonly metricsUrl: string;
}

/**
 * `glance-store-operator` with the arguments of the chart's Deployment for these values,
 * as its ServiceAccount: only the listen addresses move to loopback ports (the metrics
 * server keeps its TLS and authentication), and the timings are shortened for a test.
 */
async function startChartOperator(name: string, set: string[] = []): Promise<ChartOperator> {
  const [metricsPort, healthPort] = [await e2e.stack.ports.allocate(), await e2e.stack.ports.allocate()];
  const args = (await chartArgs(set)).map((arg) => {
    if (arg.startsWith("--metrics-address=")) return `--metrics-address=127.0.0.1:${metricsPort}`;
    if (arg.startsWith("--health-address=")) return `--health-address=127.0.0.1:${healthPort}`;
    if (arg.startsWith("--recheck-period=")) return "--recheck-period=5s";
    if (arg.startsWith("--lease-duration=")) return "--lease-duration=6s";
    if (arg.startsWith("--renew-deadline=")) return "--renew-deadline=4s";
    if (arg.startsWith("--retry-period=")) return "--retry-period=1s";
    if (arg.startsWith("--log-level=")) return "--log-level=debug";
    return arg;
  });
  const process_ = e2e.stack.supervisor.start({ name, command: process.execPath, args: [CLI, ...args, `--kubeconfig=${operatorKubeconfig}`], env: { ...process.env } });
  // Ready means every informer listed: the chart's RBAC is enough for what it watches.
  await waitFor(async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok ? true : undefined), {
    what: `${name}'s /readyz`,
    timeoutMs: 60_000,
    abortIf: () => (process_.exitInfo() ? `it exited: ${JSON.stringify(process_.exitInfo())}\n${process_.logFile}` : undefined),
  });
  return { process: process_, metricsUrl: `https://127.0.0.1:${metricsPort}/metrics` };
}

/** The ValidatingAdmissionPolicies take a moment to be loaded after helm installed them: a dry-run request tells. */
async function policyEnforced(path: string, patch: unknown): Promise<void> {
  await waitFor(
    async () => {
      const probe = await asOperator("PATCH", `${path}?dryRun=All`, patch, MERGE);
      if (/ValidatingAdmissionPolicy/.test(probe.message)) return true;
      throw new Error(`not refused yet: ${probe.status} ${probe.message}`);
    },
    { what: `the admission policy guarding ${path} to be enforced`, timeoutMs: 30_000, intervalMs: 250 },
  );
}

test.serial("as the operator's ServiceAccount: Secrets outside the watched namespaces, workloads, GlanceStore specs and Secrets it did not render are refused", async (t) => {
  const kube = e2e.kube;
  // A store with another controller's finalizer, on a target of its own so nothing renders it.
  await e2e.apply({ ...(e2e.store("probe", { target: "probe" }) as object), metadata: { name: "probe", namespace: NAMESPACE, finalizers: ["other.example/keep"] } });
  await e2e.apply({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "glance-api", namespace: NAMESPACE, annotations: { "glance.stores.dev/target": "glance-api" } },
    spec: { replicas: 1, selector: { matchLabels: { app: "glance-api" } }, template: { metadata: { labels: { app: "glance-api" } }, spec: { containers: [{ name: "glance-api", image: "glance-api:placeholder" }] } } },
  });
  await policyEnforced(`${STORES}/probe`, { spec: { description: "x" } });
  const store = JSON.parse((await kube.kubectl(["get", "glancestore", "probe", "-n", NAMESPACE, "-o", "json"])).stdout) as { spec: Record<string, unknown>; metadata: { uid: string } };
  const rbac = /is forbidden: User "system:serviceaccount:gso-system:gso-glance-store-operator" cannot/;
  const owned = { "app.kubernetes.io/managed-by": "glance-store-operator", "glance.stores.dev/target": "glance-api" };
  const secret = (namespace: string, name: string, labels: Record<string, string> = {}) => ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace, labels }, stringData: { a: "b" } });
  const hashPatch = { spec: { template: { metadata: { annotations: { "glance.stores.dev/config-hash": "x" } } } } };
  const cases: [string, Parameters<typeof asOperator>, RegExp][] = [
    ["read a Secret outside the watched namespaces", ["GET", `/api/v1/namespaces/${ELSEWHERE}/secrets/outside`], rbac],
    ["list the Secrets outside", ["GET", `/api/v1/namespaces/${ELSEWHERE}/secrets`], rbac],
    ["list Secrets cluster-wide", ["GET", "/api/v1/secrets"], rbac],
    ["write a Secret outside", ["POST", `/api/v1/namespaces/${ELSEWHERE}/secrets`, secret(ELSEWHERE, "planted")], rbac],
    ["write a Secret in its own namespace", ["POST", `/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets`, secret(RELEASE_NAMESPACE, "planted")], rbac],
    ["read a Secret of its own namespace", ["GET", `/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets/anything`], rbac],
    // `get` is granted on Secrets only (the credentials Secrets' data); every other read is an informer's list and watch.
    ["get one ConfigMap by name (its informer lists)", ["GET", `/api/v1/namespaces/${NAMESPACE}/configmaps/glance-api-stores`], rbac],
    ["patch a workload while rollout is off", ["PATCH", `${DEPLOYMENTS}/glance-api`, hashPatch, MERGE], rbac],
    ["list workloads while rollout is off", ["GET", DEPLOYMENTS], rbac],
    ["read pods", ["GET", `/api/v1/namespaces/${NAMESPACE}/pods`], rbac],
    ["replace a GlanceStore (update)", ["PUT", `${STORES}/probe`, { ...store, spec: { ...store.spec, volumeType: "stolen" } }], rbac],
    ["create a GlanceStore", ["POST", STORES, e2e.store("forged", {})], rbac],
    ["delete a GlanceStore", ["DELETE", `${STORES}/probe`], rbac],
    ["read another Lease of its namespace", ["GET", `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases/someone-else`], rbac],
    [
      "change a GlanceStore's spec with the patch its finalizers need",
      ["PATCH", `${STORES}/probe`, { spec: { volumeType: "stolen" } }, MERGE],
      /ValidatingAdmissionPolicy 'gso-glance-store-operator-glancestores' .* denied request: the glance-store-operator may not change a GlanceStore's spec/,
    ],
    [
      "annotate a GlanceStore (e.g. force-delete)",
      ["PATCH", `${STORES}/probe`, { metadata: { annotations: { "glance.stores.dev/force-delete": "true" } } }, MERGE],
      /may not change a GlanceStore's labels, annotations or owner references/,
    ],
    ["remove another controller's finalizer", ["PATCH", `${STORES}/probe`, [{ op: "remove", path: "/metadata/finalizers/0" }], JSON_PATCH], /may add or remove only its own finalizer/],
    [
      "delete a Secret it did not render",
      ["DELETE", `/api/v1/namespaces/${NAMESPACE}/secrets/glance-cinder`],
      /ValidatingAdmissionPolicy 'gso-glance-store-operator-rendered-objects' .* writes only its own rendered secrets: <target>-stores-credentials .*, not glance-cinder/,
    ],
    [
      "take a Secret over by replacing it with the operator's labels",
      ["PUT", `/api/v1/namespaces/${NAMESPACE}/secrets/glance-cinder`, secret(NAMESPACE, "glance-cinder", owned)],
      /writes only its own rendered secrets/,
    ],
    ["create a Secret that is not a rendered one", ["POST", `/api/v1/namespaces/${NAMESPACE}/secrets`, secret(NAMESPACE, "planted", owned)], /writes only its own rendered secrets/],
    [
      "create a ConfigMap named like a rendered one, without the labels",
      ["POST", `/api/v1/namespaces/${NAMESPACE}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "glance-api-stores", namespace: NAMESPACE }, data: { a: "b" } }],
      /writes only its own rendered configmaps/,
    ],
    [
      "set blockOwnerDeletion on a rendered object (needs update on glancestores/finalizers)",
      [
        "POST",
        `/api/v1/namespaces/${NAMESPACE}/configmaps`,
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: "glance-api-stores",
            namespace: NAMESPACE,
            labels: owned,
            ownerReferences: [{ apiVersion: "glance.stores.dev/v1alpha1", kind: "GlanceStore", name: "probe", uid: store.metadata.uid, blockOwnerDeletion: true }],
          },
          data: { a: "b" },
        },
      ],
      /cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on/,
    ],
  ];
  for (const [what, request_, refusal] of cases) {
    const result = await asOperator(...request_);
    t.true(result.status >= 400 && result.status < 500, `${what}: answered ${result.status}`);
    t.regex(result.message, refusal, what);
  }
  // And what the operator must be able to do still works: its finalizer, and its status.
  t.deepEqual(await asOperator("PATCH", `${STORES}/probe`, { metadata: { finalizers: ["other.example/keep", "glance.stores.dev/image-volumes"] } }, MERGE), { status: 200, message: "" });
  t.deepEqual(await asOperator("PATCH", `${STORES}/probe/status`, { status: { observedGeneration: 1 } }, MERGE), { status: 200, message: "" });
  t.deepEqual(
    await asOperator("PATCH", `${STORES}/probe`, [{ op: "test", path: "/metadata/finalizers/1", value: "glance.stores.dev/image-volumes" }, { op: "remove", path: "/metadata/finalizers/1" }], JSON_PATCH),
    { status: 200, message: "" },
  );

  // Nothing of the above changed anything; the probe goes.
  t.deepEqual((await e2e.getStore("probe"))!.spec, store.spec);
  t.is((await kube.kubectl(["get", "secret", "glance-cinder", "-n", NAMESPACE], { allowFailure: true })).code, 0);
  await kube.kubectl(["patch", "glancestore", "probe", "-n", NAMESPACE, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]']);
  await kube.kubectl(["delete", "glancestore", "probe", "-n", NAMESPACE]);
});

let operator: ChartOperator | undefined;
let operatorStartedAt = "";

test.serial("the operator, with the chart's arguments and RBAC and nothing more, makes stores Ready; a store outside the watched namespaces is left alone", async (t) => {
  operatorStartedAt = new Date().toISOString();
  operator = await startChartOperator("operator-chart");
  await e2e.apply({ ...(e2e.store("stray", { default: true }) as { metadata: object }), metadata: { name: "stray", namespace: ELSEWHERE } });
  const type = await e2e.openstack.admin.createVolumeType(unique("lp"));
  await e2e.apply(e2e.store("first", { volumeType: type.name, default: true }));
  await e2e.waitForStore("first", "Ready under the chart's RBAC", isReady);
  await e2e.apply(e2e.store("second", { volumeType: type.name }));
  const second = await e2e.waitForStore("second", "Ready under the chart's RBAC", isReady);
  // A store whose volume type does not exist: its first failure is an event (a store that simply comes up Ready gets none).
  await e2e.apply(e2e.store("typeless", { volumeType: unique("missing") }));
  await e2e.waitForStore("typeless", "VolumeTypeNotFound under the chart's RBAC", (s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "VolumeTypeNotFound") === true);
  // A GlanceStoreTarget: read, and its status written.
  await e2e.apply({
    apiVersion: "glance.stores.dev/v1alpha1",
    kind: "GlanceStoreTarget",
    metadata: { name: "glance-api", namespace: NAMESPACE },
    spec: { otherStores: [{ id: "local", type: "file" }], glance: { check: false } },
  });
  await waitFor(
    async () => ((await e2e.kube.kubectl(["get", "glancestoretarget", "glance-api", "-n", NAMESPACE, "-o", "jsonpath={.status.enabledBackends}"])).stdout.includes("local:file") ? true : undefined),
    { what: "the GlanceStoreTarget's status under the chart's RBAC", timeoutMs: 30_000 },
  );
  t.true(second.status?.rendered);
  const files = await e2e.renderedFiles();
  t.regex(files!.storesConf, /enabled_backends = .*first.*second|enabled_backends = .*second.*first/);
  const stray = JSON.parse((await e2e.kube.kubectl(["get", "glancestore", "stray", "-n", ELSEWHERE, "-o", "json"])).stdout) as { status?: unknown; metadata: { finalizers?: string[] } };
  t.is(stray.status, undefined, "a GlanceStore outside the watched namespaces is not seen");
  t.is(stray.metadata.finalizers, undefined);
  await e2e.kube.kubectl(["delete", "glancestore", "stray", "-n", ELSEWHERE]);
  // The opted-in Deployment is left as it was: rollout is off.
  const template = (await e2e.kube.kubectl(["get", "deployment", "glance-api", "-n", NAMESPACE, "-o", "jsonpath={.spec.template.metadata.annotations}"])).stdout;
  t.is(template, "");
});

const insecure = new Agent({ connect: { rejectUnauthorized: false } });
async function scrape(url: string, token?: string): Promise<{ status: number; body: string }> {
  const response = await request(url, { dispatcher: insecure, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.statusCode, body: await response.body.text() };
}

test.serial("/metrics over HTTPS: 401 without a token, 403 for a ServiceAccount without the metrics-reader role, 200 with it", async (t) => {
  const kube = e2e.kube;
  t.truthy(operator);
  const url = operator!.metricsUrl;
  t.true(url.startsWith("https://"));
  // Plain HTTP on the metrics port gets nothing.
  await t.throwsAsync(() => fetch(url.replace("https://", "http://")));
  t.is((await scrape(url)).status, 401);
  t.is((await scrape(url, "not-a-token")).status, 401);
  for (const name of ["stranger", "prometheus"]) await kube.kubectl(["create", "serviceaccount", name, "-n", RELEASE_NAMESPACE]);
  await kube.kubectl(["create", "clusterrolebinding", "prometheus-reads-gso", `--clusterrole=${FULLNAME}-metrics-reader`, `--serviceaccount=${RELEASE_NAMESPACE}:prometheus`]);
  const token = async (name: string): Promise<string> => (await kube.kubectl(["create", "token", name, "-n", RELEASE_NAMESPACE])).stdout.trim();
  const stranger = await scrape(url, await token("stranger"));
  t.is(stranger.status, 403);
  t.regex(stranger.body, /user "system:serviceaccount:gso-system:stranger" may not get path "\/metrics"/);
  const prometheus = await scrape(url, await token("prometheus"));
  t.is(prometheus.status, 200);
  t.regex(prometheus.body, /glance_store_operator_stores\{target="openstack\/glance-api",state="ready"\} 2/);
  // The probes stay plain HTTP on their own port, for the kubelet.
});

/** `group/resource[/subresource] verb` of an audit event. */
const key = (event: AuditEvent): string => {
  const ref = event.objectRef ?? {};
  const resource = `${ref.apiGroup ?? ""}/${ref.resource ?? event.requestURI}${ref.subresource === undefined ? "" : `/${ref.subresource}`}`;
  return `${resource} ${event.verb}`;
};

function granted(rules: readonly PolicyRule[]): string[] {
  return rules.flatMap((rule) => (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource} ${verb}`))));
}

async function operatorRequests(since: string): Promise<AuditEvent[]> {
  return (await e2e.kube.readAuditLog()).filter(
    (event) =>
      event.user.username === OPERATOR_USER &&
      // A watch still open has only its ResponseStarted event.
      (event.stage === "ResponseComplete" || (event.stage === "ResponseStarted" && event.verb === "watch")) &&
      event.requestReceivedTimestamp >= since &&
      !(event.userAgent ?? "").startsWith("kubectl") &&
      // API discovery (is the GlanceStoreTarget CRD served?): every authenticated user may, by the default system:discovery role, not by the chart.
      !(event.objectRef === undefined && /^\/apis?(\/|$)/.test(event.requestURI)),
  );
}

test.serial("the operator used every permission the chart grants and asked for nothing else; the apiserver refused it nothing", async (t) => {
  // Deletions: the finalizer released, then, with the last store gone, the rendered ConfigMap and Secret deleted.
  await e2e.kube.kubectl(["delete", "glancestore", "typeless", "-n", NAMESPACE, "--wait=false"]);
  await e2e.waitForGone("typeless");
  await e2e.kube.kubectl(["delete", "glancestore", "second", "-n", NAMESPACE, "--wait=false"]);
  await e2e.waitForGone("second");
  await e2e.kube.kubectl(["delete", "glancestore", "first", "-n", NAMESPACE, "--wait=false"]);
  await e2e.waitForGone("first");
  await e2e.kube.kubectl(["delete", "glancestoretarget", "glance-api", "-n", NAMESPACE]);
  await waitFor(async () => ((await e2e.renderedFiles()) === undefined && (await e2e.kube.kubectl(["get", "secret", "glance-api-stores-credentials", "-n", NAMESPACE], { allowFailure: true })).code !== 0 ? true : undefined), {
    what: "the rendered ConfigMap and Secret to be deleted",
    timeoutMs: 30_000,
  });
  // A graceful stop releases the Lease (get, then update).
  const exit = await operator!.process.stop(20_000);
  t.is(exit.code, 0);
  operator = undefined;

  const requests = await operatorRequests(operatorStartedAt);
  const refused = requests.filter((event) => event.responseStatus?.code === 403);
  t.deepEqual(refused.map((event) => `${key(event)} ${event.requestURI}`), [], "no request of the operator was refused");
  const used = [...new Set(requests.map(key))].sort();
  const expected = [...new Set([...granted(MANAGER_RULES), ...granted(leaderElectionRules(FULLNAME)), ...granted(METRICS_AUTH_RULES)])].sort();
  t.deepEqual(used, expected, "every grant is used, and nothing else is asked for");
  // Namespaced requests stay in the watched namespace, but for its own Lease.
  const namespaces = new Set(requests.map((event) => `${event.objectRef?.resource} ${event.objectRef?.namespace ?? "(cluster)"}`));
  t.deepEqual([...namespaces].sort(), [
    "configmaps openstack",
    "events openstack",
    "glancestores openstack",
    "glancestoretargets openstack",
    `leases ${RELEASE_NAMESPACE}`,
    "secrets openstack",
    "subjectaccessreviews (cluster)",
    "tokenreviews (cluster)",
  ]);
  t.true(requests.filter((event) => event.objectRef?.resource === "leases" && event.verb !== "create").every((event) => event.objectRef?.name === FULLNAME));
});

test.serial("rollout.enabled: the operator patches only the opted-in Deployment, only its hash; the admission policy refuses the rest", async (t) => {
  const kube = e2e.kube;
  const upgrade = await kube.helm(["upgrade", "gso", CHART, "--namespace", RELEASE_NAMESPACE, "--skip-crds", "--set", "rollout.enabled=true"]);
  t.regex(upgrade.stdout, /STATUS: deployed/);
  await e2e.apply({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "bystander", namespace: NAMESPACE },
    spec: { replicas: 1, selector: { matchLabels: { app: "bystander" } }, template: { metadata: { labels: { app: "bystander" } }, spec: { containers: [{ name: "app", image: "app:placeholder" }] } } },
  });
  const since = new Date().toISOString();
  const rolling = await startChartOperator("operator-rollout", ["rollout.enabled=true"]);
  try {
    const type = await e2e.openstack.admin.createVolumeType(unique("lp-roll"));
    await e2e.apply(e2e.store("rolled", { volumeType: type.name, default: true }));
    await e2e.waitForStore("rolled", "Ready", isReady);
    const hashOf = async (name: string): Promise<string> =>
      (await kube.kubectl(["get", "deployment", name, "-n", NAMESPACE, "-o", "jsonpath={.spec.template.metadata.annotations.glance\\.stores\\.dev/config-hash}"])).stdout.trim();
    const hash = await waitFor(async () => (await hashOf("glance-api")) || undefined, { what: "the config hash on the opted-in Deployment", timeoutMs: 30_000 });
    t.regex(hash, /^[0-9a-f]{64}$/);
    t.is(await hashOf("bystander"), "");

    // The rollout grant is used as a whole, but for patching a StatefulSet: there is none here.
    const appsUsed = [...new Set((await operatorRequests(since)).filter((event) => event.objectRef?.apiGroup === "apps").map(key))].sort();
    t.deepEqual(appsUsed, granted(ROLLOUT_RULES).filter((k) => k !== "apps/statefulsets patch").sort());
    const patches = (await operatorRequests(since)).filter((event) => event.objectRef?.apiGroup === "apps" && event.verb !== "list" && event.verb !== "watch");
    t.deepEqual([...new Set(patches.map((event) => `${event.verb} ${event.objectRef?.resource}/${event.objectRef?.name} ${event.responseStatus?.code}`))], ["patch deployments/glance-api 200"]);

    await policyEnforced(`${DEPLOYMENTS}/bystander`, { spec: { template: { metadata: { annotations: { "glance.stores.dev/config-hash": "x" } } } } });
    const refusals: [string, Parameters<typeof asOperator>, RegExp][] = [
      [
        "the hash on a workload that did not opt in",
        ["PATCH", `${DEPLOYMENTS}/bystander`, { spec: { template: { metadata: { annotations: { "glance.stores.dev/config-hash": "x" } } } } }, MERGE],
        /rolls only workloads annotated glance.stores.dev\/target; bystander is not/,
      ],
      ["the image of the opted-in one", ["PATCH", `${DEPLOYMENTS}/glance-api`, [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "evil:latest" }], JSON_PATCH], /may change only the pod template annotation glance.stores.dev\/config-hash/],
      ["its ServiceAccount", ["PATCH", `${DEPLOYMENTS}/glance-api`, { spec: { template: { spec: { serviceAccountName: "admin" } } } }, MERGE], /may change only the pod template annotation/],
      ["its replicas", ["PATCH", `${DEPLOYMENTS}/glance-api`, { spec: { replicas: 0 } }, MERGE], /may change only the pod template annotation/],
      ["another pod template annotation", ["PATCH", `${DEPLOYMENTS}/glance-api`, { spec: { template: { metadata: { annotations: { x: "y" } } } } }, MERGE], /may change only the pod template annotation/],
      ["opting a workload in", ["PATCH", `${DEPLOYMENTS}/bystander`, { metadata: { annotations: { "glance.stores.dev/target": "glance-api" } } }, MERGE], /rolls only workloads annotated/],
    ];
    for (const [what, request_, refusal] of refusals) {
      const result = await asOperator(...request_);
      t.true(result.status >= 400 && result.status < 500, `${what}: answered ${result.status}`);
      t.regex(result.message, refusal, what);
    }
    t.is(await hashOf("glance-api"), hash);
  } finally {
    await rolling.process.stop(20_000);
  }
});
