/**
 * What must hold when people edit and delete things by hand, against the
 * real stack: the deletion guard (rule 4) survives the loss of the rendered
 * objects, the default store can be deleted and moved, volume types are
 * pinned, one project per target, and stores Glance could not use are not
 * reported Ready. Each test has a target of its own.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiServerKubeWriter, FencedKubeWriter, NotLeadingError } from "../../src/controller/kube-writer.js";
import { KubeClient } from "../../src/kube/client.js";
import { FINALIZER } from "../../src/controller/naming.js";
import { createCertificateAuthority, issueCertificate } from "../../src/devstack/certs.js";
import { startFaultProxy } from "../../src/devstack/fault-proxy.js";
import { GlanceStartError } from "../../src/devstack/glance.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { apiStatusOf } from "../../src/kube/errors.js";
import { condition, E2E, isReady, NAMESPACE, unique, type OperatorProcess, type StoreJson } from "./support.js";

let e2e: E2E;
let operator: OperatorProcess;

test.before(async () => {
  e2e = await E2E.start();
  operator = await e2e.startOperator({ recheckPeriod: "3s" });
});

/** Volume-type lists the operator asked Cinder for, from its metrics: one per re-check of a credential set. */
async function typeLists(): Promise<number> {
  const text = await operator.metrics();
  let total = 0;
  for (const match of text.matchAll(/^glance_store_operator_openstack_requests_total\{[^}]*kind="types"[^}]*\} (\d+)/gm)) total += Number(match[1]);
  return total;
}

test.after.always(async () => {
  await e2e?.stop();
});

async function deleteRendered(target: string, which: ("configmap" | "secret")[]): Promise<void> {
  for (const kind of which) {
    const name = kind === "configmap" ? `${target}-stores` : `${target}-stores-credentials`;
    await e2e.kube.kubectl(["delete", kind, "-n", NAMESPACE, name, "--wait=false"]);
  }
}

async function imageVolume(typeName: string): Promise<string> {
  const volume = await e2e.openstack.admin.createVolume({ name: `image-${randomUUID()}`, volumeType: typeName, owner: e2e.openstack.glanceCredentials });
  return volume.id;
}

test.serial("rule 4: a held deletion survives the loss of the rendered Secret, then of both rendered objects; the store leaves only once no image volume is left", async (t) => {
  const target = "guard";
  const admin = e2e.openstack.admin;
  const keep = await admin.createVolumeType(unique("guard-keep"));
  const held = await admin.createVolumeType(unique("guard-held"));
  await e2e.apply(e2e.store("guard-keep", { target, storeId: "keep", volumeType: keep.name, default: true }));
  await e2e.apply(e2e.store("guard-held", { target, storeId: "held", volumeType: held.name }));
  await e2e.waitForStore("guard-keep", "Ready", isReady);
  await e2e.waitForStore("guard-held", "Ready", isReady);
  const volume = await imageVolume(held.name);

  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "guard-held", "--wait=false"]);
  await e2e.waitForStore("guard-held", "deletion held with the count", (s) => s.status?.imageVolumes === 1);

  await deleteRendered(target, ["secret"]);
  const restored = await waitFor(async () => {
    const files = await e2e.renderedFiles(target);
    return files?.storesConf.includes("[held]") && files.credentialsConf.includes("[held]") ? files : undefined;
  }, { what: "the rendered files back, with the held store", timeoutMs: 30_000 });
  t.true(restored.credentialsConf.includes(e2e.openstack.glanceCredentials.password));
  const stillHeld = await e2e.waitForStore("guard-held", "still held after the Secret's loss", (s) => condition(s, "Ready")?.reason === "DeletionBlocked");
  t.true(stillHeld.metadata.finalizers?.includes("glance.stores.dev/image-volumes"));

  await deleteRendered(target, ["configmap", "secret"]);
  await waitFor(async () => ((await e2e.renderedFiles(target))?.storesConf.includes("[held]") ? true : undefined), {
    what: "both rendered objects back, with the held store",
    timeoutMs: 30_000,
  });
  const afterBoth = await e2e.getStore("guard-held");
  t.truthy(afterBoth, "the deleting store is still there");
  t.is(afterBoth?.status?.imageVolumes, 1);

  await e2e.openstack.purgeVolume(volume);
  await e2e.waitForGone("guard-held", 30_000);
  const files = await e2e.renderedFiles(target);
  t.false(files!.storesConf.includes("[held]"));
  t.false(files!.credentialsConf.includes("[held]"));
  t.true(isReady((await e2e.getStore("guard-keep")) as StoreJson));
});

