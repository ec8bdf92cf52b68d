/**
 * `glance-store-operator migrate --check-cinder` against the local stack's
 * real Keystone and Cinder (no Kubernetes): the operator's OpenStack client,
 * with the credentials of the migrated glance-api.conf, pins Cinder's
 * default type for the project Glance uses (a project's own default
 * included) and counts the image volumes of types no migrated store covers.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { GlanceStoreSchema, type GlanceStore } from "../../src/api/glancestore.js";
import { storeIdProblem } from "../../src/api/store-id.js";
import { runMigrate } from "../../src/cli/migrate.js";
import { createImageVolumes, deleteImageVolumes } from "../../src/devstack/legacy-image.js";
import type { PasswordCredentials, VolumeType } from "../../src/devstack/openstack-admin.js";
import { useStack } from "../support/stack.js";

const local = useStack({ kube: false });
const openstack = local.openstack;

const suffix = randomBytes(3).toString("hex");
const types: VolumeType[] = [];
/** A project with its own default volume type, and a member user of it: isolated, so its image volume counts are exact. */
let tenant: { projectId: string; userId: string; credentials: PasswordCredentials; defaultType: VolumeType } | undefined;
const TENANT_PASSWORD = `tenant-Secret-${suffix}`;

local.beforeStop(async () => {
  const admin = openstack().admin;
  if (tenant !== undefined) {
    await admin.unsetProjectDefaultVolumeType(tenant.projectId);
    await admin.deleteUser(tenant.userId);
    await admin.deleteProject(tenant.projectId);
  }
  for (const type of types) await admin.deleteVolumeType(type.id);
});

test.serial.before("a project whose default volume type is its own, with a member user; a type no store will cover", async () => {
  const admin = openstack().admin;
  const defaultType = await admin.createVolumeType(`mig-default-${suffix}`);
  types.push(defaultType);
  types.push(await admin.createVolumeType(`mig-orphan-${suffix}`));
  types.push(await admin.createVolumeType(`mig-covered-${suffix}`));
  const projectName = `mig-project-${suffix}`;
  const projectId = await admin.createProject(projectName);
  const username = `mig-glance-${suffix}`;
  const userId = await admin.createUser({ name: username, password: TENANT_PASSWORD, defaultProjectId: projectId });
  await admin.grantProjectRole(projectId, userId, "member");
  await admin.setProjectDefaultVolumeType(projectId, defaultType.name);
  const credentials: PasswordCredentials = { ...openstack().glanceCredentials, username, password: TENANT_PASSWORD, projectName };
  tenant = { projectId, userId, credentials, defaultType };
});

/** A legacy single-store glance-api.conf on Cinder with these credentials. */
function legacyConfig(credentials: PasswordCredentials, extra = ""): string {
  return [
    "[DEFAULT]",
    "show_image_direct_url = true",
    "",
    "[glance_store]",
    "stores = cinder",
    "default_store = cinder",
    `cinder_store_auth_address = ${credentials.authUrl}`,
    `cinder_store_user_name = ${credentials.username}`,
    `cinder_store_password = ${credentials.password.replaceAll("$", "$$")}`,
    `cinder_store_project_name = ${credentials.projectName}`,
    `cinder_store_user_domain_name = ${credentials.userDomainName}`,
    `cinder_store_project_domain_name = ${credentials.projectDomainName}`,
    extra,
    "",
  ].join("\n");
}

async function migrate(conf: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runMigrate(["--from", "glance-api.conf", ...args], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readFile: async (path) => {
      if (path !== "glance-api.conf") throw Object.assign(new Error("not found"), { code: "ENOENT" });
      return conf;
    },
  });
  return { code, stdout, stderr };
}

