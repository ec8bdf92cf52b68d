/**
 * imageVolumesByType and defaultVolumeType against the real Keystone and
 * Cinder API of the local stack: image volumes of several types (left in
 * `creating`, as cinder-api alone leaves them) counted per type from one
 * listing per (credential set, endpoint), and Cinder's default type as a
 * project sees it, including a project whose own default was changed
 * (Cinder API 3.62).
 */
import test, { type ExecutionContext } from "ava";
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import type { PasswordCredentials, Volume, VolumeType } from "../../src/devstack/openstack-admin.js";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { OpenStackClient, type ImageVolumesByTypeResult, type OpenStackEvent } from "../../src/openstack/index.js";
import { findSecrets, inParallel, liftVolumeQuota, LogSink, openstackOf, recordingClient, passwordCredentials, unique, VOLUMES_PATH, WireRecorder } from "./support.js";

let stack: DevStack;
const clients: OpenStackClient[] = [];
const recorders: WireRecorder[] = [];
const logSink = new LogSink();
const secrets = new Set<string>();
/** What the tests made, removed after them. */
const made = { volumes: [] as string[], types: [] as string[], users: [] as string[], projects: [] as string[] };

test.before(async () => {
  stack = await startDevStack({ kube: false });
  const openstack = openstackOf(stack);
  secrets.add(openstack.glanceCredentials.password);
  secrets.add(openstack.adminCredentials.password);
});

test.after("no secret in any log line of the clients", (t) => {
  t.true(logSink.lines.length > 0, "the clients logged something");
  t.deepEqual(findSecrets(logSink.text, [...secrets, ...recorders.flatMap((recorder) => [...recorder.tokensSeen])]), []);
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  const openstack = stack?.openstack;
  if (openstack !== undefined) {
    // Volumes first (cinder-api alone cannot delete them: their rows are marked deleted), then what they used.
    for (const id of made.volumes) await openstack.purgeVolume(id).catch(() => {});
    for (const id of made.types) await openstack.admin.deleteVolumeType(id).catch(() => {});
    for (const id of made.users) await openstack.admin.deleteUser(id).catch(() => {});
    for (const id of made.projects) await openstack.admin.deleteProject(id).catch(() => {});
  }
  await stack?.stop();
});

function newClient(options: { volumesPageSize?: number } = {}): { client: OpenStackClient; events: OpenStackEvent[]; wire: WireRecorder } {
  return recordingClient(options, { recorders, clients, sink: logSink });
}

async function volumeType(prefix: string): Promise<VolumeType> {
  const type = await openstackOf(stack).admin.createVolumeType(unique(prefix));
  made.types.push(type.id);
  return type;
}

/** A project with a member-only user of its own. */
async function tenant(prefix: string): Promise<{ projectId: string; user: PasswordCredentials; credentials: ResolvedCredentials }> {
  const admin = openstackOf(stack).admin;
  const projectName = unique(`${prefix}-project`);
  const projectId = await admin.createProject(projectName);
  made.projects.push(projectId);
  const username = unique(`${prefix}-user`);
  const password = `${prefix}-password-5b9d`;
  secrets.add(password);
  const userId = await admin.createUser({ name: username, password, defaultProjectId: projectId });
  made.users.push(userId);
  await admin.grantProjectRole(projectId, userId, "member");
  const user = { ...openstackOf(stack).glanceCredentials, username, password, projectName };
  return { projectId, user, credentials: passwordCredentials(user) };
}

let imageCounter = 0;
const imageName = (): string => `image-5f0c9a3e-7d21-4c8b-9e4a-${String(++imageCounter).padStart(12, "0")}`;

async function createVolumes(owner: PasswordCredentials, specs: readonly { name: string; volumeType?: string }[]): Promise<Volume[]> {
  const volumes = await inParallel(specs, 4, (spec) => openstackOf(stack).admin.createVolume({ ...spec, owner }));
  made.volumes.push(...volumes.map((volume) => volume.id));
  return volumes;
}