test.serial("deleting the default store: it says to mark another one, the other store stays Ready; marking another default moves it in one write and the old one leaves", async (t) => {
  const target = "default-move";
  const admin = e2e.openstack.admin;
  const a = await admin.createVolumeType(unique("dm-a"));
  const b = await admin.createVolumeType(unique("dm-b"));
  await e2e.apply(e2e.store("dm-a", { target, storeId: "a", volumeType: a.name, default: true }));
  await e2e.apply(e2e.store("dm-b", { target, storeId: "b", volumeType: b.name }));
  await e2e.waitForStore("dm-a", "Ready", isReady);
  await e2e.waitForStore("dm-b", "Ready", isReady);

  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "dm-a", "--wait=false"]);
  const blocked = await e2e.waitForStore("dm-a", "held as the default", (s) => /Mark another store of the target default/.test(condition(s, "Ready")?.message ?? ""));
  t.is(condition(blocked, "Ready")?.reason, "DeletionBlocked");
  const other = (await e2e.getStore("dm-b"))!;
  t.true(isReady(other), `the other store keeps its true status: ${JSON.stringify(other.status?.conditions)}`);
  t.is(other.status?.addDelete, "Enabled");
  t.regex((await e2e.renderedFiles(target))!.storesConf, /default_backend = a\n/);

  await e2e.kube.kubectl(["patch", "glancestore", "-n", NAMESPACE, "dm-b", "--type=merge", "-p", JSON.stringify({ spec: { default: true } })]);
  await e2e.waitForGone("dm-a", 30_000);
  const files = (await e2e.renderedFiles(target))!;
  t.regex(files.storesConf, /enabled_backends = b:cinder\n/);
  t.regex(files.storesConf, /default_backend = b\n/);
  await e2e.waitForStore("dm-b", "Ready as the default", isReady);
  const glance = await e2e.startGlance(target, "wsgi");
  t.deepEqual((await glance.stores()).map((s) => [s.id, s.default ?? "false"]), [["b", "true"]]);
  await glance.stop();
});

test.serial("a changed volume type waits for confirmation; once confirmed, deletion counts image volumes of the old type too", async (t) => {
  const target = "type-change";
  const admin = e2e.openstack.admin;
  const gold = await admin.createVolumeType(unique("gold"));
  const platinum = await admin.createVolumeType(unique("platinum"));
  await e2e.apply(e2e.store("tc", { target, volumeType: gold.name, default: true }));
  await e2e.waitForStore("tc", "Ready", isReady);
  const oldImage = await imageVolume(gold.name);

  await e2e.apply(e2e.store("tc", { target, volumeType: platinum.name, default: true }));
  const pending = await e2e.waitForStore("tc", "the change held", (s) => condition(s, "Ready")?.reason === "VolumeTypeChangeNotConfirmed" && s.status?.observedGeneration === s.metadata.generation);
  t.regex(condition(pending, "Ready")!.message, new RegExp(`confirm-volume-type=${platinum.name}`));
  t.is(pending.status?.addDelete, "Enabled");
  t.regex((await e2e.renderedFiles(target))!.storesConf, new RegExp(`cinder_volume_type = "${gold.name}"`));

  await e2e.kube.kubectl(["annotate", "glancestore", "-n", NAMESPACE, "tc", `glance.stores.dev/confirm-volume-type=${platinum.name}`]);
  const moved = await e2e.waitForStore("tc", "Ready on the new type", (s) => isReady(s) && s.status?.volumeType === platinum.name);
  t.deepEqual(
    moved.status?.renderedVolumeTypes?.map((type) => type.name),
    [gold.name, platinum.name],
  );
  t.regex((await e2e.renderedFiles(target))!.storesConf, new RegExp(`cinder_volume_type = "${platinum.name}"`));

  // Its only store: deleting it would remove the target, but an image still lives on the old type.
  await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "tc", "--wait=false"]);
  const held = await e2e.waitForStore("tc", "held for the image on the old type", (s) => s.status?.imageVolumes === 1);
  t.is(condition(held, "Ready")?.reason, "DeletionBlocked");
  await e2e.openstack.purgeVolume(oldImage);
  await e2e.waitForGone("tc", 30_000);
});

