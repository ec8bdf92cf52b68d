/**
 * Faults on the Kubernetes objects: a credentials Secret a store references
 * is deleted or changed; the rendered ConfigMap or Secret is deleted or
 * edited by hand; a store is deleted while an image volume is left and its
 * rendered files are deleted meanwhile. During each, every (ConfigMap,
 * Secret) pair the apiserver held is checked with the real oslo.config and
 * glance_store; afterwards a real glance-api starts from the final pair.
 * docs/reliability.md has the table.
 */
import test from "ava";
import { randomUUID } from "node:crypto";
import { waitFor } from "../../src/devstack/wait.js";
import { checkKeptLastGood, condition, Findings, isReady, NAMESPACE, reasonOf, Reliability, RECHECK_MS, scanThenStopAfterAll } from "./support.js";

let reliability: Reliability;

test.before(async () => {
  reliability = await Reliability.start();
  await reliability.startOperator({ name: "operator-objects" });
});

scanThenStopAfterAll(() => reliability);

/** Two stores of `target`, Ready, a recorder on its pair; returns what the scenario needs. */
async function twoStores(target: string, secretName = "glance-cinder") {
  const glance = reliability.openstack.glanceCredentials;
  const [a, b] = [await reliability.volumeType(`${target}-a`), await reliability.volumeType(`${target}-b`)];
  await reliability.e2e.apply(reliability.e2e.store(`${target}-a`, { target, storeId: "a", volumeType: a, default: true, credentialsSecretRef: { name: secretName } }));
  await reliability.e2e.apply(reliability.e2e.store(`${target}-b`, { target, storeId: "b", volumeType: b, credentialsSecretRef: { name: secretName } }));
  await reliability.waitReady(`${target}-a`);
  await reliability.waitReady(`${target}-b`);
  const recorder = await reliability.recordPairs(target);
  const before = await reliability.e2e.renderedFiles(target);
  return { recorder, before, glance };
}

test.serial("a referenced credentials Secret is deleted: the stores stay rendered byte for byte (SecretNotFound, KeptLastGood) and are Ready again once it is back", async (t) => {
  const f = new Findings(t);
  const target = "ref-deleted";
  await reliability.putSecret("ref-deleted-creds", reliability.openstack.glanceCredentials);
  const { recorder, before, glance } = await twoStores(target, "ref-deleted-creds");

  await f.step("the Secret deleted", async () => {
    await reliability.kube.kubectl(["delete", "secret", "-n", NAMESPACE, "ref-deleted-creds"]);
    for (const name of [`${target}-a`, `${target}-b`]) {
      const store = await reliability.e2e.waitForStore(name, "SecretNotFound", (s) => condition(s, "CredentialsValid")?.reason === "SecretNotFound", 30_000);
      checkKeptLastGood(f, store, ["SecretNotFound"]);
    }
    f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files while the Secret is gone");
  });
  await f.step("the Secret back", async () => {
    await reliability.putSecret("ref-deleted-creds", reliability.openstack.glanceCredentials);
    await reliability.waitReady(`${target}-a`, 30_000);
    await reliability.waitReady(`${target}-b`, 30_000);
    f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files once the Secret is back");
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [glance] });
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});

