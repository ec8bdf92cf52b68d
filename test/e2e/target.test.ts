/**
 * The upgrade from one cinder store to several, with a GlanceStoreTarget,
 * against the real stack: a legacy image (a single-store Glance's
 * `cinder://<volume>` row) and image volumes of a type no store covers;
 * the operator reports the uncovered types (status, metric) and clears one
 * when a covering store is added; glance-api's own file store stays in
 * enabled_backends; the target says whether the real glance-api serves
 * the configuration (the old set before its restart, the new one after);
 * the legacy image comes back mapped to its store; the default moves in
 * one edit of the target.
 */
import test from "ava";
import { GLANCE_STORE_GROUP, GLANCE_STORE_VERSION } from "../../src/api/glancestore.js";
import type { GlanceApi } from "../../src/devstack/glance.js";
import { createImageVolumes, createLegacyCinderImage, deleteImageVolumes, deleteLegacyCinderImage, readGlanceImage } from "../../src/devstack/legacy-image.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { E2E, isReady, NAMESPACE, unique, type OperatorProcess } from "./support.js";

let e2e: E2E;
let operator: OperatorProcess;

test.before(async () => {
  e2e = await E2E.start();
  operator = await e2e.startOperator({ recheckPeriod: "5s" });
});

test.after.always(async () => {
  await e2e?.stop();
});