test.serial("a store that leaves its type unset stays on the type Cinder's default was when it was first rendered", async (t) => {
  const target = "pinned-default";
  const admin = e2e.openstack.admin;
  const initial = await admin.defaultVolumeType(e2e.openstack.glanceCredentials);
  await e2e.apply(e2e.store("pd", { target, default: true }));
  const ready = await e2e.waitForStore("pd", "Ready", isReady);
  t.is(ready.status?.volumeType, initial.name);
  t.true((await e2e.renderedFiles(target))!.storesConf.includes(`cinder_volume_type = "${initial.name}"`), "the resolved name, written out");

  const next = await admin.createVolumeType(unique("new-default"));
  await admin.setProjectDefaultVolumeType(e2e.openstack.serviceProjectId, next.name);
  t.is((await admin.defaultVolumeType(e2e.openstack.glanceCredentials)).name, next.name, "Cinder's default moved for the store's project");
  try {
    // Three more re-checks against Cinder: the store must not follow.
    const before = await typeLists();
    await waitFor(async () => ((await typeLists()) >= before + 3 ? true : undefined), { what: "three more re-checks", timeoutMs: 30_000, intervalMs: 500 });
    const after = (await e2e.getStore("pd"))!;
    t.true(isReady(after));
    t.is(after.status?.volumeType, initial.name);
    t.true((await e2e.renderedFiles(target))!.storesConf.includes(`cinder_volume_type = "${initial.name}"`));
  } finally {
    await e2e.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "pd", "--wait=false"]);
  }
});

test.serial("a store whose credentials belong to another project is not rendered into a target whose images are elsewhere", async (t) => {
  const target = "one-project";
  const admin = e2e.openstack.admin;
  const type = await admin.createVolumeType(unique("op"));
  const projectName = unique("elsewhere");
  const projectId = await admin.createProject(projectName);
  const username = unique("elsewhere-user");
  const userId = await admin.createUser({ name: username, password: "elsewhere-password", defaultProjectId: projectId });
  await admin.grantProjectRole(projectId, userId, "admin");
  await e2e.putCredentialsSecret("elsewhere", { ...e2e.openstack.glanceCredentials, username, password: "elsewhere-password", projectName });
  await e2e.apply(e2e.store("op-main", { target, storeId: "main", volumeType: type.name, default: true }));
  await e2e.waitForStore("op-main", "Ready", isReady);
  await e2e.apply(e2e.store("op-other", { target, storeId: "other", volumeType: type.name, credentialsSecretRef: { name: "elsewhere" } }));
  const refused = await e2e.waitForStore("op-other", "refused for its project", (s) => condition(s, "Rendered")?.reason === "MixedCredentials");
  t.is(condition(refused, "CredentialsValid")?.status, "True", "Keystone accepts the credentials; the project is the problem");
  t.regex(condition(refused, "Ready")!.message, new RegExp(projectId));
  t.false((await e2e.renderedFiles(target))!.storesConf.includes("[other]"));
});

test.serial("a store with an application credential is not reported Ready for a glance_store that ignores it", async (t) => {
  const target = "app-credential";
  const admin = e2e.openstack.admin;
  const type = await admin.createVolumeType(unique("ac"));
  const token = await admin.token();
  const credential = await admin.createApplicationCredential(token.userId, token.token, unique("gso"));
  await e2e.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "app-credential", namespace: NAMESPACE },
    stringData: { authUrl: e2e.openstack.keystoneUrl, applicationCredentialId: credential.id, applicationCredentialSecret: credential.secret },
  });
  await e2e.apply(e2e.store("ac", { target, volumeType: type.name, default: true, credentialsSecretRef: { name: "app-credential" } }));
  const store = await e2e.waitForStore("ac", "refused", (s) => condition(s, "CredentialsValid")?.reason === "ApplicationCredentialsUnsupported");
  t.is(condition(store, "Ready")?.status, "False");
  t.regex(condition(store, "Ready")!.message, /glance_store reads only from release 5\.4\.0/);
  t.is(await e2e.renderedFiles(target), undefined, "nothing rendered");
  t.false(JSON.stringify(store).includes(credential.secret));
});

test.serial("releasing the finalizer never drops a finalizer another controller added meanwhile; a fenced writer writes nothing", async (t) => {
  const name = "finalizer-race";
  // A store the operator leaves alone (its Secret does not exist, so it is never rendered and never guarded).
  await e2e.apply({ ...(e2e.store(name, { target: "finalizers", credentialsSecretRef: { name: "no-such-secret" } }) as object), metadata: { name, namespace: NAMESPACE, finalizers: [FINALIZER] } });
  await e2e.waitForStore(name, "seen by the operator", (s) => condition(s, "CredentialsValid")?.reason === "SecretNotFound");
  // The operator read the finalizer at index 0; then another controller puts its own in front.
  await e2e.kube.kubectl(["patch", "glancestore", "-n", NAMESPACE, name, "--type=json", "-p", JSON.stringify([{ op: "add", path: "/metadata/finalizers/0", value: "example.com/other" }])]);
  const writer = new ApiServerKubeWriter(await KubeClient.load({ kubeconfig: e2e.kube.kubeconfigPath }), { reportingInstance: "test" });
  const stale = await t.throwsAsync(writer.removeStoreFinalizer(NAMESPACE, name, FINALIZER, 0));
  t.is(apiStatusOf(stale), 422, "the precondition failed: nothing was removed");
  t.deepEqual((await e2e.getStore(name))?.metadata.finalizers, ["example.com/other", FINALIZER]);
  await writer.removeStoreFinalizer(NAMESPACE, name, FINALIZER, 1);
  t.deepEqual((await e2e.getStore(name))?.metadata.finalizers, ["example.com/other"]);

  const fenced = new FencedKubeWriter(writer, () => "lost the leader Lease to replica-b");
  const refused = await t.throwsAsync(fenced.putConfigMap({ metadata: { name: "fenced", namespace: NAMESPACE }, data: {} }, undefined));
  t.true(refused instanceof NotLeadingError);
  t.regex(refused.message, /lost the leader Lease to replica-b/);
  const after = await e2e.kube.kubectl(["get", "configmap", "-n", NAMESPACE, "fenced"], { allowFailure: true });
  t.not(after.code, 0, "nothing reached the apiserver");
  await e2e.kube.kubectl(["patch", "glancestore", "-n", NAMESPACE, name, "--type=merge", "-p", JSON.stringify({ metadata: { finalizers: null } })]);
});

