import test from "ava";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parse } from "yaml";
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubernetesObject, type V1ConfigMap, type V1Secret } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { OperatorMetrics } from "../../src/runtime/metrics.js";
import { Informer, type InformerOptions } from "../../src/controller/informers/informer.js";
import { CONFIG_MAPS, customResourceType, DEPLOYMENTS, SECRET_METADATA, SECRETS, STATEFUL_SETS, type PartialObjectMetadata, type ResourceType } from "../../src/controller/informers/resources.js";
import { KubeClient } from "../../src/kube/client.js";
import { captureLogger, kubeClientOf, kubeConfigOf, kubeOf, writeKubeconfig } from "./support.js";

let stack: DevStack;
let core: CoreV1Api;
let kube: KubeClient;
const informers: Informer<KubernetesObject>[] = [];

test.before(async () => {
  stack = await startDevStack({ openstack: false });
  core = kubeConfigOf(stack).makeApiClient(CoreV1Api);
  kube = await kubeClientOf(stack);
});

test.after.always(async () => {
  await Promise.all(informers.map((informer) => informer.stop()));
  await stack?.stop();
});

const LABEL = "test.glance.stores.dev/owned";

async function namespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function createConfigMap(ns: string, name: string, data: Record<string, string>, labelled = true): Promise<void> {
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name, ...(labelled ? { labels: { [LABEL]: "yes" } } : {}) }, data },
  });
}

async function setData(ns: string, name: string, data: Record<string, string>): Promise<void> {
  const current = await core.readNamespacedConfigMap({ name, namespace: ns });
  await core.replaceNamespacedConfigMap({ name, namespace: ns, body: { ...current, data } });
}

type Seen = { type: "add" | "update" | "delete"; name: string; data?: Record<string, string>; oldData?: Record<string, string> };

function configMapInformer(extra: Partial<InformerOptions<V1ConfigMap>> & { logger?: InformerOptions<V1ConfigMap>["logger"] } = {}) {
  const captured = captureLogger();
  const informer = new Informer<V1ConfigMap>({
    kube,
    type: CONFIG_MAPS,
    logger: captured.logger,
    labelSelector: `${LABEL}=yes`,
    ...extra,
  });
  informers.push(informer as unknown as Informer<KubernetesObject>);
  const seen: Seen[] = [];
  informer.addHandlers({
    add: (o) => seen.push({ type: "add", name: o.metadata!.name!, ...(o.data ? { data: o.data } : {}) }),
    update: (old, o) => seen.push({ type: "update", name: o.metadata!.name!, ...(o.data ? { data: o.data } : {}), ...(old.data ? { oldData: old.data } : {}) }),
    delete: (o) => seen.push({ type: "delete", name: o.metadata!.name! }),
  });
  return { informer, seen, records: captured.records };
}

function names(informer: Informer<V1ConfigMap>, ns?: string): string[] {
  return informer
    .list(ns)
    .map((o) => o.metadata!.name!)
    .sort();
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  return waitFor(probe, { what, timeoutMs, intervalMs: 50 });
}

