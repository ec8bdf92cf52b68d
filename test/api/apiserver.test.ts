/**
 * The shared table of test/api/cases.ts against a real kube-apiserver with
 * the committed CRD (crds/glancestore.yaml), applied with the real kubectl:
 * every invalid object is refused with a message naming its field, every
 * valid one is accepted and comes back with the same defaults zod applies.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { GLANCE_STORE_CRD_NAME, GlanceStoreSchema, GlanceStoreStatusSchema } from "../../src/api/glancestore.js";
import { GLANCE_STORE_TARGET_CRD_NAME, GlanceStoreTargetSchema, GlanceStoreTargetStatusSchema } from "../../src/api/glancestoretarget.js";
import type { CommandResult } from "../../src/devstack/command.js";
import type { KubeCluster } from "../../src/devstack/kube.js";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { glanceStore, INVALID_CASES, INVALID_UPDATE_CASES, VALID_CASES, VALID_UPDATE_CASES, type Manifest } from "./cases.js";

const CRD_PATH = fileURLToPath(new URL("../../../crds/glancestore.yaml", import.meta.url));
const TARGET_CRD_PATH = fileURLToPath(new URL("../../../crds/glancestoretarget.yaml", import.meta.url));
const NAMESPACE = "gso-api";

let stack: DevStack;

test.before(async () => {
  stack = await startDevStack({ openstack: false });
  const k = kube();
  await k.kubectl(["apply", "-f", CRD_PATH, "-f", TARGET_CRD_PATH]);
  await k.kubectl(["wait", "--for=condition=Established", `crd/${GLANCE_STORE_CRD_NAME}`, `crd/${GLANCE_STORE_TARGET_CRD_NAME}`, "--timeout=60s"]);
  await k.kubectl(["create", "namespace", NAMESPACE]);
});

test.after.always(async () => {
  await stack?.stop();
});

function kube(): KubeCluster {
  if (!stack.kube) throw new Error("the stack was started without Kubernetes");
  return stack.kube;
}

// Two cores are shared with other test files: a few kubectl processes at a time.
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(work: () => Promise<T>): Promise<T> {
  while (running >= 3) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await work();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

const apply = (object: Manifest): Promise<CommandResult> =>
  limited(() => kube().kubectl(["apply", "-n", NAMESPACE, "-f", "-"], { input: JSON.stringify(object), allowFailure: true }));

const getStore = async (name: string): Promise<Record<string, unknown> & { spec: unknown }> =>
  JSON.parse((await limited(() => kube().kubectl(["get", "glancestore", name, "-n", NAMESPACE, "-o", "json"]))).stdout) as Record<string, unknown> & { spec: unknown };

for (const invalid of INVALID_CASES) {
  test(`the apiserver refuses, naming ${invalid.field}: ${invalid.name}`, async (t) => {
    const result = await apply(invalid.object);
    t.not(result.code, 0, result.stdout);
    t.true(result.stderr.includes(invalid.field), result.stderr);
    // Rows that carry a stand-in password: the refusal (a CEL rule, not a pattern) must not echo it.
    if (JSON.stringify(invalid.object).includes("hunter2")) t.false(result.stderr.includes("hunter2"), result.stderr);
    const after = await limited(() => kube().kubectl(["get", "glancestore", invalid.object.metadata.name, "-n", NAMESPACE], { allowFailure: true }));
    t.regex(after.stderr, /NotFound/);
  });
}

for (const valid of VALID_CASES) {
  test(`the apiserver accepts, with zod's defaults: ${valid.name}`, async (t) => {
    const result = await apply(valid.object);
    t.is(result.code, 0, result.stderr);
    const stored = await getStore(valid.object.metadata.name);
    t.deepEqual(stored.spec, GlanceStoreSchema.parse(valid.object).spec);
  });
}

for (const update of INVALID_UPDATE_CASES) {
  test(`the apiserver refuses the update, naming ${update.field}: ${update.name}`, async (t) => {
    const created = await apply(update.before);
    t.is(created.code, 0, created.stderr);
    const result = await apply(update.after);
    t.not(result.code, 0, result.stdout);
    t.true(result.stderr.includes(update.field), result.stderr);
  });
}

for (const update of VALID_UPDATE_CASES) {
  test(`the apiserver allows the update: ${update.name}`, async (t) => {
    t.is((await apply(update.before)).code, 0);
    const result = await apply(update.after);
    t.is(result.code, 0, result.stderr);
    t.deepEqual((await getStore(update.after.metadata.name)).spec, GlanceStoreSchema.parse(update.after).spec);
  });
}

test("status is written through its subresource, validated, and shown by kubectl get", async (t) => {
  const k = kube();
  t.is((await apply(glanceStore("printed", { default: true, volumeType: "glance-fast" }))).code, 0);
  const status = {
    observedGeneration: 1,
    storeId: "printed",
    volumeType: "glance-fast",
    volumeTypeId: "6f1c5e0e-1111-4000-8000-000000000000",
    addDelete: "Enabled",
    addDeleteEnabled: true,
    rendered: true,
    conditions: [{ type: "Ready", status: "True", observedGeneration: 1, lastTransitionTime: "2024-05-01T10:00:00Z", reason: "StoreReady", message: "usable" }],
  };
  t.true(GlanceStoreStatusSchema.safeParse(status).success);
  await k.kubectl(["patch", "glancestore", "printed", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);

  const table = await k.kubectl(["get", "glancestores", "printed", "-n", NAMESPACE]);
  const [header, row] = table.stdout.trimEnd().split("\n");
  t.regex(header ?? "", /^NAME\s+STORE ID\s+VOLUME TYPE\s+DEFAULT\s+ADD\/DELETE\s+READY\s+AGE$/);
  t.regex(row ?? "", /^printed\s+printed\s+glance-fast\s+true\s+Enabled\s+True\s+\S+$/);
  const wide = await k.kubectl(["get", "gst", "printed", "-n", NAMESPACE, "-o", "wide"]);
  t.regex(wide.stdout, /TARGET\s+REASON/);
  t.regex(wide.stdout, /glance-api\s+StoreReady/);

  const badCondition = { conditions: [{ ...status.conditions[0], reason: "all good" }] };
  t.false(GlanceStoreStatusSchema.safeParse(badCondition).success);
  const refused = await k.kubectl(["patch", "glancestore", "printed", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: badCondition })], { allowFailure: true });
  t.not(refused.code, 0);
  t.true(refused.stderr.includes("status.conditions[0].reason"), refused.stderr);
  const badAddDelete = await k.kubectl(["patch", "glancestore", "printed", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", '{"status":{"addDelete":"Maybe"}}'], { allowFailure: true });
  t.true(badAddDelete.stderr.includes("status.addDelete"), badAddDelete.stderr);
});

// The apiserver publishes a new CRD's OpenAPI some time after it is Established:
// wait for kubectl explain to find it. Descriptions come wrapped at 80 columns.
const explain = async (path: string): Promise<string> => {
  const result = await waitFor(
    async () => {
      const run = await kube().kubectl(["explain", path], { allowFailure: true });
      if (run.code !== 0) throw new Error(run.stderr.trim());
      return run.stdout;
    },
    { what: `kubectl explain ${path}`, timeoutMs: 60_000, intervalMs: 500 },
  );
  return result.replace(/\s+/g, " ");
};

test("kubectl explain glancestore.spec is a usable reference", async (t) => {
  const spec = await explain("glancestore.spec");
  for (const line of [
    /credentialsSecretRef <Object> -required-/,
    /storeId <string>/,
    /cinder_volume_type: the Cinder volume type/,
    /store_description: a human-readable description/,
    /Exactly one store per target must be the default/,
    /cinder_http_retries: how many times a failed call to Cinder is retried\. 0 to 100, default 3\./,
  ]) {
    t.regex(spec, line);
  }
  const storeId = await explain("glancestore.spec.storeId");
  t.regex(storeId, /Defaults to metadata\.name/);
  t.regex(storeId, /Immutable/);
  const secretRef = await explain("glancestore.spec.credentialsSecretRef");
  t.regex(secretRef, /applicationCredentialId/);
  t.regex(secretRef, /clouds\.yaml/);
});

// GlanceStoreTarget: the apiserver and zod refuse and default alike.

const target = (name: string, spec: Record<string, unknown>): Manifest =>
  ({ apiVersion: "glance.stores.dev/v1alpha1", kind: "GlanceStoreTarget", metadata: { name, namespace: NAMESPACE }, spec }) as unknown as Manifest;

const INVALID_TARGETS: { name: string; field: string; object: Manifest }[] = [
  { name: "a name that is not a DNS label (GlanceStores name it in spec.target)", field: "metadata.name", object: target("glance.api", {}) },
  { name: "a cinder store among otherStores", field: "spec.otherStores[0].type", object: target("t-cinder", { otherStores: [{ id: "x", type: "cinder" }] }) },
  { name: "an other store with a reserved id", field: "spec.otherStores[0].id", object: target("t-reserved", { otherStores: [{ id: "os_glance_x", type: "file" }] }) },
  { name: "an other store named like a group glance-api uses", field: "spec.otherStores[0].id", object: target("t-group", { otherStores: [{ id: "file", type: "file" }] }) },
  { name: "two other stores with one id", field: "spec.otherStores[1]", object: target("t-dup", { otherStores: [{ id: "local", type: "file" }, { id: "local", type: "rbd" }] }) },
  { name: "a default that is no store id", field: "spec.defaultStore", object: target("t-default", { defaultStore: "Fast Store" }) },
  { name: "a Glance URL with user information", field: "spec.glance.url", object: target("t-userinfo", { glance: { url: "http://glance:hunter2@glance.openstack.svc:9292" } }) },
  { name: "a Glance URL that is not http(s)", field: "spec.glance.url", object: target("t-scheme", { glance: { url: "ftp://glance" } }) },
  { name: "an unknown interface", field: "spec.glance.interface", object: target("t-interface", { glance: { interface: "private" } }) },
  { name: "an unknown field", field: "spec.stores", object: target("t-unknown", { stores: [] }) },
];

for (const invalid of INVALID_TARGETS) {
  test(`GlanceStoreTarget: zod and the apiserver refuse ${invalid.name}, naming ${invalid.field}`, async (t) => {
    t.false(GlanceStoreTargetSchema.safeParse(invalid.object).success, "zod refuses it too");
    const result = await limited(() => kube().kubectl(["apply", "--validate=strict", "-n", NAMESPACE, "-f", "-"], { input: JSON.stringify(invalid.object), allowFailure: true }));
    t.not(result.code, 0, result.stdout);
    t.true(result.stderr.includes(invalid.field), result.stderr);
    t.false(result.stderr.includes("hunter2"), "the refusal does not echo the password");
  });
}

test("GlanceStoreTarget: a valid one is stored with zod's defaults, its status written through the subresource and printed", async (t) => {
  const object = target("glance-api", { defaultStore: "local", otherStores: [{ id: "local", type: "file" }, { id: "ceph", type: "rbd" }], glance: { url: "http://glance-api.gso-api.svc:9292" } });
  const applied = await apply(object);
  t.is(applied.code, 0, applied.stderr);
  const stored = JSON.parse((await kube().kubectl(["get", "glancestoretarget", "glance-api", "-n", NAMESPACE, "-o", "json"])).stdout) as { spec: unknown };
  t.deepEqual(stored.spec, GlanceStoreTargetSchema.parse(object).spec);
  const status = {
    summary: "serving: ceph, fast, local (default local); config written; no legacy volumes uncovered; hash 0123456789ab",
    enabledBackends: "ceph:rbd, fast:cinder, local:file",
    defaultStore: "local",
    config: { state: "Written" },
    uncoveredImageVolumeCount: 0,
    conditions: [{ type: "Serving", status: "True", lastTransitionTime: "2026-11-30T10:00:00Z", reason: "Serving", message: "Glance serves the configuration" }],
  };
  t.true(GlanceStoreTargetStatusSchema.safeParse(status).success);
  await kube().kubectl(["patch", "glancestoretarget", "glance-api", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);
  const table = await kube().kubectl(["get", "gstt", "glance-api", "-n", NAMESPACE, "-o", "wide"]);
  const [header, row] = table.stdout.trimEnd().split("\n");
  t.regex(header ?? "", /^NAME\s+DEFAULT\s+STORES\s+CONFIG\s+UNCOVERED\s+SERVING\s+SUMMARY\s+HASH\s+AGE$/);
  t.regex(row ?? "", /^glance-api\s+local\s+ceph:rbd, fast:cinder, local:file\s+Written\s+0\s+True\s+serving: ceph/);
  const refused = await kube().kubectl(["patch", "glancestoretarget", "glance-api", "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", '{"status":{"config":{"state":"Maybe"}}}'], { allowFailure: true });
  t.true(refused.stderr.includes("status.config.state"), refused.stderr);
});
