import test from "ava";
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GlanceStartError } from "../../src/devstack/glance.js";
import { issueToken, type PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import { useStack } from "../support/stack.js";

const local = useStack({ kube: false });
const openstack = local.openstack;

/** The public volumev3 endpoint of a token's catalog, as glance_store would pick it. */
async function volumeTypesAs(credentials: PasswordCredentials): Promise<string[]> {
  const token = await issueToken(credentials);
  const volume = token.catalog.find((entry) => entry.type === "volumev3");
  const endpoint = volume?.endpoints.find((e) => e.interface === "public" && e.region === "RegionOne");
  if (!endpoint) throw new Error(`no public volumev3 endpoint in ${JSON.stringify(token.catalog)}`);
  const response = await fetch(`${endpoint.url}/types`, { headers: { "x-auth-token": token.token } });
  if (!response.ok) throw new Error(`GET types answered ${response.status}`);
  const body = (await response.json()) as { volume_types: { name: string }[] };
  return body.volume_types.map((type) => type.name);
}

let counter = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++counter}`;

test("the glance user authenticates to Keystone and lists Cinder's volume types through the catalog", async (t) => {
  const token = await issueToken(openstack().glanceCredentials);
  t.is(token.projectId, openstack().serviceProjectId);
  const volume = token.catalog.find((entry) => entry.type === "volumev3");
  t.truthy(volume);
  t.true(volume!.endpoints.every((e) => e.url === `${openstack().cinderUrl}/v3/${token.projectId}`));
  t.true((await volumeTypesAs(openstack().glanceCredentials)).includes("__DEFAULT__"));
});

/** A user of its own (admin in `service`, as glance): wrong passwords here lock only it, never the stack's shared users. */
async function throwawayUser(prefix: string): Promise<PasswordCredentials> {
  const name = unique(prefix);
  const userId = await openstack().admin.createUser({ name, password: "throwaway-password", defaultProjectId: openstack().serviceProjectId });
  await openstack().admin.grantProjectRole(openstack().serviceProjectId, userId, "admin");
  return { ...openstack().glanceCredentials, username: name, password: "throwaway-password" };
}

test("a wrong password is refused by Keystone with 401", async (t) => {
  const user = await throwawayUser("refused");
  const error = await t.throwsAsync(issueToken({ ...user, password: "not-the-password" }));
  t.regex(error.message, /answered 401/);
});

test("Keystone locks a user after three wrong passwords in a row (lockout on by default): then the right one is refused too", async (t) => {
  t.deepEqual(openstack().keystoneLockout, { failureAttempts: 3, durationSeconds: 1800 });
  const user = await throwawayUser("locked");
  await issueToken(user);
  t.is(await openstack().failedAuthCount(user.username), 0);
  for (const attempt of [1, 2, 3]) {
    await t.throwsAsync(issueToken({ ...user, password: "not-the-password" }), { message: /answered 401/ });
    t.is(await openstack().failedAuthCount(user.username), attempt);
  }
  const locked = await t.throwsAsync(issueToken(user), { message: /answered 401/ });
  t.regex(locked.message, /locked|temporarily|401/i);
  t.is(await openstack().failedAuthCount("no-such-user"), undefined);
});

test("a success resets the count of failed authentications", async (t) => {
  const user = await throwawayUser("reset");
  for (let i = 0; i < 2; i++) await t.throwsAsync(issueToken({ ...user, password: "not-the-password" }));
  t.is(await openstack().failedAuthCount(user.username), 2);
  await issueToken(user);
  t.is(await openstack().failedAuthCount(user.username), 0);
});

test.serial("a private volume type is invisible to a project without access, visible once access is granted", async (t) => {
  const admin = openstack().admin;
  const projectName = unique("tenant");
  const projectId = await admin.createProject(projectName);
  const username = unique("tenant-user");
  const userId = await admin.createUser({ name: username, password: "tenant-password", defaultProjectId: projectId });
  await admin.grantProjectRole(projectId, userId, "member");
  const tenant: PasswordCredentials = { ...openstack().glanceCredentials, username, password: "tenant-password", projectName };
  const privateType = await admin.createVolumeType(unique("private"), { isPublic: false });
  t.false((await volumeTypesAs(tenant)).includes(privateType.name));
  await admin.addVolumeTypeAccess(privateType.id, projectId);
  t.true((await volumeTypesAs(tenant)).includes(privateType.name));
  await admin.removeVolumeTypeAccess(privateType.id, projectId);
  t.false((await volumeTypesAs(tenant)).includes(privateType.name));
});

test("volumes made through cinder-api are listed with their type and can be purged", async (t) => {
  const admin = openstack().admin;
  const type = await admin.createVolumeType(unique("listed"));
  const volume = await admin.createVolume({ name: "image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11", volumeType: type.name, owner: openstack().glanceCredentials });
  t.is(volume.status, "creating");
  const listed = await admin.listVolumes(openstack().serviceProjectId);
  t.deepEqual(
    listed.filter((v) => v.id === volume.id).map((v) => [v.name, v.volume_type]),
    [["image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11", type.name]],
  );
  await openstack().purgeVolume(volume.id);
  t.false((await admin.listVolumes(openstack().serviceProjectId)).some((v) => v.id === volume.id));
});

async function storesConfigDir(
  stores: { id: string; volumeType: string; description?: string }[],
  defaultId: string,
  password: string,
  credentials: PasswordCredentials = openstack().glanceCredentials,
): Promise<string> {
  const dir = await mkdtemp(join(local.stack().directory, "glance-conf-"));
  const options = [
    "[DEFAULT]",
    `enabled_backends = ${stores.map((s) => `${s.id}:cinder`).join(", ")}`,
    "[glance_store]",
    `default_backend = ${defaultId}`,
  ];
  const secrets: string[] = [];
  for (const store of stores) {
    options.push(
      `[${store.id}]`,
      `cinder_volume_type = ${store.volumeType}`,
      `cinder_store_auth_address = ${credentials.authUrl}`,
      `cinder_store_user_name = ${credentials.username}`,
      `cinder_store_project_name = ${credentials.projectName}`,
      "cinder_catalog_info = volumev3::publicURL",
      "cinder_os_region_name = RegionOne",
      ...(store.description ? [`store_description = ${store.description}`] : []),
    );
    secrets.push(`[${store.id}]`, `cinder_store_password = ${password}`);
  }
  await writeFile(join(dir, "glance-api-stores.conf"), `${options.join("\n")}\n`);
  await writeFile(join(dir, "glance-api-stores-credentials.conf"), `${secrets.join("\n")}\n`);
  return dir;
}

test.serial("glance-api started with a two-store cinder config dir lists both stores", async (t) => {
  const admin = openstack().admin;
  const fast = await admin.createVolumeType(unique("glance-fast"));
  const slow = await admin.createVolumeType(unique("glance-slow"));
  const configDir = await storesConfigDir(
    [
      { id: "fast", volumeType: fast.name, description: "Fast SSD" },
      { id: "slow", volumeType: slow.name },
    ],
    "fast",
    openstack().glanceCredentials.password,
  );
  const glance = await openstack().startGlance({ configDir });
  try {
    t.deepEqual(await glance.stores(), [{ id: "fast", description: "Fast SSD", default: "true" }, { id: "slow" }]);
    const detail = await glance.storesDetail();
    t.deepEqual(
      detail.map((s) => [s.id, s.type, s.properties?.["volume_type"]]),
      [
        ["fast", "cinder", fast.name],
        ["slow", "cinder", slow.name],
      ],
    );
  } finally {
    await glance.stop();
  }
});

test.serial("glance-api refuses to start when the first cinder store's password is wrong", async (t) => {
  const type = await openstack().admin.createVolumeType(unique("refused"));
  const user = await throwawayUser("glance-refused");
  const configDir = await storesConfigDir([{ id: "only", volumeType: type.name }], "only", "wrong-password", user);
  const error = await t.throwsAsync(openstack().startGlance({ configDir }), { instanceOf: GlanceStartError });
  t.not(error.exitCode, 0);
  t.regex(error.log, /401/);
  // glance-api tries the first cinder store's credentials at start: each start with a wrong password is one more failure.
  const failures = await openstack().failedAuthCount(user.username);
  t.log(`failed authentications after one glance-api start with a wrong password: ${failures}`);
  t.true((failures ?? 0) >= 1);
});