test.serial("adds, updates and deletes are delivered with the old object, and the cache follows them", async (t) => {
  const ns = await namespace("informer-events");
  await createConfigMap(ns, "before-start", { a: "1" });
  await createConfigMap(ns, "not-ours", { a: "1" }, false);
  const { informer, seen } = configMapInformer({ namespaces: [ns] });
  informer.start();
  await informer.waitForSync();
  t.true(informer.hasSynced());
  t.deepEqual(names(informer), ["before-start"], "the label selector keeps other ConfigMaps out");
  const first = informer.get(ns, "before-start");
  t.is(Object.getPrototypeOf(first), Object.prototype, "the JSON as sent, no model class");
  t.regex(String(first?.metadata?.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "timestamps as the apiserver sends them");
  t.is(first?.kind, "ConfigMap", "list items get their kind back");

  await createConfigMap(ns, "created", { k: "v1" });
  await until("the add", () => informer.get(ns, "created"));
  await setData(ns, "created", { k: "v2" });
  await until("the update", () => (informer.get(ns, "created")?.data?.["k"] === "v2" ? true : undefined));
  await core.deleteNamespacedConfigMap({ name: "created", namespace: ns });
  await until("the delete", () => (informer.get(ns, "created") === undefined ? true : undefined));

  t.deepEqual(seen, [
    { type: "add", name: "before-start", data: { a: "1" } },
    { type: "add", name: "created", data: { k: "v1" } },
    { type: "update", name: "created", data: { k: "v2" }, oldData: { k: "v1" } },
    { type: "delete", name: "created" },
  ]);
  t.deepEqual(informer.list("elsewhere"), []);
  t.is(informer.stats().maxOpenRequestsPerNamespace, 1);
  t.deepEqual(informer.health(), { resource: "configmaps", synced: true, wedged: false, detail: "synced" });
  await informer.stop();
  t.is(informer.stats().openRequests, 0, "stop closes the watch");
});

test.serial("a list of namespaces gets one watch each and nothing from other namespaces", async (t) => {
  const [one, two, other] = [await namespace("informer-one"), await namespace("informer-two"), await namespace("informer-other")];
  const { informer } = configMapInformer({ namespaces: [one, two] });
  informer.start();
  await informer.waitForSync();
  await createConfigMap(one, "x", { n: "1" });
  await createConfigMap(two, "y", { n: "2" });
  await createConfigMap(other, "z", { n: "3" });
  await until("both objects", () => (informer.list().length === 2 ? true : undefined));
  t.deepEqual(names(informer, one), ["x"]);
  t.deepEqual(names(informer, two), ["y"]);
  t.deepEqual(names(informer, other), []);
  t.is(informer.get(other, "z"), undefined);
  await until("one open watch per namespace", () => (informer.stats().openRequests === 2 ? true : undefined));
  t.is(informer.stats().maxOpenRequestsPerNamespace, 1);
  await informer.stop();
});

test.serial("custom resources are watched through their group path, across all namespaces", async (t) => {
  const config = kubeConfigOf(stack);
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({
    body: {
      metadata: { name: "gadgets.informer.test.dev" },
      spec: {
        group: "informer.test.dev",
        scope: "Namespaced",
        names: { plural: "gadgets", singular: "gadget", kind: "Gadget" },
        versions: [{ name: "v1alpha1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "object", properties: { size: { type: "string" } } } } } } }],
      },
    },
  });
  await until("the CRD to be established", async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: "gadgets.informer.test.dev" });
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
  });
  const ns1 = await namespace("gadgets-one");
  const ns2 = await namespace("gadgets-two");
  const captured = captureLogger();
  const informer = new Informer({
    kube,
    type: customResourceType({ group: "informer.test.dev", version: "v1alpha1", plural: "gadgets", kind: "Gadget" }),
    logger: captured.logger,
  });
  informers.push(informer);
  informer.start();
  await informer.waitForSync();
  const objects = config.makeApiClient(CustomObjectsApi);
  for (const ns of [ns1, ns2]) {
    await objects.createNamespacedCustomObject({
      group: "informer.test.dev",
      version: "v1alpha1",
      namespace: ns,
      plural: "gadgets",
      body: { apiVersion: "informer.test.dev/v1alpha1", kind: "Gadget", metadata: { name: "g" }, spec: { size: ns } },
    });
  }
  await until("both gadgets", () => (informer.list().length === 2 ? true : undefined));
  const gadget = informer.get(ns2, "g") as KubernetesObject & { spec?: { size?: string } };
  t.is(gadget.spec?.size, ns2);
  t.is(gadget.kind, "Gadget");
  t.is(informer.list(ns1).length, 1, "list by namespace filters the cluster-wide cache");
  await informer.stop();
});