interface TargetJson {
  spec?: Record<string, unknown>;
  status?: {
    summary?: string;
    enabledBackends?: string;
    defaultStore?: string;
    config?: { state: string; reason?: string; message?: string };
    configHash?: string;
    uncoveredImageVolumes?: { volumeType: string; count: number }[];
    uncoveredImageVolumeCount?: number;
    glance?: { url?: string; detail?: boolean; stores?: { id: string; type?: string; volumeType?: string; default?: boolean }[] };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

async function getTarget(name: string): Promise<TargetJson> {
  const result = await e2e.kube.kubectl(["get", "glancestoretarget", "-n", NAMESPACE, name, "-o", "json"]);
  return JSON.parse(result.stdout) as TargetJson;
}

async function waitForTarget(name: string, what: string, predicate: (target: TargetJson) => boolean, timeoutMs = 90_000): Promise<TargetJson> {
  let last: TargetJson | undefined;
  try {
    return await waitFor(
      async () => {
        last = await getTarget(name);
        return predicate(last) ? last : undefined;
      },
      { what: `GlanceStoreTarget ${name}: ${what}`, timeoutMs, intervalMs: 250 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

const conditionOf = (target: TargetJson, type: string) => target.status?.conditions?.find((c) => c.type === type);
/** The uncovered counts of the types this test made (the service project is this file's alone, but be exact about what is ours). */
const uncoveredOf = (target: TargetJson, types: readonly string[]) =>
  Object.fromEntries((target.status?.uncoveredImageVolumes ?? []).filter((u) => types.includes(u.volumeType)).map((u) => [u.volumeType, u.count]));

test.serial("the blueprint's upgrade: uncovered legacy volumes reported and cleared, the file store kept, serving before and after the restart, the legacy image mapped, the default moved in one step", async (t) => {
  const target = "upgrade";
  const admin = e2e.openstack.admin;
  const oldType = await admin.createVolumeType(unique("glance-old"));
  const fastType = await admin.createVolumeType(unique("glance-fast"));
  const orphanType = await admin.createVolumeType(unique("glance-orphan"));
  const types = [oldType.name, fastType.name, orphanType.name];
  const legacy = await createLegacyCinderImage(e2e.openstack, { volumeType: oldType.name });
  const orphans = await createImageVolumes(e2e.openstack, { volumeType: orphanType.name, count: 2 });
  const port = await e2e.stack.ports.allocate();
  const glanceUrl = `http://127.0.0.1:${port}`;
  const datadir = await e2e.openstack.newFileStoreDir("local");
  const mainConfig = { DEFAULT: { show_multiple_locations: "true", show_image_direct_url: "true" }, local: { filesystem_store_datadir: datadir } };
  let glance: GlanceApi | undefined;
  const startGlance = async (): Promise<GlanceApi> =>
    e2e.openstack.startGlance({ configDir: await e2e.configDir(target), mountPath: GLANCE_CONF_DIR, server: "wsgi", mainConfig, port });
  try {
    // The new fast store and the target that keeps glance-api's file store; the legacy type is not covered yet.
    await e2e.apply({
      apiVersion: `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`,
      kind: "GlanceStoreTarget",
      metadata: { name: target, namespace: NAMESPACE },
      spec: { otherStores: [{ id: "local", type: "file" }], glance: { url: glanceUrl } },
    });
    await e2e.apply(e2e.store("up-fast", { target, storeId: "fast", volumeType: fastType.name, default: true }));
    await e2e.waitForStore("up-fast", "Ready", isReady);
    const before = await waitForTarget(target, "the uncovered legacy types counted", (s) => {
      const counts = uncoveredOf(s, types);
      return s.status?.config?.state === "Written" && counts[oldType.name] === 1 && counts[orphanType.name] === 2;
    });
    t.is(before.status?.enabledBackends, "fast:cinder, local:file");
    t.is(before.status?.defaultStore, "fast");
    t.is(conditionOf(before, "ImageVolumesCovered")?.status, "False");
    t.regex(conditionOf(before, "ImageVolumesCovered")?.message ?? "", new RegExp(`1 image volume\\(s\\) of volume type "${oldType.name}"`));
    t.false(uncoveredOf(before, types)[fastType.name] !== undefined, "a covered type is not listed");
    // Nothing listens at the URL yet: information, never a gate.
    t.is(conditionOf(before, "GlanceServesConfig")?.status, "Unknown");
    t.regex((await e2e.renderedFiles(target))!.storesConf, /^enabled_backends = fast:cinder, local:file$/m);
    const metrics = await operator.metrics();
    t.regex(metrics, new RegExp(`glance_store_operator_uncovered_image_volumes\\{target="${NAMESPACE}/${target}",volume_type="${oldType.name}"\\} 1`));
    t.regex(metrics, new RegExp(`glance_store_operator_uncovered_image_volumes\\{target="${NAMESPACE}/${target}",volume_type="${orphanType.name}"\\} 2`));

    const table = await e2e.kube.kubectl(["get", "glancestoretargets", "-n", NAMESPACE, target]);
    const [header, row] = table.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/));
    t.deepEqual(header, ["NAME", "DEFAULT", "STORES", "CONFIG", "UNCOVERED", "SERVING", "AGE"]);
    t.deepEqual(row?.slice(0, 6), [target, "fast", "fast:cinder,", "local:file", "Written", String(before.status?.uncoveredImageVolumeCount)]);

    // A real glance-api starts from the files: it serves the cinder store and the main file's own file store.
    glance = await startGlance();
    t.deepEqual((await glance.stores()).map((s) => s.id).sort(), ["fast", "local"]);
    const serving = await waitForTarget(target, "Serving", (s) => conditionOf(s, "Serving")?.status === "True");
    t.deepEqual(serving.status?.glance?.stores?.map((s) => [s.id, s.type, s.volumeType ?? null]), [
      ["fast", "cinder", fastType.name],
      ["local", "file", null],
    ]);
    const fast = await e2e.waitForStore("up-fast", "served by Glance", (s) => (s.status as { glance?: { serving: boolean } } | undefined)?.glance?.serving === true);
    t.is((fast.status as { glance?: { volumeType?: string } }).glance?.volumeType, fastType.name);

    // The store that covers the legacy type: the count clears at once, from the listing the operator has.
    await e2e.apply(e2e.store("up-old", { target, storeId: "old", volumeType: oldType.name }));
    await e2e.waitForStore("up-old", "Ready", isReady);
    const covered = await waitForTarget(target, "glance-old covered", (s) => uncoveredOf(s, types)[oldType.name] === undefined && uncoveredOf(s, types)[orphanType.name] === 2);
    t.is(covered.status?.enabledBackends, "fast:cinder, local:file, old:cinder");
    await waitFor(async () => (new RegExp(`volume_type="${oldType.name}"`).test(await operator.metrics()) ? undefined : true), { what: "the covered type to leave the metric", timeoutMs: 30_000 });
    // Before its restart Glance serves the old set, and the target says so.
    const stale = await waitForTarget(target, "not serving the new config", (s) => conditionOf(s, "GlanceServesConfig")?.reason === "ConfigNotLoaded");
    t.regex(conditionOf(stale, "GlanceServesConfig")?.message ?? "", /does not serve old/);
    t.is(conditionOf(stale, "Serving")?.status, "False");

    // After the restart it serves the new one.
    await glance.stop();
    glance = await startGlance();
    await waitForTarget(target, "Serving again", (s) => conditionOf(s, "Serving")?.status === "True");
    t.deepEqual((await glance.stores()).map((s) => s.id).sort(), ["fast", "local", "old"]);

    // Glance's lazy update maps the legacy location to the store of its volume's type.
    const image = await readGlanceImage(glance, legacy.imageId);
    t.deepEqual(image.locations?.map((l) => [l.url, l.metadata["store"]]), [[`cinder://old/${legacy.volumeId}`, "old"]]);
    t.is(image.stores, "old");

    // The default moves in one edit of the target, here to glance-api's own file store.
    await e2e.kube.kubectl(["patch", "glancestoretarget", "-n", NAMESPACE, target, "--type=merge", "-p", JSON.stringify({ spec: { defaultStore: "local" } })]);
    const moved = await waitForTarget(target, "default moved", (s) => s.status?.defaultStore === "local");
    t.is(moved.status?.config?.state, "Written");
    t.regex((await e2e.renderedFiles(target))!.storesConf, /^default_backend = local$/m);
    await glance.stop();
    glance = await startGlance();
    t.is((await glance.stores()).find((s) => s.default === "true")?.id, "local");
  } finally {
    await glance?.stop();
    await deleteLegacyCinderImage(e2e.openstack, legacy);
    await deleteImageVolumes(e2e.openstack, orphans);
  }
});

test.serial("without a GlanceStoreTarget the target works as before, and its file store, once rendered, is carried over", async (t) => {
  const target = "no-object";
  const fastType = await e2e.openstack.admin.createVolumeType(unique("glance-fast"));
  await e2e.apply({
    apiVersion: `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`,
    kind: "GlanceStoreTarget",
    metadata: { name: target, namespace: NAMESPACE },
    spec: { otherStores: [{ id: "local", type: "file" }], glance: { check: false } },
  });
  await e2e.apply(e2e.store("no-fast", { target, storeId: "fast", volumeType: fastType.name, default: true }));
  await e2e.waitForStore("no-fast", "Ready", isReady);
  await waitFor(async () => ((await e2e.renderedFiles(target))?.storesConf.includes("local:file") ? true : undefined), { what: "the file store rendered", timeoutMs: 30_000 });
  const checked = await getTarget(target);
  t.is(conditionOf(checked, "GlanceServesConfig")?.reason, "NotChecked");
  // Deleting the target object does not drop the store Glance runs; a new store still renders next to it.
  await e2e.kube.kubectl(["delete", "glancestoretarget", "-n", NAMESPACE, target]);
  const slowType = await e2e.openstack.admin.createVolumeType(unique("glance-slow"));
  await e2e.apply(e2e.store("no-slow", { target, storeId: "slow", volumeType: slowType.name }));
  await e2e.waitForStore("no-slow", "Ready", isReady);
  await waitFor(async () => ((await e2e.renderedFiles(target))?.storesConf.includes("slow:cinder") ? true : undefined), { what: "slow rendered", timeoutMs: 30_000 });
  t.regex((await e2e.renderedFiles(target))!.storesConf, /^enabled_backends = fast:cinder, local:file, slow:cinder$/m);
});