test.serial("the CA the operator checks Keystone with is the one Glance gets: rendered from the Secret's caCert, a real glance-api trusts it at the mounted path", async (t) => {
  const target = "tls";
  const certDir = await mkdtemp(join(e2e.stack.directory, "tls-"));
  const ca = await createCertificateAuthority(certDir, "gso-e2e-ca");
  const serving = await issueCertificate(certDir, ca, { name: "keystone", commonName: "127.0.0.1", usage: "server", ipAddresses: ["127.0.0.1"] });
  const keystoneTls = await startFaultProxy({ listenPort: await e2e.stack.ports.allocate(), targetPort: e2e.openstack.keystone.port, tls: serving });
  try {
    const type = await e2e.openstack.admin.createVolumeType(unique("tls"));
    await e2e.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "glance-cinder-tls", namespace: NAMESPACE },
      stringData: { ...secretData(e2e.openstack.glanceCredentials), authUrl: `${keystoneTls.url}/v3`, caCert: ca.certPem },
    });
    await e2e.apply(e2e.store("tls", { target, volumeType: type.name, default: true, credentialsSecretRef: { name: "glance-cinder-tls" } }));
    await e2e.waitForStore("tls", "Ready through TLS", isReady);
    const files = (await e2e.renderedFiles(target))!;
    const caPath = /cinder_ca_certificates_file = "([^"]+)"/.exec(files.credentialsConf)?.[1];
    t.truthy(caPath);
    t.true(caPath!.startsWith(`${GLANCE_CONF_DIR}/glance-api-stores-ca-`), caPath);
    t.regex(files.credentialsConf, /cinder_store_auth_address = "https:/);

    const configDir = await e2e.configDir(target);
    t.is(await readFile(join(configDir, caPath!.slice(GLANCE_CONF_DIR.length + 1)), "utf8"), ca.certPem, "the Secret carries the CA as a file");
    const before = keystoneTls.stats().connections;
    const glance = await e2e.openstack.startGlance({ configDir, mountPath: GLANCE_CONF_DIR, server: "eventlet" });
    try {
      t.deepEqual((await glance.stores()).map((s) => s.id), ["tls"]);
      t.true(keystoneTls.stats().connections > before, "glance_store reached Keystone through TLS");
      t.is(keystoneTls.stats().tlsFailures, 0);
    } finally {
      await glance.stop();
    }

    // Control: the same files with another CA in the bundle's place, and glance_store refuses Keystone's certificate.
    const other = await createCertificateAuthority(await mkdtemp(join(e2e.stack.directory, "tls-other-")), "unrelated-ca");
    await writeFile(join(configDir, caPath!.slice(GLANCE_CONF_DIR.length + 1)), other.certPem);
    const failuresBefore = keystoneTls.stats().tlsFailures;
    const refused = await e2e.openstack
      .startGlance({ configDir, mountPath: GLANCE_CONF_DIR, server: "eventlet", timeoutMs: 60_000 })
      .then(async (started) => {
        await started.stop();
        return undefined;
      })
      .catch((error: unknown) => error);
    t.true(refused instanceof GlanceStartError, "glance-api does not start when the bundle at that path does not sign Keystone's certificate");
    if (refused instanceof GlanceStartError) {
      t.is(refused.exitCode, 99);
      t.regex(refused.log, /CERTIFICATE_VERIFY_FAILED/);
    }
    t.true(keystoneTls.stats().tlsFailures > failuresBefore);
  } finally {
    await keystoneTls.close();
  }
});

function secretData(credentials: { authUrl: string; username: string; password: string; projectName: string }): Record<string, string> {
  return { authUrl: credentials.authUrl, username: credentials.username, password: credentials.password, projectName: credentials.projectName };
}
