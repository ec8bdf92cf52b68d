/**
 * The operator against the real stack: stores become Ready and rendered,
 * a real glance-api runs from what it rendered, and what must not be
 * rendered is not. Each test uses a target of its own, so they share one
 * stack and one operator without seeing each other's stores.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { waitFor } from "../../src/devstack/wait.js";
import { condition, E2E, isReady, NAMESPACE, unique, type OperatorProcess } from "./support.js";

let e2e: E2E;
let operator: OperatorProcess;

test.before(async () => {
  e2e = await E2E.start();
  operator = await e2e.startOperator({ recheckPeriod: "5s" });
});

test.after.always(async () => {
  await e2e?.stop();
});

test.serial("two stores become Ready, and a real glance-api started from the rendered files lists exactly them", async (t) => {
  const fast = await e2e.openstack.admin.createVolumeType(unique("glance-fast"));
  const slow = await e2e.openstack.admin.createVolumeType(unique("glance-slow"));
  await e2e.apply(e2e.store("fast", { volumeType: fast.name, default: true, description: "Fast $tier" }));
  await e2e.apply(e2e.store("slow", { volumeType: slow.name }));
  const ready = await e2e.waitForStore("fast", "Ready", isReady);
  await e2e.waitForStore("slow", "Ready", isReady);
  t.deepEqual(
    [ready.status?.storeId, ready.status?.volumeType, ready.status?.volumeTypeId, ready.status?.addDelete, ready.status?.rendered],
    ["fast", fast.name, fast.id, "Enabled", true],
  );
  t.true(ready.metadata.finalizers?.includes("glance.stores.dev/image-volumes"));

  const files = await e2e.renderedFiles();
  t.truthy(files);
  t.false(files!.storesConf.includes(e2e.openstack.glanceCredentials.password), "no password in the ConfigMap");
  t.true(files!.credentialsConf.includes(e2e.openstack.glanceCredentials.password));

  const glance = await e2e.startGlance("glance-api", "wsgi");
  try {
    t.deepEqual(await glance.stores(), [{ id: "fast", description: "Fast $tier", default: "true" }, { id: "slow" }]);
    t.deepEqual(
      (await glance.storesDetail()).map((s) => [s.id, s.properties?.["volume_type"]]),
      [
        ["fast", fast.name],
        ["slow", slow.name],
      ],
    );
  } finally {
    await glance.stop();
  }

  const table = await e2e.kube.kubectl(["get", "glancestores", "-n", NAMESPACE, "fast", "slow"]);
  const [header, ...rows] = table.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/));
  t.deepEqual(header, ["NAME", "STORE", "ID", "VOLUME", "TYPE", "DEFAULT", "ADD/DELETE", "READY", "AGE"]);
  t.deepEqual(rows.map((row) => row.slice(0, 6)), [
    ["fast", "fast", fast.name, "true", "Enabled", "True"],
    ["slow", "slow", slow.name, "false", "Enabled", "True"],
  ]);
});

test.serial("a store whose volume type is missing is not rendered, says VolumeTypeNotFound, and becomes Ready by itself once the type exists", async (t) => {
  const target = "missing-type";
  const base = await e2e.openstack.admin.createVolumeType(unique("base"));
  const later = unique("later");
  await e2e.apply(e2e.store("mt-base", { target, storeId: "base", volumeType: base.name, default: true }));
  await e2e.apply(e2e.store("mt-later", { target, storeId: "later", volumeType: later }));
  const waiting = await e2e.waitForStore("mt-later", "VolumeTypeNotFound", (s) => condition(s, "VolumeTypeAvailable")?.reason === "VolumeTypeNotFound");
  t.false(waiting.status?.addDeleteEnabled);
  t.is(waiting.status?.addDelete, "Disabled");
  t.false(waiting.status?.rendered);
  t.is(condition(waiting, "Ready")?.reason, "VolumeTypeNotFound");
  await e2e.waitForStore("mt-base", "Ready", isReady);
  t.false((await e2e.renderedFiles(target))!.storesConf.includes("[later]"));

  const created = Date.now();
  await e2e.openstack.admin.createVolumeType(later);
  const ready = await e2e.waitForStore("mt-later", "Ready once the type exists", isReady, 30_000);
  // Within one re-check period (5 s) plus the reconcile itself.
  t.true(Date.now() - created < 20_000, `took ${Date.now() - created} ms`);
  t.true(ready.status?.rendered);
  t.true((await e2e.renderedFiles(target))!.storesConf.includes("[later]"));

  const events = JSON.parse((await e2e.kube.kubectl(["get", "events.events.k8s.io", "-n", NAMESPACE, "-o", "json"])).stdout) as {
    items: { regarding: { name: string }; reason: string; type: string }[];
  };
  const mine = events.items.filter((e) => e.regarding.name === "mt-later").map((e) => [e.type, e.reason]);
  t.deepEqual(mine.filter(([, reason]) => reason === "VolumeTypeNotFound").length, 1, JSON.stringify(mine));
  t.true(mine.some(([type, reason]) => type === "Normal" && reason === "Ready"), JSON.stringify(mine));
});

test.serial("a new store with a wrong password is not rendered, and glance-api still starts from the config", async (t) => {
  const target = "wrong-password";
  const type = await e2e.openstack.admin.createVolumeType(unique("wp"));
  // A user of its own: Keystone runs with lockout, and the shared glance user must never collect failures.
  const username = unique("wp-user");
  const userId = await e2e.openstack.admin.createUser({ name: username, password: "wp-right-password", defaultProjectId: e2e.openstack.serviceProjectId });
  await e2e.openstack.admin.grantProjectRole(e2e.openstack.serviceProjectId, userId, "admin");
  await e2e.putCredentialsSecret("wrong-password", { ...e2e.openstack.glanceCredentials, username, password: "not-the-password" });
  await e2e.apply(e2e.store("wp-good", { target, storeId: "good", volumeType: type.name, default: true }));
  await e2e.waitForStore("wp-good", "Ready", isReady);
  await e2e.apply(e2e.store("wp-bad", { target, storeId: "bad", volumeType: type.name, credentialsSecretRef: { name: "wrong-password" } }));
  const bad = await e2e.waitForStore("wp-bad", "CredentialsValid False", (s) => condition(s, "CredentialsValid")?.status === "False");
  t.is(condition(bad, "CredentialsValid")?.reason, "AuthFailed");
  t.false(bad.status?.rendered);
  t.false(JSON.stringify(bad).includes("not-the-password"));
  const files = await e2e.renderedFiles(target);
  t.false(files!.storesConf.includes("[bad]"));
  t.false(files!.credentialsConf.includes("not-the-password"));
  const glance = await e2e.startGlance(target, "eventlet");
  try {
    t.deepEqual((await glance.stores()).map((s) => s.id), ["good"]);
  } finally {
    await glance.stop();
  }
});

test.serial("two defaults and two stores with one id: the older store wins, the newer says why", async (t) => {
  const target = "conflicts";
  const type = await e2e.openstack.admin.createVolumeType(unique("cf"));
  // Named so that name order would pick the other one: age must decide.
  await e2e.apply(e2e.store("zz-older", { target, storeId: "images", volumeType: type.name, default: true }));
  const older = await e2e.waitForStore("zz-older", "Ready", isReady);
  const olderCreated = Date.parse((older.metadata as { creationTimestamp?: string }).creationTimestamp ?? "");
  // creationTimestamp has second precision: make sure the next ones are later.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, olderCreated + 1_100 - Date.now())));
  await e2e.apply(e2e.store("aa-same-id", { target, storeId: "images", volumeType: type.name }));
  await e2e.apply(e2e.store("aa-second-default", { target, storeId: "other", volumeType: type.name, default: true }));

  const sameId = await e2e.waitForStore("aa-same-id", "DuplicateStoreId", (s) => condition(s, "Rendered")?.reason === "DuplicateStoreId");
  t.regex(condition(sameId, "Rendered")!.message, /GlanceStore zz-older, which is older/);
  t.false(sameId.status?.rendered);
  const second = await e2e.waitForStore("aa-second-default", "DefaultConflict", (s) => condition(s, "Rendered")?.reason === "DefaultConflict");
  t.true(second.status?.rendered);
  const files = await e2e.renderedFiles(target);
  t.regex(files!.storesConf, /default_backend = images/);
  t.regex(files!.storesConf, /enabled_backends = images:cinder, other:cinder/);
  t.true(isReady((await e2e.getStore("zz-older"))!));
});

/** A gauge's value for one target, or undefined while it is absent. */
function gaugeOf(text: string, name: string, target: string): number | undefined {
  const match = new RegExp(`^glance_store_operator_${name}\\{target="${target}"\\} (\\S+)$`, "m").exec(text);
  return match === null ? undefined : Number(match[1]);
}