function expectOk(t: ExecutionContext, result: ImageVolumesByTypeResult | undefined) {
  if (result === undefined || !result.ok) {
    t.fail(result === undefined ? "no result" : result.error.message);
    throw new Error("expected a count");
  }
  return result;
}

test("image volumes per type from one listing per (credential set, endpoint), whatever their status; other projects' volumes and other names do not count", async (t) => {
  const openstack = openstackOf(stack);
  const [a, b, c] = [await volumeType("vbt-a"), await volumeType("vbt-b"), await volumeType("vbt-c")];
  const own = await tenant("vbt");
  await liftVolumeQuota(stack, own.projectId);
  const defaultType = await openstack.admin.defaultVolumeType(own.user);
  const created = await createVolumes(own.user, [
    ...Array.from({ length: 3 }, () => ({ name: imageName(), volumeType: a.name })),
    ...Array.from({ length: 2 }, () => ({ name: imageName(), volumeType: b.name })),
    { name: imageName(), volumeType: c.name },
    // No type asked for: Cinder gives the project's default type (it keeps no volume without a type).
    { name: imageName() },
    // Not image volumes.
    { name: "data-disk", volumeType: a.name },
    { name: "image-not-a-uuid", volumeType: b.name },
    { name: `${imageName()}-copy`, volumeType: c.name },
  ]);
  // The service project's image volume of type a belongs to the glance user's count only.
  await createVolumes(openstack.glanceCredentials, [{ name: imageName(), volumeType: a.name }]);
  const statuses = new Set((await openstack.admin.listVolumes(own.projectId)).filter((volume) => created.some((mine) => mine.id === volume.id)).map((volume) => volume.status));
  t.log(`statuses of the volumes created: ${[...statuses].join(", ")}`);
  t.false(statuses.has("available"), "no volume service here: the volumes counted below are not available ones");

  const { client, events, wire } = newClient({ volumesPageSize: 4 });
  const region = openstack.region;
  const results = await client.imageVolumesByType([
    { key: "catalog", credentials: own.credentials, regionName: region },
    { key: "catalog-again", credentials: own.credentials, regionName: region, httpRetries: 5 },
    // The template gives the very URL the catalog has: the same endpoint, the same listing.
    { key: "template", credentials: own.credentials, endpointTemplate: `${openstack.cinderUrl}/v3/%(project_id)s` },
    { key: "service", credentials: passwordCredentials(openstack.glanceCredentials), regionName: region },
    { key: "no-endpoint", credentials: own.credentials, catalogInfo: "volumev2::publicURL" },
  ]);
  t.deepEqual([...results.keys()], ["catalog", "catalog-again", "template", "service", "no-endpoint"], "results in request order");

  const expected = [
    { volumeType: a.name, count: 3 },
    { volumeType: b.name, count: 2 },
    { volumeType: c.name, count: 1 },
    { volumeType: defaultType.name, count: 1 },
  ].sort((x, y) => (x.volumeType < y.volumeType ? -1 : x.volumeType > y.volumeType ? 1 : 0));
  for (const key of ["catalog", "catalog-again", "template"]) {
    t.deepEqual(expectOk(t, results.get(key)), { ok: true, projectId: own.projectId, byType: expected }, key);
  }
  t.deepEqual(expectOk(t, results.get("service")), { ok: true, projectId: openstack.serviceProjectId, byType: [{ volumeType: a.name, count: 1 }] });
  const missing = results.get("no-endpoint");
  t.is(missing?.ok === false ? missing.error.reason : undefined, "EndpointNotFound");
  if (missing !== undefined && !missing.ok) t.deepEqual(findSecrets(missing.error, secrets), []);

  // One listing per credential set (both on the catalog's endpoint), each over all its pages.
  const listings = events.filter((event) => event.kind === "volumes");
  t.is(listings.length, 2);
  const firstPages = (projectId: string) => wire.requests.filter((request) => request.method === "GET" && request.path.startsWith(`/v3/${projectId}/volumes/detail?`) && !request.path.includes("marker=")).length;
  t.is(firstPages(own.projectId), 1, "one listing for the project's three requests");
  t.is(firstPages(openstack.serviceProjectId), 1);
  const ownPages = wire.requests.filter((request) => request.path.startsWith(`/v3/${own.projectId}/volumes/detail?`)).length;
  t.true(ownPages >= 3, `the 10 volumes of the project over pages of 4: ${ownPages} pages`);
  t.is(wire.count("GET", VOLUMES_PATH), listings.reduce((sum, event) => sum + (event.pages ?? 0), 0), "what went on the wire is what the events say");
});

