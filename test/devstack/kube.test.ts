import test from "ava";
import { ApiextensionsV1Api, CustomObjectsApi, KubeConfig, Watch } from "@kubernetes/client-node";
import { readFile } from "node:fs/promises";
import { startFaultProxy } from "../../src/devstack/fault-proxy.js";
import { startDevStack } from "../../src/devstack/stack.js";
import { useStack } from "../support/stack.js";
import { TOOL_VERSIONS } from "../../src/devstack/binaries.js";
import { isAlive } from "../../src/devstack/pids.js";
import { waitFor } from "../../src/devstack/wait.js";

const local = useStack({ openstack: false });
const kube = local.kube;

test.serial("a CRD and a custom object created with @kubernetes/client-node are read back by kubectl", async (t) => {
  const config = new KubeConfig();
  config.loadFromFile(kube().kubeconfigPath);
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({
    body: {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.devstack.test.dev" },
      spec: {
        group: "devstack.test.dev",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "object", properties: { size: { type: "integer" } } } } } },
          },
        ],
      },
    },
  });
  await waitFor(
    async () => {
      const crd = await extensions.readCustomResourceDefinition({ name: "widgets.devstack.test.dev" });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
    },
    { what: "the Widget CRD to be established", timeoutMs: 30_000 },
  );

  const objects = config.makeApiClient(CustomObjectsApi);
  await objects.createNamespacedCustomObject({
    group: "devstack.test.dev",
    version: "v1",
    namespace: "default",
    plural: "widgets",
    body: { apiVersion: "devstack.test.dev/v1", kind: "Widget", metadata: { name: "first" }, spec: { size: 3 } },
  });

  const { stdout } = await kube().kubectl(["get", "widgets.devstack.test.dev", "first", "-n", "default", "-o", "json"]);
  const widget = JSON.parse(stdout) as { kind: string; metadata: { name: string }; spec: { size: number } };
  t.is(widget.kind, "Widget");
  t.is(widget.metadata.name, "first");
  t.is(widget.spec.size, 3);
});

test.serial("kubectl applies what a user types and the apiserver enforces the schema", async (t) => {
  const applied = await kube().kubectl(["apply", "-f", "-"], {
    input: "apiVersion: devstack.test.dev/v1\nkind: Widget\nmetadata: {name: second, namespace: default}\nspec: {size: 5}\n",
  });
  t.regex(applied.stdout, /widget.devstack.test.dev\/second created/);
  const rejected = await kube().kubectl(["apply", "-f", "-"], {
    input: "apiVersion: devstack.test.dev/v1\nkind: Widget\nmetadata: {name: third, namespace: default}\nspec: {size: many}\n",
    allowFailure: true,
  });
  t.not(rejected.code, 0);
  t.regex(rejected.stderr, /spec\.size/);
});

test("helm and kubectl are real binaries of the pinned versions", async (t) => {
  const helm = await kube().helm(["version", "--short"]);
  t.true(helm.stdout.startsWith(TOOL_VERSIONS.helm), helm.stdout);
  const kubectl = await kube().kubectl(["version", "-o", "json"]);
  const versions = JSON.parse(kubectl.stdout) as { clientVersion: { minor: string }; serverVersion: { gitVersion: string } };
  t.is(versions.serverVersion.gitVersion, TOOL_VERSIONS.kubernetes);
  t.true(Number.parseInt(versions.clientVersion.minor, 10) >= 20);
});

test.serial("a stopped stack leaves no process and no port behind", async (t) => {
  const second = await startDevStack({ openstack: false });
  const pids = [second.kube!.apiserver.pid, second.kube!.etcd.pid];
  const server = second.kube!.server;
  t.true(pids.every(isAlive));
  await second.stop();
  t.false(pids.some(isAlive));
  await t.throwsAsync(fetch(`${server}/readyz`));
});

test("the audit log names who wrote what, and never what a Secret holds", async (t) => {
  await kube().kubectl(["create", "configmap", "audited", "-n", "default", "--from-literal=k=v"]);
  await kube().kubectl(["create", "secret", "generic", "audited", "-n", "default", "--from-literal=password=audit-secret-value"]);
  await kube().kubectl(["delete", "configmap", "audited", "-n", "default"]);
  const events = await kube().readAuditLog();
  const mine = events.filter((e) => e.objectRef?.name === "audited").map((e) => [e.verb, e.objectRef?.resource, e.user.username, e.responseStatus?.code]);
  t.deepEqual(mine, [
    ["create", "configmaps", "dev-admin", 201],
    ["create", "secrets", "dev-admin", 201],
    ["delete", "configmaps", "dev-admin", 200],
  ]);
  t.true(events.every((e) => e.stage === "ResponseComplete"), "one event per request");
  const text = await readFile(kube().auditLogPath, "utf8");
  t.false(text.includes("audit-secret-value"));
  t.false(text.includes(Buffer.from("audit-secret-value").toString("base64")));
  // Reads are not audited.
  t.false(events.some((e) => e.verb === "get" || e.verb === "list" || e.verb === "watch"));
});

test("a kubeconfig through a TCP proxy in front of kube-apiserver works (TLS passes through), and cutting the proxy's connections cuts watches", async (t) => {
  const ports = local.stack().ports;
  const proxy = await startFaultProxy({ listenPort: await ports.allocate(), targetPort: Number(new URL(kube().server).port) });
  try {
    const via = await kube().kubeconfigVia(`https://127.0.0.1:${proxy.port}`);
    const config = new KubeConfig();
    config.loadFromFile(via);
    const watch = new Watch(config);
    const ended = new Promise<unknown>((resolve) => {
      void watch.watch("/api/v1/namespaces/default/configmaps", {}, () => {}, (error) => resolve(error ?? "ended"));
    });
    await waitFor(() => (proxy.stats().active > 0 ? true : undefined), { what: "the watch through the proxy", timeoutMs: 10_000 });
    proxy.closeConnections();
    t.truthy(await ended, "the watch ended when its connection was cut");
    const listed = await kube().kubectl(["--kubeconfig", via, "get", "namespaces", "-o", "name"]);
    t.regex(listed.stdout, /namespace\/default/);
  } finally {
    await proxy.close();
  }
});