test.serial("the since-gauges the alerts read: a store kept last-good since its Ready flipped, a held deletion since its deletionTimestamp; both end with the problem", async (t) => {
  const target = "since";
  const key = `${NAMESPACE}/${target}`;
  const type = await e2e.openstack.admin.createVolumeType(unique("since"));
  await e2e.putCredentialsSecret("since-creds", e2e.openstack.glanceCredentials);
  await e2e.apply(e2e.store("since-keep", { target, storeId: "keep", volumeType: type.name, default: true }));
  await e2e.apply(e2e.store("since-lost", { target, storeId: "lost", volumeType: type.name, credentialsSecretRef: { name: "since-creds" } }));
  await e2e.waitForStore("since-keep", "Ready", isReady);
  await e2e.waitForStore("since-lost", "Ready", isReady);
  t.is(gaugeOf(await operator.metrics(), "degraded_since_timestamp_seconds", key), undefined);

  // Its Secret gone, Glance keeps the store as last rendered: degraded since its Ready flipped.
  await e2e.kube.kubectl(["delete", "secret", "-n", NAMESPACE, "since-creds"]);
  const kept = await e2e.waitForStore("since-lost", "kept last-good", (s) => condition(s, "Rendered")?.reason === "KeptLastGood" && condition(s, "Ready")?.status === "False");
  const flipped = Date.parse(condition(kept, "Ready")!.lastTransitionTime) / 1000;
  const degraded = await waitFor(async () => gaugeOf(await operator.metrics(), "degraded_since_timestamp_seconds", key), { what: "degraded_since for the target", timeoutMs: 30_000 });
  t.is(degraded, flipped);

  // Deleted while an image volume of it remains: held, since its deletionTimestamp.
  await e2e.putCredentialsSecret("since-creds", e2e.openstack.glanceCredentials);
  await e2e.waitForStore("since-lost", "Ready again", isReady);
  await waitFor(async () => (gaugeOf(await operator.metrics(), "degraded_since_timestamp_seconds", key) === undefined ? true : undefined), { what: "degraded_since gone", timeoutMs: 30_000 });
  const volume = await e2e.openstack.admin.createVolume({ name: `image-${randomUUID()}`, volumeType: type.name, owner: e2e.openstack.glanceCredentials });
  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "since-lost", "--wait=false"]);
  const held = await e2e.waitForStore("since-lost", "DeletionBlocked", (s) => condition(s, "Ready")?.reason === "DeletionBlocked");
  const deletedAt = Date.parse((held.metadata as { deletionTimestamp?: string }).deletionTimestamp ?? "") / 1000;
  const blocked = await waitFor(async () => gaugeOf(await operator.metrics(), "deletion_blocked_since_timestamp_seconds", key), { what: "deletion_blocked_since for the target", timeoutMs: 30_000 });
  t.is(blocked, deletedAt);
  t.regex(await operator.metrics(), new RegExp(`glance_store_operator_stores\\{target="${key}",state="deleting"\\} 1`));

  await e2e.openstack.purgeVolume(volume.id);
  await e2e.waitForGone("since-lost", 30_000);
  await waitFor(async () => (gaugeOf(await operator.metrics(), "deletion_blocked_since_timestamp_seconds", key) === undefined ? true : undefined), { what: "deletion_blocked_since gone", timeoutMs: 30_000 });
  t.pass();
});

test.serial("the operator's metrics count reconciles, OpenStack requests and stores by state", async (t) => {
  const text = await operator.metrics();
  t.regex(text, /glance_store_operator_reconcile_total\{[^}]*result="requeue"[^}]*\} [1-9]/);
  t.regex(text, /glance_store_operator_openstack_requests_total\{[^}]*kind="auth"/);
  t.regex(text, /glance_store_operator_stores\{[^}]*state="ready"[^}]*\} [1-9]/);
  // The wrong password of the test above: refused once, held off since, and its store counted.
  t.regex(text, /\nglance_store_operator_keystone_refusals_total 1\n/);
  t.regex(text, new RegExp(`\nglance_store_operator_credentials_refused_stores\\{target="${NAMESPACE}/wrong-password"\\} 1\n`));
  t.regex(text, new RegExp(`\nglance_store_operator_credentials_refused_stores\\{target="${NAMESPACE}/conflicts"\\} 0\n`));
  t.false(text.includes(e2e.openstack.glanceCredentials.password));
});
