/**
 * The rules of docs/foundations.md (section 7) under real faults: Cinder stopped, Secrets rotated,
 * broken and deleted, hand edits, deletion while image volumes remain.
 * Each test has a target of its own.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { waitFor } from "../../src/devstack/wait.js";
import { condition, E2E, isReady, NAMESPACE, unique, type StoreJson } from "./support.js";

let e2e: E2E;

test.before(async () => {
  e2e = await E2E.start();
  // The rollout test below needs the operator to roll opted-in workloads.
  await e2e.startOperator({ recheckPeriod: "4s", extraArgs: ["--rollout-workloads=true"] });
});

test.after.always(async () => {
  await e2e?.stop();
});

test.serial("Cinder stopped: rendered stores stay rendered, byte for byte, and turn not Ready; they recover when Cinder is back", async (t) => {
  const target = "outage";
  const a = await e2e.openstack.admin.createVolumeType(unique("out-a"));
  const b = await e2e.openstack.admin.createVolumeType(unique("out-b"));
  await e2e.apply(e2e.store("out-a", { target, storeId: "a", volumeType: a.name, default: true }));
  await e2e.apply(e2e.store("out-b", { target, storeId: "b", volumeType: b.name }));
  await e2e.waitForStore("out-a", "Ready", isReady);
  await e2e.waitForStore("out-b", "Ready", isReady);
  const before = await e2e.renderedFiles(target);

  await e2e.openstack.cinder.stop();
  try {
    for (const name of ["out-a", "out-b"]) {
      const down = await e2e.waitForStore(name, "not Ready while Cinder is down", (s) => condition(s, "Ready")?.status === "False", 90_000);
      t.is(condition(down, "Ready")?.reason, "Unreachable");
      t.true(down.status?.rendered);
      t.is(down.status?.addDelete, "Disabled");
      t.is(condition(down, "Rendered")?.reason, "KeptLastGood");
      t.is(condition(down, "CredentialsValid")?.status, "True", "Keystone still answers");
    }
    t.deepEqual(await e2e.renderedFiles(target), before);
  } finally {
    await e2e.openstack.cinder.start();
  }
  await e2e.waitForStore("out-a", "Ready again", isReady, 60_000);
  await e2e.waitForStore("out-b", "Ready again", isReady, 60_000);
  t.deepEqual(await e2e.renderedFiles(target), before);
  // Seen here: glance-api itself cannot start while Cinder is unreachable (it looks its volume types up and exits 99),
  // so the proof that nothing was lost is that it starts from the kept files once Cinder is back.
  const glance = await e2e.startGlance(target, "eventlet");
  t.deepEqual((await glance.stores()).map((s) => s.id), ["a", "b"]);
  await glance.stop();
  const events = await eventsOf("out-a");
  t.true(events.some(([type, reason]) => type === "Warning" && reason === "Unreachable"), JSON.stringify(events));
});

test.serial("rotating a Secret updates the credentials file and the rollout hash; a wrong new password is not rendered; nothing else rolls", async (t) => {
  const target = "rotation";
  const admin = e2e.openstack.admin;
  const type = await admin.createVolumeType(unique("rot"));
  const username = unique("rotator");
  const userId = await admin.createUser({ name: username, password: "first-password", defaultProjectId: e2e.openstack.serviceProjectId });
  await admin.grantProjectRole(e2e.openstack.serviceProjectId, userId, "admin");
  const credentials = { ...e2e.openstack.glanceCredentials, username, password: "first-password" };
  await e2e.putCredentialsSecret("rotating", credentials);
  await e2e.apply(deployment("glance-rotation", target));
  await e2e.apply(e2e.store("rot", { target, volumeType: type.name, default: true, credentialsSecretRef: { name: "rotating" } }));
  await e2e.waitForStore("rot", "Ready", isReady);
  const firstHash = await waitFor(async () => podTemplateHash("glance-rotation"), { what: "the rollout hash", timeoutMs: 30_000 });
  t.regex(firstHash, /^[0-9a-f]{64}$/);

  // Keystone first, then the Secret, as an operator of the cloud would rotate.
  await admin.setUserPassword(userId, "second-password");
  await e2e.putCredentialsSecret("rotating", { ...credentials, password: "second-password" });
  await waitFor(async () => ((await e2e.renderedFiles(target))?.credentialsConf.includes("second-password") ? true : undefined), {
    what: "the new password in the credentials file",
    timeoutMs: 30_000,
  });
  const secondHash = await waitFor(async () => {
    const hash = await podTemplateHash("glance-rotation");
    return hash !== undefined && hash !== firstHash ? hash : undefined;
  }, { what: "a new rollout hash", timeoutMs: 30_000 });
  t.false(secondHash.includes("second-password"));

  // A password Keystone refuses never reaches Glance (rule 1); the store keeps running on the last good one (rule 2).
  await e2e.putCredentialsSecret("rotating", { ...credentials, password: "typo-password" });
  const refused = await e2e.waitForStore("rot", "AuthFailed", (s) => condition(s, "CredentialsValid")?.reason === "AuthFailed");
  t.true(refused.status?.rendered);
  t.is(condition(refused, "Ready")?.status, "False");
  const files = await e2e.renderedFiles(target);
  t.true(files?.credentialsConf.includes("second-password"));
  t.false(files?.credentialsConf.includes("typo-password"));

  // Back to the good password: Ready, and the same files, so no rollout.
  await e2e.putCredentialsSecret("rotating", { ...credentials, password: "second-password" });
  await e2e.waitForStore("rot", "Ready", isReady);
  // A change that does not touch the files (a label) must not roll either.
  await e2e.kube.kubectl(["label", "glancestore", "-n", NAMESPACE, "rot", "team=storage"]);
  await e2e.waitForStore("rot", "reconciled after the label", (s) => isReady(s));
  t.is(await podTemplateHash("glance-rotation"), secondHash);
});

test.serial("a hand edit of the rendered ConfigMap or Secret is put back", async (t) => {
  const target = "hand-edit";
  const type = await e2e.openstack.admin.createVolumeType(unique("he"));
  await e2e.apply(e2e.store("he", { target, volumeType: type.name, default: true }));
  await e2e.waitForStore("he", "Ready", isReady);
  const good = await e2e.renderedFiles(target);
  await e2e.kube.kubectl(["patch", "configmap", "-n", NAMESPACE, `${target}-stores`, "--type=merge", "-p", JSON.stringify({ data: { "glance-api-stores.conf": "[DEFAULT]\nenabled_backends = evil:cinder\n", extra: "x" } })]);
  await e2e.kube.kubectl(["patch", "secret", "-n", NAMESPACE, `${target}-stores-credentials`, "--type=merge", "-p", JSON.stringify({ stringData: { "glance-api-stores-credentials.conf": "[he]\ncinder_store_password = \"stolen\"\n" } })]);
  await waitFor(async () => (isDeepEqual(await e2e.renderedFiles(target), good) ? true : undefined), { what: "the files to be put back", timeoutMs: 30_000 });
  const configMap = JSON.parse((await e2e.kube.kubectl(["get", "configmap", "-n", NAMESPACE, `${target}-stores`, "-o", "json"])).stdout) as { data: Record<string, string> };
  t.deepEqual(Object.keys(configMap.data), ["glance-api-stores.conf"]);
});

test.serial("the Secret of a rendered store is deleted: the store stays rendered with its last password and says SecretNotFound", async (t) => {
  const target = "secret-gone";
  const type = await e2e.openstack.admin.createVolumeType(unique("sg"));
  await e2e.putCredentialsSecret("doomed", e2e.openstack.glanceCredentials);
  await e2e.apply(e2e.store("sg", { target, volumeType: type.name, default: true, credentialsSecretRef: { name: "doomed" } }));
  await e2e.waitForStore("sg", "Ready", isReady);
  const before = await e2e.renderedFiles(target);
  await e2e.kube.kubectl(["delete", "secret", "-n", NAMESPACE, "doomed"]);
  const gone = await e2e.waitForStore("sg", "SecretNotFound", (s) => condition(s, "CredentialsValid")?.reason === "SecretNotFound");
  t.true(gone.status?.rendered);
  t.is(gone.status?.addDelete, "Disabled");
  t.deepEqual(await e2e.renderedFiles(target), before);
});

test.serial("deleting a store with image volumes left is held with the count; the annotation releases it", async (t) => {
  const target = "deletion";
  const admin = e2e.openstack.admin;
  const keep = await admin.createVolumeType(unique("del-keep"));
  const held = await admin.createVolumeType(unique("del-held"));
  await e2e.apply(e2e.store("del-keep", { target, storeId: "keep", volumeType: keep.name, default: true }));
  await e2e.apply(e2e.store("del-held", { target, storeId: "held", volumeType: held.name }));
  await e2e.apply(e2e.store("del-empty", { target, storeId: "empty", volumeType: keep.name === held.name ? unique("x") : (await admin.createVolumeType(unique("del-empty"))).name }));
  for (const name of ["del-keep", "del-held", "del-empty"]) await e2e.waitForStore(name, "Ready", isReady);
  const owner = e2e.openstack.glanceCredentials;
  const volumes = [];
  for (let i = 0; i < 2; i++) volumes.push(await admin.createVolume({ name: `image-${randomUUID()}`, volumeType: held.name, owner }));
  // A volume of the type that is not an image volume does not hold the store.
  await admin.createVolume({ name: "scratch", volumeType: held.name, owner });

  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "del-held", "--wait=false"]);
  const blocked = await e2e.waitForStore("del-held", "deletion blocked with a count", (s) => s.status?.imageVolumes === 2);
  t.is(condition(blocked, "Ready")?.reason, "DeletionBlocked");
  t.regex(condition(blocked, "Ready")!.message, /2 image volume\(s\)/);
  t.true((await e2e.renderedFiles(target))!.storesConf.includes("[held]"));

  await e2e.openstack.purgeVolume(volumes[0]!.id);
  await e2e.waitForStore("del-held", "the count to follow Cinder", (s) => s.status?.imageVolumes === 1, 30_000);

  // A store without image volumes leaves at once.
  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "del-empty", "--wait=false"]);
  await e2e.waitForGone("del-empty", 30_000);
  t.false((await e2e.renderedFiles(target))!.storesConf.includes("[empty]"));

  await e2e.kube.kubectl(["annotate", "glancestore", "-n", NAMESPACE, "del-held", "glance.stores.dev/force-delete=true"]);
  await e2e.waitForGone("del-held", 30_000);
  const files = await e2e.renderedFiles(target);
  t.false(files!.storesConf.includes("[held]"));
  t.true(files!.storesConf.includes("[keep]"));
  t.true(isReady((await e2e.getStore("del-keep")) as StoreJson));
});

test.serial("a GlanceStoreTarget reports the opted-in Deployment's rollout: not complete until every replica runs the new config hash", async (t) => {
  const target = "rolling";
  const type = await e2e.openstack.admin.createVolumeType(unique("glance-roll"));
  await e2e.apply(deployment("glance-rolling", target));
  await e2e.apply({
    apiVersion: "glance.stores.dev/v1alpha1",
    kind: "GlanceStoreTarget",
    metadata: { name: target, namespace: NAMESPACE },
    spec: { glance: { check: false } },
  });
  await e2e.apply(e2e.store("roll-fast", { target, storeId: "fast", volumeType: type.name, default: true }));
  await e2e.waitForStore("roll-fast", "Ready", isReady);
  const hash = await waitFor(async () => podTemplateHash("glance-rolling"), { what: "the rollout hash", timeoutMs: 30_000 });
  const rollout = async (): Promise<{ status?: { configHash?: string; rollout?: { name: string; complete: boolean; message?: string }[]; conditions?: { type: string; status: string; reason: string }[] } }> =>
    JSON.parse((await e2e.kube.kubectl(["get", "glancestoretarget", "-n", NAMESPACE, target, "-o", "json"])).stdout);
  const rolling = await waitFor(async () => {
    const current = await rollout();
    return current.status?.conditions?.find((c) => c.type === "RolloutComplete")?.reason === "RollingOut" ? current : undefined;
  }, { what: "RolloutComplete=False", timeoutMs: 30_000 });
  t.is(rolling.status?.configHash, hash, "the status shows the hash the workload carries");
  t.like(rolling.status?.rollout?.[0], { name: "glance-rolling", complete: false });
  // No kube-controller-manager runs here: its Deployment controller's status report is written as it would write it.
  const generation = JSON.parse((await e2e.kube.kubectl(["get", "deployment", "-n", NAMESPACE, "glance-rolling", "-o", "json"])).stdout).metadata.generation as number;
  const status = { observedGeneration: generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };
  await e2e.kube.kubectl(["patch", "deployment", "-n", NAMESPACE, "glance-rolling", "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);
  const done = await waitFor(async () => {
    const current = await rollout();
    return current.status?.conditions?.find((c) => c.type === "RolloutComplete")?.status === "True" ? current : undefined;
  }, { what: "RolloutComplete=True", timeoutMs: 30_000 });
  t.like(done.status?.rollout?.[0], { name: "glance-rolling", complete: true });
  // Glance is not asked here (spec.glance.check: false): serving stays unknown rather than claimed.
  t.is(done.status?.conditions?.find((c) => c.type === "Serving")?.status, "Unknown");
});

function deployment(name: string, target: string): object {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NAMESPACE, annotations: { "glance.stores.dev/target": target } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "glance-api", image: "glance-api:placeholder" }] } },
    },
  };
}

async function podTemplateHash(name: string): Promise<string | undefined> {
  const result = await e2e.kube.kubectl(["get", "deployment", "-n", NAMESPACE, name, "-o", "jsonpath={.spec.template.metadata.annotations.glance\\.stores\\.dev/config-hash}"]);
  return result.stdout.trim() || undefined;
}

async function eventsOf(name: string): Promise<[string, string][]> {
  const events = JSON.parse((await e2e.kube.kubectl(["get", "events.events.k8s.io", "-n", NAMESPACE, "-o", "json"])).stdout) as {
    items: { regarding: { name: string }; reason: string; type: string }[];
  };
  return events.items.filter((e) => e.regarding.name === name).map((e) => [e.type, e.reason]);
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