test.serial("a referenced credentials Secret is changed: rotated to another user it is rendered, broken it is not (SecretInvalid, KeptLastGood), fixed it is Ready", async (t) => {
  const f = new Findings(t);
  const target = "ref-changed";
  const first = await reliability.throwawayUser("rc-first");
  const second = await reliability.throwawayUser("rc-second");
  await reliability.putSecret("ref-changed-creds", first.credentials);
  const { recorder } = await twoStores(target, "ref-changed-creds");

  // Rotation to another (valid) user: both files follow, in an order that keeps every pair startable.
  const rotated = await f.step("rotation to another user", async () => {
    await reliability.putSecret("ref-changed-creds", second.credentials);
    await waitFor(async () => {
      const files = await reliability.e2e.renderedFiles(target);
      const both = `${files?.storesConf}\n${files?.credentialsConf}`;
      return both.includes(second.credentials.username) && both.includes(second.credentials.password) && !both.includes(first.credentials.username) ? true : undefined;
    }, { what: "the second user in the rendered files", timeoutMs: 30_000 });
    await reliability.waitReady(`${target}-a`, 30_000);
    return reliability.e2e.renderedFiles(target);
  });

  await f.step("a broken Secret (no password)", async () => {
    await reliability.kube.kubectl(["patch", "secret", "-n", NAMESPACE, "ref-changed-creds", "--type=json", "-p", JSON.stringify([{ op: "remove", path: "/data/password" }])]);
    for (const name of [`${target}-a`, `${target}-b`]) {
      const store = await reliability.e2e.waitForStore(name, "SecretInvalid", (s) => condition(s, "CredentialsValid")?.reason === "SecretInvalid", 30_000);
      checkKeptLastGood(f, store, ["SecretInvalid"]);
    }
    f.equal(await reliability.e2e.renderedFiles(target), rotated, "the rendered files with a broken Secret");
  });

  await f.step("the Secret fixed", async () => {
    await reliability.putSecret("ref-changed-creds", second.credentials);
    await reliability.waitReady(`${target}-a`, 30_000);
    await reliability.waitReady(`${target}-b`, 30_000);
    f.equal(await reliability.e2e.renderedFiles(target), rotated, "the rendered files once the Secret is fixed");
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [first.credentials, second.credentials] });
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});

for (const side of ["configMap", "secret"] as const) {
  const what = side === "configMap" ? "ConfigMap" : "Secret";

  test.serial(`the rendered ${what} deleted by hand is put back within seconds`, async (t) => {
    const f = new Findings(t);
    const target = `hand-deleted-${side.toLowerCase()}`;
    const { recorder, before, glance } = await twoStores(target);
    await f.step(`the ${what} deleted`, async () => {
      const deletedAt = Date.now();
      await recorder.injectDelete(side);
      f.log(`put back ${await recorder.waitForOperatorPair(deletedAt)} ms after the deletion`);
      f.equal(await reliability.e2e.renderedFiles(target), before, "the files put back");
    });
    await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [glance], restoreWithinMs: 2 * RECHECK_MS + 5_000 });
    await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
    f.assert();
  });

  test.serial(`the rendered ${what} edited by hand is put back within seconds`, async (t) => {
    const f = new Findings(t);
    const target = `hand-edited-${side.toLowerCase()}`;
    const { recorder, before, glance } = await twoStores(target);
    const wrong = reliability.wrongPassword(`hand edit of ${target}`);
    await f.step(`the ${what} edited`, async () => {
      const editedAt = Date.now();
      if (side === "configMap") {
        // Drops store b and adds a key: the operator must put both right.
        await recorder.injectPatch("configMap", { data: { "glance-api-stores.conf": before!.storesConf.replace(/a:cinder, b:cinder/, "a:cinder"), extra: "x" } });
      } else {
        await recorder.injectPatch("secret", { data: { "glance-api-stores-credentials.conf": Buffer.from(before!.credentialsConf.replaceAll(glance.password, wrong)).toString("base64") } });
      }
      f.log(`put back ${await recorder.waitForOperatorPair(editedAt)} ms after the edit`);
      f.equal(await reliability.e2e.renderedFiles(target), before, "the files put back");
      const object = await reliability.raw.get<{ data: Record<string, string> }>(side === "configMap" ? recorder.configMapPath : recorder.secretPath);
      f.equal(Object.keys(object?.data ?? {}), [side === "configMap" ? "glance-api-stores.conf" : "glance-api-stores-credentials.conf"], "the keys after the hand edit was put back");
    });
    await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [glance], restoreWithinMs: 2 * RECHECK_MS + 5_000 });
    await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
    f.assert();
  });
}