test("a credential set Keystone refuses: every request of it fails with AuthFailed, nothing is listed", async (t) => {
  const own = await tenant("vbt-refused");
  const wrong = passwordCredentials({ ...own.user, password: "vbt-wrong-password" });
  secrets.add("vbt-wrong-password");
  const { client, wire } = newClient();
  const results = await client.imageVolumesByType([
    { key: "x", credentials: wrong },
    { key: "y", credentials: wrong, regionName: "RegionOne" },
  ]);
  for (const key of ["x", "y"]) {
    const result = results.get(key);
    t.is(result?.ok === false ? result.error.reason : undefined, "AuthFailed");
    if (result !== undefined && !result.ok) t.deepEqual(findSecrets(result.error, secrets), []);
  }
  t.is(wire.count("GET", VOLUMES_PATH), 0);
  await t.throwsAsync(client.imageVolumesByType([{ key: "same", credentials: own.credentials }, { key: "same", credentials: own.credentials }]), { instanceOf: TypeError });
});

test("defaultVolumeType: Cinder's default for the project, and a project's own default once set (API 3.62), read anew each call", async (t) => {
  const openstack = openstackOf(stack);
  const { client, events } = newClient();
  const stackDefault = await openstack.admin.defaultVolumeType(openstack.glanceCredentials);
  t.deepEqual(await client.defaultVolumeType({ credentials: passwordCredentials(openstack.glanceCredentials), regionName: openstack.region }), {
    ok: true,
    volumeType: { id: stackDefault.id, name: stackDefault.name },
    projectId: openstack.serviceProjectId,
  });

  const own = await tenant("vbt-default");
  const target = { credentials: own.credentials, regionName: openstack.region };
  t.like(await client.defaultVolumeType(target), { ok: true, volumeType: { id: stackDefault.id, name: stackDefault.name }, projectId: own.projectId });
  const [first, second] = [await volumeType("vbt-project-default"), await volumeType("vbt-project-default")];
  await openstack.admin.setProjectDefaultVolumeType(own.projectId, first.name);
  t.deepEqual(await client.defaultVolumeType(target), { ok: true, volumeType: { id: first.id, name: first.name }, projectId: own.projectId });
  await openstack.admin.setProjectDefaultVolumeType(own.projectId, second.id);
  t.deepEqual(await client.defaultVolumeType(target), { ok: true, volumeType: { id: second.id, name: second.name }, projectId: own.projectId }, "not cached");
  // Other projects keep Cinder's default.
  t.like(await client.defaultVolumeType({ credentials: passwordCredentials(openstack.glanceCredentials) }), { ok: true, volumeType: { id: stackDefault.id } });
  t.is(events.filter((event) => event.kind === "default-type" && event.outcome === "ok").length, 5);

  const wrongPath = await client.defaultVolumeType({ ...target, endpointTemplate: `${openstack.cinderUrl}/nope/%(project_id)s` });
  t.is(wrongPath.ok ? undefined : wrongPath.error.reason, "EndpointNotFound", "a 404 from a path that is not Cinder's is not \"no default type\"");
  if (!wrongPath.ok) t.regex(wrongPath.error.message, /answered 404 to GET \/nope\/.*\/types\/default\. The endpoint must be Cinder's v3 API/);
  const noService = await client.defaultVolumeType({ ...target, catalogInfo: "volumev2::publicURL" });
  t.is(noService.ok ? undefined : noService.error.reason, "EndpointNotFound");
  if (!noService.ok) t.regex(noService.error.message, /no Cinder endpoint in the Keystone catalog matches service type "volumev2"/);
});
