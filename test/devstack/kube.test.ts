import test from "ava";
import { ApiextensionsV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
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
