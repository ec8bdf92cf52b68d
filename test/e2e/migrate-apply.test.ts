/**
 * `glance-store-operator migrate` end to end, as a user runs it: the real
 * command on a legacy single-store glance-api.conf (the blueprint's
 * before-config, with a file store) and on a multi-store one, its
 * manifests applied with kubectl to the real apiserver, the operator
 * rendering them, and a real glance-api started from the result listing
 * the expected stores, the file store included.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import type { GlanceApi } from "../../src/devstack/glance.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { E2E, isReady, NAMESPACE, unique } from "./support.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

let e2e: E2E;

test.before(async () => {
  e2e = await E2E.start();
  await e2e.startOperator({ recheckPeriod: "5s" });
});

test.after.always(async () => {
  await e2e?.stop();
});

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: { storeId?: string; otherStores?: { id: string; type: string }[]; defaultStore?: string };
}

/** Runs the real CLI; returns the manifests it wrote and its report. */
async function migrate(name: string, conf: string, args: readonly string[]): Promise<{ manifests: Manifest[]; file: string; report: string }> {
  const dir = join(e2e.stack.directory, "migrate", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "glance-api.conf"), conf);
  const out = join(dir, "manifests.yaml");
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "migrate", "--from", join(dir, "glance-api.conf"), "--namespace", NAMESPACE, "--out", out, ...args]);
  const manifests = parseAllDocuments(await readFile(out, "utf8")).map((doc) => doc.toJS() as Manifest).filter((m) => m !== null);
  return { manifests, file: out, report: stdout };
}

async function servedBy(target: string, mainConfig: Record<string, Record<string, string>>): Promise<GlanceApi> {
  return e2e.openstack.startGlance({ configDir: await e2e.configDir(target), mountPath: GLANCE_CONF_DIR, server: "wsgi", mainConfig });
}

test.serial("the blueprint's legacy single store and its file store: migrated, applied, rendered and served by a real glance-api", async (t) => {
  const target = "migrated-legacy";
  const oldType = await e2e.openstack.admin.createVolumeType(unique("glance-old"));
  const credentials = e2e.openstack.glanceCredentials;
  const conf = [
    "[DEFAULT]",
    "debug = false",
    "",
    "[glance_store]",
    "stores = cinder,file",
    "default_store = cinder",
    `cinder_volume_type = ${oldType.name}`,
    `cinder_store_auth_address = ${credentials.authUrl}`,
    `cinder_store_user_name = ${credentials.username}`,
    `cinder_store_password = ${credentials.password}`,
    `cinder_store_project_name = ${credentials.projectName}`,
    `cinder_os_region_name = ${e2e.openstack.region}`,
    "filesystem_store_datadir = /var/lib/glance/images",
    "",
  ].join("\n");
  const { manifests, file, report } = await migrate("legacy", conf, ["--target", target, "--secret-name", `${target}-cinder`, "--store-id", "old"]);
  t.false(report.includes(credentials.password), "the report holds no password");
  const targetObject = manifests.find((m) => m.kind === "GlanceStoreTarget");
  const fileStore = targetObject?.spec?.otherStores?.find((s) => s.type === "file");
  t.truthy(fileStore, JSON.stringify(manifests.map((m) => [m.kind, m.spec])));
  const stores = manifests.filter((m) => m.kind === "GlanceStore");
  t.deepEqual(stores.map((s) => s.spec?.storeId ?? s.metadata.name), ["old"]);

  await e2e.kube.kubectl(["apply", "-f", file]);
  await e2e.waitForStore(stores[0]!.metadata.name, "Ready", isReady);
  await waitFor(async () => ((await e2e.renderedFiles(target))?.storesConf.includes(`${fileStore!.id}:file`) ? true : undefined), { what: "the file store in enabled_backends", timeoutMs: 30_000 });
  const datadir = await e2e.openstack.newFileStoreDir(fileStore!.id);
  const glance = await servedBy(target, { [fileStore!.id]: { filesystem_store_datadir: datadir } });
  try {
    const served = await glance.storesDetail();
    t.deepEqual(served.map((s) => [s.id, s.type, s.properties?.["volume_type"] ?? null, s.default ?? null]).sort(), [
      [fileStore!.id, "file", null, null],
      ["old", "cinder", oldType.name, "true"],
    ].sort());
  } finally {
    await glance.stop();
  }
});

test.serial("a multi-store config with a file store as its default: migrated, applied, rendered and served by a real glance-api", async (t) => {
  const target = "migrated-multi";
  const fast = await e2e.openstack.admin.createVolumeType(unique("glance-fast"));
  const slow = await e2e.openstack.admin.createVolumeType(unique("glance-slow"));
  const credentials = e2e.openstack.glanceCredentials;
  const section = (id: string, volumeType: string, description: string) => [
    `[${id}]`,
    `store_description = ${description}`,
    `cinder_volume_type = ${volumeType}`,
    `cinder_store_auth_address = ${credentials.authUrl}`,
    `cinder_store_user_name = ${credentials.username}`,
    `cinder_store_password = ${credentials.password}`,
    `cinder_store_project_name = ${credentials.projectName}`,
    `cinder_os_region_name = ${e2e.openstack.region}`,
    "",
  ];
  const conf = [
    "[DEFAULT]",
    "enabled_backends = fast:cinder, slow:cinder, local:file",
    "",
    "[glance_store]",
    "default_backend = local",
    "",
    ...section("fast", fast.name, "Fast"),
    ...section("slow", slow.name, "Slow"),
    "[local]",
    "filesystem_store_datadir = /var/lib/glance/images",
    "",
  ].join("\n");
  const { manifests, file } = await migrate("multi", conf, ["--target", target, "--secret-name", `${target}-cinder`]);
  const targetObject = manifests.find((m) => m.kind === "GlanceStoreTarget");
  t.deepEqual(targetObject?.spec?.otherStores, [{ id: "local", type: "file" }]);
  t.is(targetObject?.spec?.defaultStore, "local");

  await e2e.kube.kubectl(["apply", "-f", file]);
  for (const store of manifests.filter((m) => m.kind === "GlanceStore")) await e2e.waitForStore(store.metadata.name, "Ready", isReady);
  await waitFor(async () => ((await e2e.renderedFiles(target))?.storesConf.includes("default_backend = local") ? true : undefined), { what: "the rendered default", timeoutMs: 30_000 });
  const datadir = await e2e.openstack.newFileStoreDir("local");
  const glance = await servedBy(target, { local: { filesystem_store_datadir: datadir } });
  try {
    const served = await glance.storesDetail();
    t.deepEqual(served.map((s) => [s.id, s.type, s.properties?.["volume_type"] ?? null, s.default ?? null, s.description ?? null]).sort(), [
      ["fast", "cinder", fast.name, null, "Fast"],
      ["local", "file", null, "true", null],
      ["slow", "cinder", slow.name, null, "Slow"],
    ].sort());
  } finally {
    await glance.stop();
  }
});