function storesOf(yaml: string): GlanceStore[] {
  return parseAllDocuments(yaml)
    .map((document) => document.toJS() as Record<string, unknown>)
    .filter((object) => object["kind"] === "GlanceStore")
    .map((object) => GlanceStoreSchema.parse(object));
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test.serial("no cinder_volume_type: --check-cinder pins Cinder's default type for the service project Glance uses", async (t) => {
  const os = openstack();
  const expected = await os.admin.defaultVolumeType(os.glanceCredentials);
  const conf = legacyConfig(os.glanceCredentials);

  // Cinder's own default type may be no store id (__DEFAULT__): then the id must be given, and the report says so.
  if (storeIdProblem(expected.name) !== undefined) {
    const needsId = await migrate(conf, ["--check-cinder"]);
    t.is(needsId.code, 2);
    t.regex(needsId.stderr, /the legacy cinder store's id would be its volume type's name, but .*: give --store-id ID/);
  }
  const run = await migrate(conf, ["--check-cinder", "--store-id", "legacy"]);
  t.is(run.code, 0, run.stderr);
  const [store, ...rest] = storesOf(run.stdout);
  t.deepEqual(rest, []);
  t.is(store?.metadata.name, "legacy");
  t.is(store?.spec.volumeType, expected.name, "pinned by name");
  t.regex(run.stderr, new RegExp(`cinder_volume_type was unset; Cinder's default type for project service \\(${os.serviceProjectId}\\) is ${escaped(expected.name)}; pinned \\(GlanceStore legacy, spec.volumeType\\)`));
  t.regex(run.stderr, new RegExp(`GlanceStore legacy: store id legacy, volume type ${escaped(expected.name)} \\(Cinder's default, pinned\\)`));
  t.false(run.stderr.includes(os.glanceCredentials.password));
});

test.serial("a project with its own default type: that one is pinned, and names the store", async (t) => {
  if (tenant === undefined) throw new Error("no tenant");
  const cinderDefault = await openstack().admin.defaultVolumeType(openstack().glanceCredentials);
  t.not(cinderDefault.name, tenant.defaultType.name, "the project's default differs from Cinder's");
  const run = await migrate(legacyConfig(tenant.credentials), ["--check-cinder", "--dry-run"]);
  t.is(run.code, 0, run.stderr);
  const [store] = storesOf(run.stdout.split("\n# What Glance would run")[0] ?? "");
  t.is(store?.metadata.name, tenant.defaultType.name);
  t.is(store?.spec.volumeType, tenant.defaultType.name);
  t.regex(run.stdout, new RegExp(`^cinder_volume_type = "${escaped(tenant.defaultType.name)}"$`, "m"), "the rendered stores file names it");
  t.regex(run.stderr, new RegExp(`cinder_volume_type was unset; Cinder's default type for project mig-project-${suffix} \\(${tenant.projectId}\\) is ${escaped(tenant.defaultType.name)}; pinned`));
  t.regex(run.stderr, new RegExp(`image volumes in project mig-project-${suffix} \\(${tenant.projectId}\\) \\(Secret glance-cinder\\): none`));
  for (const output of [run.stdout, run.stderr]) t.false(output.includes(TENANT_PASSWORD));
});

test.serial("image volumes of a type no migrated store covers are reported with exact counts; covered ones are attributed to their store", async (t) => {
  if (tenant === undefined) throw new Error("no tenant");
  const os = openstack();
  const orphan = `mig-orphan-${suffix}`;
  const covered = `mig-covered-${suffix}`;
  const orphans = await createImageVolumes(os, { volumeType: orphan, count: 3, owner: tenant.credentials });
  t.teardown(() => deleteImageVolumes(os, orphans));
  const kept = await createImageVolumes(os, { volumeType: covered, count: 2, owner: tenant.credentials });
  t.teardown(() => deleteImageVolumes(os, kept));
  // Not an image volume: not counted.
  const other = await os.admin.createVolume({ name: "not-an-image", volumeType: orphan, owner: tenant.credentials });
  t.teardown(() => os.purgeVolume(other.id));

  const run = await migrate(legacyConfig(tenant.credentials, `cinder_volume_type = ${covered}`), ["--check-cinder"]);
  t.is(run.code, 0, run.stderr);
  t.is(storesOf(run.stdout)[0]?.spec.volumeType, covered);
  t.regex(run.stderr, new RegExp(`image volumes in project mig-project-${suffix} \\(${tenant.projectId}\\) \\(Secret glance-cinder\\): ${covered} 2 \\(store ${covered}\\), ${orphan} 3$`, "m"));
  t.regex(run.stderr, new RegExp(`^ {2}- 3 image volumes of type ${orphan}: their legacy images would stay unmapped`, "m"));
  t.notRegex(run.stderr, new RegExp(`image volumes of type ${covered}: their legacy images would stay unmapped`));
  t.notRegex(run.stderr, /cinder_volume_type was unset/);

  // A type the file names that Cinder does not have is reported, not fatal.
  const missing = await migrate(legacyConfig(tenant.credentials, `cinder_volume_type = mig-missing-${suffix}`), ["--check-cinder"]);
  t.is(missing.code, 0, missing.stderr);
  t.regex(missing.stderr, new RegExp(`store mig-missing-${suffix}: .*mig-missing-${suffix}.*the operator will not render the store until the type is usable`));
  t.regex(missing.stderr, new RegExp(`- 2 image volumes of type ${covered}: their legacy images would stay unmapped`));
});

test.serial("credentials Keystone refuses: exit 1, nothing written, no password in the message", async (t) => {
  if (tenant === undefined) throw new Error("no tenant");
  const wrong = `wrong-Secret-${suffix}`;
  const run = await migrate(legacyConfig({ ...tenant.credentials, password: wrong }, "cinder_volume_type = x"), ["--check-cinder"]);
  t.is(run.code, 1);
  t.is(run.stdout, "");
  t.regex(run.stderr, /cannot be migrated; nothing written:\n {2}cannot check the legacy cinder store against Cinder \(with the cinder_store_\* options of \[glance_store\], Secret glance-cinder\): .*401/);
  t.false(run.stderr.includes(wrong));
});