test.serial("a deleted store with an image volume left stays in the config, even when the rendered ConfigMap and Secret are deleted by hand, until the volume is purged or it is force-deleted", async (t) => {
  const f = new Findings(t);
  const target = "deletion-held";
  const admin = reliability.openstack.admin;
  const glance = reliability.openstack.glanceCredentials;
  const types = { keep: await reliability.volumeType("dh-keep"), purged: await reliability.volumeType("dh-purged"), forced: await reliability.volumeType("dh-forced") };
  await reliability.e2e.apply(reliability.e2e.store("dh-keep", { target, storeId: "keep", volumeType: types.keep, default: true }));
  await reliability.e2e.apply(reliability.e2e.store("dh-purged", { target, storeId: "purged", volumeType: types.purged }));
  await reliability.e2e.apply(reliability.e2e.store("dh-forced", { target, storeId: "forced", volumeType: types.forced }));
  for (const name of ["dh-keep", "dh-purged", "dh-forced"]) await reliability.waitReady(name);
  const purgedVolume = await admin.createVolume({ name: `image-${randomUUID()}`, volumeType: types.purged, owner: glance });
  await admin.createVolume({ name: `image-${randomUUID()}`, volumeType: types.forced, owner: glance });
  const recorder = await reliability.recordPairs(target);

  await f.step("deleting the two stores with image volumes", async () => {
    await reliability.kube.kubectl(["delete", "glancestore", "-n", NAMESPACE, "dh-purged", "dh-forced", "--wait=false"]);
    for (const name of ["dh-purged", "dh-forced"]) {
      const held = await reliability.e2e.waitForStore(name, "deletion held by its image volume", (s) => condition(s, "Ready")?.reason === "DeletionBlocked", 30_000);
      f.equal(held.status?.imageVolumes, 1, `${name}: status.imageVolumes`);
    }
  });

  // Both rendered objects deleted by hand, one after the other, while the deletions are held.
  for (const side of ["configMap", "secret"] as const) {
    await f.step(`the rendered ${side} deleted by hand`, async () => {
      const deletedAt = Date.now();
      await recorder.injectDelete(side);
      await recorder.waitForOperatorPair(deletedAt);
      const files = await reliability.e2e.renderedFiles(target);
      const ids = files?.storesConf.match(/^enabled_backends = (.*)$/m)?.[1];
      f.check(
        ["[keep]", "[purged]", "[forced]"].every((section) => files?.storesConf.includes(section) && files.credentialsConf.includes(section)),
        `the ${side} deleted by hand was put back without the held stores: enabled_backends = ${ids}`,
      );
    });
  }
  for (const name of ["dh-purged", "dh-forced"]) {
    const store = await reliability.e2e.getStore(name);
    f.check(store?.metadata.finalizers?.includes("glance.stores.dev/image-volumes") === true, `${name} lost its finalizer while its image volume is left (${store === undefined ? "the GlanceStore is gone" : reasonOf(store, "Ready")})`);
  }

  const purgedAt = Date.now();
  await f.step("the volume purged", async () => {
    await reliability.openstack.purgeVolume(purgedVolume.id);
    await reliability.e2e.waitForGone("dh-purged", 30_000);
    f.check(!(await reliability.e2e.renderedFiles(target))!.storesConf.includes("[purged]"), "the purged store left the config");
    const forced = await reliability.e2e.getStore("dh-forced");
    f.check(condition(forced, "Ready")?.reason === "DeletionBlocked", `dh-forced is still held (${forced === undefined ? "gone" : reasonOf(forced, "Ready")})`);
  });

  const forcedAt = Date.now();
  await f.step("the other store force-deleted", async () => {
    if ((await reliability.e2e.getStore("dh-forced")) !== undefined) {
      await reliability.kube.kubectl(["annotate", "glancestore", "-n", NAMESPACE, "dh-forced", "glance.stores.dev/force-delete=true"]);
      await reliability.e2e.waitForGone("dh-forced", 30_000);
    }
    const files = await reliability.e2e.renderedFiles(target);
    f.check(!files!.storesConf.includes("[forced]"), "the force-deleted store left the config");
    f.check(isReady((await reliability.e2e.getStore("dh-keep"))!), "dh-keep is Ready");
  });

  // Before the purge every pair holds all three; between purge and annotation, keep and forced; after, keep only.
  await reliability.checkPairs(f, recorder, { mustKeep: ["keep", "purged", "forced"], validCredentials: [glance], to: purgedAt, restoreWithinMs: 2 * RECHECK_MS + 5_000 });
  await reliability.checkPairs(f, recorder, { mustKeep: ["keep", "forced"], validCredentials: [glance], from: purgedAt, to: forcedAt });
  await reliability.checkPairs(f, recorder, { mustKeep: ["keep"], mustNotHold: ["purged"], validCredentials: [glance], from: forcedAt });
  await reliability.checkGlanceStarts(f, target, ["keep"], "keep");
  f.assert();
});