test.serial("a metadata-only Secret informer holds every Secret's metadata and never its data, as the apiserver sends it", async (t) => {
  const ns = await namespace("informer-metadata");
  const password = "never-in-the-cache";
  const secretBody = (name: string, value: string): V1Secret => ({ metadata: { name, labels: { app: "x" }, annotations: { note: "kept" } }, stringData: { password: value } });
  await core.createNamespacedSecret({ namespace: ns, body: secretBody("listed", password) });
  const captured = captureLogger();
  // As the apiserver sends them, undecoded: what the Accept header asked for, not what decode keeps.
  const asSent: ResourceType<KubernetesObject> = { ...SECRET_METADATA, decode: (raw) => raw };
  const [raw, decoded] = [
    new Informer<KubernetesObject>({ kube, type: asSent, logger: captured.logger, namespaces: [ns] }),
    new Informer<PartialObjectMetadata>({ kube, type: SECRET_METADATA, logger: captured.logger, namespaces: [ns] }),
  ];
  informers.push(raw, decoded as unknown as Informer<KubernetesObject>);
  t.is(decoded.resource, "secrets (metadata)");
  const updates: string[] = [];
  decoded.addHandlers({ update: (old, o) => updates.push(`${old.metadata.resourceVersion} -> ${o.metadata.resourceVersion}`) });
  for (const informer of [raw, decoded]) informer.start();
  await Promise.all([raw.waitForSync(), decoded.waitForSync()]);
  await core.createNamespacedSecret({ namespace: ns, body: secretBody("watched", password) });
  await until("the watched Secret", () => (raw.get(ns, "watched") && decoded.get(ns, "watched") ? true : undefined));
  const replaced = await core.replaceNamespacedSecret({ name: "watched", namespace: ns, body: { ...secretBody("watched", `${password}-2`) } });
  await until("the update", () => (decoded.get(ns, "watched")?.metadata.resourceVersion === replaced.metadata?.resourceVersion ? true : undefined));

  for (const name of ["listed", "watched"]) {
    const sent = raw.get(ns, name) as KubernetesObject & Record<string, unknown>;
    t.is(sent.kind, "PartialObjectMetadata", `${name}: the apiserver answered with metadata only`);
    t.deepEqual(Object.keys(sent).filter((key) => key !== "apiVersion" && key !== "kind" && key !== "metadata"), [], `${name}: nothing but metadata`);
    const object = decoded.get(ns, name)!;
    t.deepEqual(Object.keys(object).sort(), ["apiVersion", "kind", "metadata"]);
    t.is(object.metadata.name, name);
    t.truthy(object.metadata.uid);
    t.truthy(object.metadata.resourceVersion);
    t.deepEqual(object.metadata.labels, { app: "x" });
    t.deepEqual(object.metadata.annotations, { note: "kept" });
    t.regex(String(object.metadata.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.truthy((sent.metadata as Record<string, unknown>)["managedFields"], "the apiserver sends managedFields");
    t.is((object.metadata as Record<string, unknown>)["managedFields"], undefined, "decode leaves them out");
  }
  t.false(JSON.stringify([...raw.list(), ...decoded.list()]).includes(Buffer.from(password).toString("base64")), "no Secret data anywhere in either cache");
  t.is(updates.length, 1);
  await core.deleteNamespacedSecret({ name: "watched", namespace: ns });
  await until("the delete", () => (decoded.get(ns, "watched") === undefined ? true : undefined));
  await Promise.all([raw.stop(), decoded.stop()]);
});

test.serial("indexes follow adds, updates and deletes, and answer without a scan", async (t) => {
  const ns = await namespace("informer-index");
  await createConfigMap(ns, "a", { colour: "red" });
  const { informer } = configMapInformer({ namespaces: [ns] });
  informer.addIndex("colour", (o) => (o.data?.["colour"] === undefined ? [] : [o.data["colour"]]));
  t.throws(() => informer.addIndex("colour", () => []), { message: /has an index colour already/ });
  t.throws(() => informer.byIndex("size", "x"), { message: /has no index size/ });
  const colours = (colour: string): string[] =>
    informer
      .byIndex("colour", colour)
      .map((o) => o.metadata!.name!)
      .sort();
  // An index function sees the object as cached, and runs before the handlers hear of it.
  const seenByHandler: string[][] = [];
  informer.addHandlers({ update: () => seenByHandler.push(colours("blue")) });
  informer.start();
  await informer.waitForSync();
  t.deepEqual(colours("red"), ["a"]);
  await createConfigMap(ns, "b", { colour: "red" });
  await until("b", () => (colours("red").length === 2 ? true : undefined));
  await setData(ns, "a", { colour: "blue" });
  await until("a turned blue", () => (colours("blue").length === 1 ? true : undefined));
  t.deepEqual(colours("red"), ["b"]);
  t.deepEqual(seenByHandler, [["a"]]);
  t.is(informer.byIndex("colour", "blue")[0], informer.get(ns, "a"), "the object as cached now");
  await setData(ns, "b", {});
  await until("b has no colour", () => (colours("red").length === 0 ? true : undefined));
  t.deepEqual(informer.indexValues("colour"), ["blue"]);
  await core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
  await until("a deleted", () => (colours("blue").length === 0 ? true : undefined));
  t.deepEqual(informer.indexValues("colour"), []);
  // An index added late files what is cached already.
  informer.addIndex("name", (o) => [o.metadata!.name!]);
  t.deepEqual(informer.byIndex("name", "b").length, 1);
  await informer.stop();
});

test("decode keeps no managedFields, and of a workload only what a rollout reads", (t) => {
  const metadata = { name: "glance-api", namespace: "openstack", generation: 3, annotations: { "glance.stores.dev/target": "glance-api" }, managedFields: [{ manager: "kubectl", fieldsV1: {} }] };
  const template = { metadata: { labels: { app: "glance" }, annotations: { "glance.stores.dev/config-hash": "abc" } }, spec: { containers: [{ name: "glance-api", image: "glance:1", env: [{ name: "A", value: "b" }] }] } };
  const status = { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2, conditions: [{ type: "Available", status: "True" }] };
  const deployment = DEPLOYMENTS.decode({ apiVersion: "apps/v1", kind: "Deployment", metadata, spec: { replicas: 2, selector: { matchLabels: { app: "glance" } }, template }, status } as KubernetesObject);
  t.is(deployment.kind, "Deployment");
  t.is(deployment.metadata?.managedFields, undefined);
  t.deepEqual(deployment.metadata?.annotations, metadata.annotations);
  t.is(deployment.metadata?.generation, 3);
  t.is(deployment.spec?.replicas, 2);
  t.deepEqual(deployment.spec?.template.metadata?.annotations, { "glance.stores.dev/config-hash": "abc" });
  t.is(deployment.spec?.template.spec, undefined, "no pod spec");
  t.is(deployment.spec?.selector, undefined);
  const kept = Object.fromEntries(Object.entries(deployment.status ?? {}).filter(([, value]) => value !== undefined));
  t.deepEqual(kept, { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 }, "no conditions");
  const set = STATEFUL_SETS.decode({ apiVersion: "apps/v1", kind: "StatefulSet", metadata, spec: { serviceName: "x", selector: {}, template: { spec: template.spec } }, status: { currentRevision: "a", updateRevision: "b", replicas: 1 } } as KubernetesObject);
  t.is(set.spec?.template.metadata?.annotations, undefined, "a template without annotations");
  t.is(set.spec?.template.spec, undefined);
  t.is(set.status?.updateRevision, "b");
  t.is(set.status?.currentRevision, "a");
  const secret = SECRETS.decode({ apiVersion: "v1", kind: "Secret", metadata, data: { a: "Yg==" } } as KubernetesObject);
  t.deepEqual(secret.data, { a: "Yg==" });
  t.is(secret.metadata?.managedFields, undefined);
  const gadget = customResourceType({ group: "x.dev", version: "v1", plural: "things", kind: "Thing" }).decode({ apiVersion: "x.dev/v1", kind: "Thing", metadata, spec: { a: 1 } } as KubernetesObject);
  t.deepEqual(gadget, { apiVersion: "x.dev/v1", kind: "Thing", metadata: { name: "glance-api", namespace: "openstack", generation: 3, annotations: metadata.annotations }, spec: { a: 1 } });
});

test.serial("after kube-apiserver stops and starts again the informer restarts itself with backoff and re-lists what changed meanwhile", async (t) => {
  const ns = await namespace("informer-restart");
  for (const name of ["a", "b", "c"]) await createConfigMap(ns, name, { v: "1" });
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  const { informer, seen, records } = configMapInformer({
    namespaces: [ns],
    metrics,
    // No jitter: the delays are exactly 400, 800, 1600 ... ms.
    random: () => 0,
    backoff: { initialMs: 400, maxMs: 3_200 },
  });
  informer.start();
  await informer.waitForSync();
  t.deepEqual(names(informer), ["a", "b", "c"]);
  const listsBefore = informer.stats().lists;

  const kube = kubeOf(stack);
  await kube.stopApiserver();
  // The informer keeps trying while the API is gone, waiting longer each time.
  await until("three restarts while the apiserver is down", () => (informer.stats().restarts.error >= 3 ? true : undefined), 20_000);
  t.false(informer.health().wedged);
  t.deepEqual(names(informer), ["a", "b", "c"], "the cache keeps serving the last known state");

  await kube.startApiserver();
  // Changed right away, most likely before the informer's next attempt.
  await core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
  await setData(ns, "b", { v: "2" });
  await createConfigMap(ns, "d", { v: "1" });

  await until(
    "the cache to show the changes made around the restart",
    () => (names(informer).join(",") === "b,c,d" && informer.get(ns, "b")?.data?.["v"] === "2" ? true : undefined),
    40_000,
  );
  t.true(informer.stats().lists > listsBefore, "a restart lists again");
  t.deepEqual(seen.slice(0, 3).map((e) => `${e.type} ${e.name}`), ["add a", "add b", "add c"]);
  // Through the re-list or through the resumed watch, depending on timing: each change exactly once.
  const byName = (x: Seen, y: Seen): number => x.name.localeCompare(y.name);
  t.deepEqual([...seen.slice(3)].sort(byName), [
    { type: "delete", name: "a" },
    { type: "update", name: "b", data: { v: "2" }, oldData: { v: "1" } },
    { type: "add", name: "d", data: { v: "1" } },
  ]);

  const restarts = records().filter((r) => r["msg"] === "list or watch failed; restarting the informer");
  const delays = restarts.map((r) => r["delayMs"] as number);
  t.deepEqual(delays.slice(0, 4), [400, 800, 1_600, 3_200].slice(0, Math.min(4, delays.length)), `delays: ${delays.join(", ")}`);
  t.true(delays.every((d) => d <= 3_200), "capped");
  t.regex(await registry.metrics(), /glance_store_operator_informer_restarts_total\{resource="configmaps",reason="error"\} [3-9]/);
  t.is(informer.stats().maxOpenRequestsPerNamespace, 1, "never two requests at once, through every restart");
  await informer.stop();
});

test.serial("the watchdog restarts a watch that stays silent for too long, and the informer keeps working", async (t) => {
  const ns = await namespace("informer-silent");
  const { informer, records } = configMapInformer({ namespaces: [ns], watchdogMs: 1_000, backoff: { initialMs: 100, maxMs: 200 } });
  informer.start();
  await informer.waitForSync();
  await until("two silent restarts", () => (informer.stats().restarts.silent >= 2 ? true : undefined), 20_000);
  t.is(informer.stats().restarts.error, 0);
  const silent = records().filter((r) => r["reason"] === "silent");
  t.true(silent.length >= 2);
  t.true((silent[0]!["silentForMs"] as number) > 1_000);
  await createConfigMap(ns, "after-silence", { v: "1" });
  await until("the object created after the restarts", () => informer.get(ns, "after-silence"));
  t.is(informer.stats().maxOpenRequestsPerNamespace, 1, "the silent watch was closed before the next one opened");
  await informer.stop();
});

test.serial("a frozen apiserver (SIGSTOP) cannot hang the informer: the watchdog and the request deadline restart it until it thaws", async (t) => {
  const ns = await namespace("informer-frozen");
  const { informer, records } = configMapInformer({
    namespaces: [ns],
    watchdogMs: 1_500,
    requestTimeoutMs: 1_000,
    backoff: { initialMs: 200, maxMs: 400 },
  });
  informer.start();
  await informer.waitForSync();
  // Freeze only once the watch is connected and delivering.
  await createConfigMap(ns, "before-freeze", { v: "1" });
  await until("the object created before the freeze", () => informer.get(ns, "before-freeze"));
  const apiserver = kubeOf(stack).apiserver;
  apiserver.signal("SIGSTOP");
  try {
    await until("a silent restart and a timed-out request", () => {
      const { restarts } = informer.stats();
      return restarts.silent >= 1 && restarts.error >= 1 ? true : undefined;
    });
    t.false(informer.health().wedged);
  } finally {
    apiserver.signal("SIGCONT");
  }
  const reasons = records().filter((r) => r["msg"]?.toString().includes("restarting the informer")).map((r) => r["reason"]);
  t.is(reasons[0], "silent", "the connected watch went quiet first");
  t.true(reasons.includes("error"), "then the re-list timed out");
  await createConfigMap(ns, "after-thaw", { v: "1" });
  await until("the object created after the thaw", () => informer.get(ns, "after-thaw"), 30_000);
  t.is(informer.stats().maxOpenRequestsPerNamespace, 1);
  await informer.stop();
});

test("a namespace list is checked: bad names and namespaces on a cluster-scoped type are refused", (t) => {
  const { logger } = captureLogger();
  t.throws(() => new Informer({ kube, type: CONFIG_MAPS, logger, namespaces: ["Bad_Name"] }), { message: /"Bad_Name" is not a valid namespace name/ });
  t.throws(
    () => new Informer({ kube, type: customResourceType({ group: "x.dev", version: "v1", plural: "things", kind: "Thing", namespaced: false }), logger, namespaces: ["a"] }),
    { message: /cluster-scoped/ },
  );
});

/**
 * A plain-HTTP proxy on loopback in front of the real apiserver, which it
 * reaches as the stack's admin. It passes everything through, except that
 * it can hold the next watch request and then answer it as the apiserver
 * answers a watch from a resourceVersion that left its history: 410, as an
 * ERROR event in a 200 stream or as the HTTP status.
 */
async function expiringProxy(): Promise<{
  kube: KubeClient;
  /** Ends the open watches cleanly and holds the next one. */
  holdNextWatch(): Promise<{ path: string }>;
  /** Answers the held watch with 410. */
  expire(as: "event" | "status"): void;
  close(): Promise<void>;
}> {
  const config = parse(await readFile(kubeOf(stack).kubeconfigPath, "utf8")) as { clusters: { cluster: Record<string, string> }[]; users: { user: Record<string, string> }[] };
  const tls = {
    ca: Buffer.from(config.clusters[0]!.cluster["certificate-authority-data"]!, "base64"),
    cert: Buffer.from(config.users[0]!.user["client-certificate-data"]!, "base64"),
    key: Buffer.from(config.users[0]!.user["client-key-data"]!, "base64"),
  };
  const upstream = new URL(kubeOf(stack).server);
  const watches = new Set<ServerResponse>();
  let holding: ((held: { path: string; response: ServerResponse }) => void) | undefined;
  let held: { path: string; response: ServerResponse } | undefined;
  const server = createServer((req, res) => {
    const isWatch = new URL(req.url ?? "/", "http://x").searchParams.get("watch") === "true";
    if (isWatch && holding !== undefined) {
      const resolve = holding;
      holding = undefined;
      held = { path: req.url ?? "", response: res };
      resolve(held);
      return;
    }
    const forwarded = httpsRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, ...tls }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (isWatch) {
        watches.add(res);
        res.once("close", () => watches.delete(res));
      }
      answer.pipe(res);
    });
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = await mkdtemp(join(stack.directory, "expiring-proxy-"));
  const kubeconfig = await writeKubeconfig(dir, "proxy", { server: `http://127.0.0.1:${port}` });
  return {
    kube: await KubeClient.load({ kubeconfig, env: {} }),
    holdNextWatch: async () => {
      const next = new Promise<{ path: string; response: ServerResponse }>((resolve) => (holding = resolve));
      // A watch the apiserver ends normally (its timeoutSeconds): the informer resumes from the last resourceVersion it saw.
      for (const response of watches) response.end();
      return next;
    },
    expire: (as) => {
      const response = held?.response;
      if (response === undefined) throw new Error("no watch held");
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", message: "too old resource version: 1 (2)", reason: "Expired", code: 410 };
      if (as === "status") {
        response.writeHead(410, { "content-type": "application/json" });
        response.end(JSON.stringify(status));
      } else {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      }
      held = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

for (const as of ["event", "status"] as const) {
  test.serial(`a watch resumed from a resourceVersion the apiserver no longer has (410 as ${as === "event" ? "an ERROR event" : "the HTTP status"}) lists again within the epoch and delivers what changed meanwhile`, async (t) => {
    const ns = await namespace(`informer-expired-${as}`);
    await createConfigMap(ns, "kept", { v: "1" });
    await createConfigMap(ns, "changed", { v: "1" });
    await createConfigMap(ns, "deleted", { v: "1" });
    const proxy = await expiringProxy();
    const { informer, seen } = configMapInformer({ namespaces: [ns], kube: proxy.kube });
    try {
      informer.start();
      await informer.waitForSync();
      t.deepEqual(names(informer), ["changed", "deleted", "kept"]);
      const listsBefore = informer.stats().lists;
      seen.length = 0;

      const held = await proxy.holdNextWatch();
      t.regex(held.path, /watch=true/);
      t.regex(held.path, /resourceVersion=\d+/, "the watch resumed from the last resourceVersion");
      await setData(ns, "changed", { v: "2" });
      await core.deleteNamespacedConfigMap({ name: "deleted", namespace: ns });
      await createConfigMap(ns, "created", { v: "1" });
      proxy.expire(as);

      await until("the re-list", () => (names(informer).join() === "changed,created,kept" ? true : undefined));
      t.is(informer.get(ns, "changed")?.data?.["v"], "2");
      t.deepEqual(
        [...seen].sort((a, b) => a.name.localeCompare(b.name)),
        [
          { type: "update", name: "changed", data: { v: "2" }, oldData: { v: "1" } },
          { type: "add", name: "created", data: { v: "1" } },
          { type: "delete", name: "deleted" },
        ],
        "an unchanged object gives no event; the rest what happened while nothing watched",
      );
      t.is(informer.stats().lists, listsBefore + 1, "one list more");
      t.deepEqual(informer.stats().restarts, { error: 0, silent: 0 }, "no restart: the same epoch lists again, as client-go's reflector does");

      await createConfigMap(ns, "after", { v: "1" });
      await until("an object made after the re-list, through the new watch", () => informer.get(ns, "after"));
    } finally {
      await informer.stop();
      await proxy.close();
    }
  });
}
