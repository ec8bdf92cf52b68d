/**
 * The OpenStack client against the real Keystone and Cinder API of the local
 * stack: authentication (and each way it fails), finding Cinder in the
 * catalog, volume types (private, deleted, default), request counts per
 * round, and volume pagination. Faults on the path (outages, slowness, TLS)
 * are in faults.test.ts.
 */
import test, { type ExecutionContext } from "ava";
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import { startFaultProxy } from "../../src/devstack/fault-proxy.js";
import { issueToken, type PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { createLogger } from "../../src/runtime/logger.js";
import { OpenStackClient, type OpenStackErrorReason, type OpenStackEvent, type StoreCheckRequest, type StoreCheckResult } from "../../src/openstack/index.js";
import {
  AUTH_PATH,
  DEFAULT_TYPE_PATH,
  deleteService,
  findSecrets,
  inParallel,
  liftVolumeQuota,
  LogSink,
  openstackOf,
  passwordCredentials,
  TYPES_ALL_PATH,
  TYPES_PATH,
  unique,
  VOLUMES_PATH,
  WireRecorder,
} from "./support.js";

let stack: DevStack;
const recorder = new WireRecorder();
const recorders = [recorder];
const logSink = new LogSink();
/** Every secret value a test used: none may appear in an error or a log line. */
const secrets = new Set<string>();
const clients: OpenStackClient[] = [];

test.before(async () => {
  stack = await startDevStack({ kube: false });
  const openstack = openstackOf(stack);
  secrets.add(openstack.glanceCredentials.password);
  secrets.add(openstack.adminCredentials.password);
});

test.after("no secret in any log line of the clients", (t) => {
  t.true(logSink.lines.length > 0, "the clients logged something");
  t.deepEqual(findSecrets(logSink.text, [...secrets, ...tokensSeen()]), []);
});

// Keystone runs with lockout (3 failures in a row). This file sends a wrong password for the shared glance user twice
// in all ("a wrong password" below and the refused count in the volumes test), so glance stays below the threshold.
test.after("the glance user was never locked out by the wrong passwords of this file", async (t) => {
  const openstack = openstackOf(stack);
  const lockout = openstack.keystoneLockout;
  const failures = (await openstack.failedAuthCount("glance")) ?? 0;
  t.true(lockout === false || failures < lockout.failureAttempts, `glance has ${failures} failed authentications in a row`);
  await issueToken(glance());
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await stack?.stop();
});

const tokensSeen = (): string[] => recorders.flatMap((r) => [...r.tokensSeen]);

function newClient(events?: OpenStackEvent[], options: { volumesPageSize?: number; wire?: WireRecorder; typeViewTtlMs?: number; now?: () => number } = {}): OpenStackClient {
  const { wire = recorder, ...rest } = options;
  if (!recorders.includes(wire)) recorders.push(wire);
  const client = new OpenStackClient({
    dispatcherFactory: wire.factory,
    logger: createLogger({ level: "trace", destination: logSink }),
    backoff: { baseMs: 20, maxMs: 200 },
    ...(events === undefined ? {} : { observer: (event: OpenStackEvent) => events.push(event) }),
    ...rest,
  });
  clients.push(client);
  return client;
}

const glance = (): PasswordCredentials => openstackOf(stack).glanceCredentials;
const glanceCredentials = (overrides: Record<string, string | undefined> = {}): ResolvedCredentials => passwordCredentials(glance(), overrides);

async function checkOne(client: OpenStackClient, request: Omit<StoreCheckRequest, "key">): Promise<StoreCheckResult> {
  const results = await client.checkStores([{ key: "store", regionName: "RegionOne", ...request }]);
  const result = results.get("store");
  if (result === undefined) throw new Error("no result for the store");
  return result;
}

/** Asserts a failed result with `reason`, scans it for secrets, and returns the error for more checks. */
function expectFailure(t: ExecutionContext, result: StoreCheckResult | undefined, reason: OpenStackErrorReason) {
  if (result === undefined) throw new Error("no result");
  if (result.ok) {
    t.fail(`expected ${reason}, got success with ${result.volumeType.name}`);
    throw new Error("unexpected success");
  }
  t.is(result.error.reason, reason, result.error.message);
  t.deepEqual(findSecrets(result.error, [...secrets, ...tokensSeen()]), [], "no secret in the error");
  return result;
}

// ---------------------------------------------------------------- region, aliases and catalog misses (serial: they change the catalog)

test.serial("catalog: region filter, the block-storage alias and a missing interface, with endpoints registered in Keystone", async (t) => {
  const openstack = openstackOf(stack);
  const token = await issueToken(glance());
  const volumev3 = token.catalog.find((entry) => entry.type === "volumev3");
  if (volumev3 === undefined) return t.fail("no volumev3 service in the catalog");
  const proxy = await startFaultProxy({ listenPort: await stack.ports.allocate(), targetPort: openstack.cinder.port });
  const aliasProxy = await startFaultProxy({ listenPort: await stack.ports.allocate(), targetPort: openstack.cinder.port });
  const created: string[] = [];
  let blockStorage: string | undefined;
  try {
    await openstack.admin.createRegion("RegionProxy");
    await openstack.admin.createRegion("RegionBS");
    created.push(await openstack.admin.createEndpoint({ serviceId: volumev3.id, interface: "public", url: `${proxy.url}/v3/$(project_id)s`, regionId: "RegionProxy" }));
    blockStorage = await openstack.admin.createService("block-storage", "cinder-block-storage");
    created.push(await openstack.admin.createEndpoint({ serviceId: blockStorage, interface: "public", url: `${aliasProxy.url}/v3/$(project_id)s`, regionId: "RegionBS" }));
    const type = await openstack.admin.createVolumeType(unique("region"));
    const client = newClient();

    const viaRegion = await checkOne(client, { credentials: glanceCredentials(), regionName: "RegionProxy", volumeType: type.name });
    t.true(viaRegion.ok, viaRegion.ok ? "" : viaRegion.error.message);
    if (viaRegion.ok) t.is(viaRegion.endpoint, `${proxy.url}/v3/${openstack.serviceProjectId}`);
    t.true(proxy.stats().connections > 0, "the call went through the endpoint of RegionProxy");

    const viaAlias = await checkOne(client, { credentials: glanceCredentials(), regionName: "RegionBS", volumeType: type.name, catalogInfo: "volumev3::publicURL" });
    if (viaAlias.ok) t.is(viaAlias.endpoint, `${aliasProxy.url}/v3/${openstack.serviceProjectId}`);
    else t.fail(viaAlias.error.message);
    t.true(aliasProxy.stats().connections > 0, "the call went to the block-storage service's endpoint");

    const noInternal = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), regionName: "RegionProxy", catalogInfo: "volumev3::internalURL", volumeType: type.name }), "EndpointNotFound");
    t.regex(noInternal.error.message, /interface internal, region "RegionProxy"/);
    t.regex(noInternal.error.message, /volumev3 "cinderv3" \[.*public@RegionProxy.*\]/);
    t.true(noInternal.authenticated);
  } finally {
    for (const id of created) await openstack.admin.deleteEndpoint(id);
    if (blockStorage !== undefined) await deleteService(stack, blockStorage);
    await proxy.close();
    await aliasProxy.close();
  }
});

// ---------------------------------------------------------------- authentication

test("a store by name, by id, and by Cinder's default type; domains and project given by id work too", async (t) => {
  const openstack = openstackOf(stack);
  const type = await openstack.admin.createVolumeType(unique("basic"));
  const client = newClient();
  const byName = await checkOne(client, { credentials: glanceCredentials(), volumeType: type.name });
  t.like(byName, { ok: true, resolvedDefault: false, volumeType: { id: type.id, name: type.name, isPublic: true }, projectId: openstack.serviceProjectId });
  if (byName.ok) t.is(byName.endpoint, `${openstack.cinderUrl}/v3/${openstack.serviceProjectId}`);
  t.like(await checkOne(client, { credentials: glanceCredentials(), volumeType: type.id }), { ok: true, volumeType: { name: type.name } });
  const defaultType = await openstack.admin.defaultVolumeType();
  t.like(await checkOne(client, { credentials: glanceCredentials() }), { ok: true, resolvedDefault: true, volumeType: { id: defaultType.id, name: defaultType.name } });

  const byIds = glanceCredentials({ userDomainName: undefined, userDomainId: "default", projectName: undefined, projectDomainName: undefined, projectId: openstack.serviceProjectId });
  t.like(await checkOne(client, { credentials: byIds, volumeType: type.name }), { ok: true, projectId: openstack.serviceProjectId });
  const domainIds = glanceCredentials({ userDomainName: undefined, userDomainId: "default", projectDomainName: undefined, projectDomainId: "default" });
  t.like(await checkOne(client, { credentials: domainIds, volumeType: type.name }), { ok: true });
});

test("application credentials authenticate; a wrong secret is AuthFailed", async (t) => {
  const openstack = openstackOf(stack);
  const own = await issueToken(glance());
  secrets.add(own.token);
  const appCred = await openstack.admin.createApplicationCredential(own.userId, own.token, unique("gso"));
  secrets.add(appCred.secret);
  const wrongSecret = "not-the-application-credential-secret";
  secrets.add(wrongSecret);
  const type = await openstack.admin.createVolumeType(unique("appcred"));
  const client = newClient();
  const auth = { kind: "applicationCredential" as const, authUrl: openstack.keystoneUrl, applicationCredentialId: appCred.id, applicationCredentialSecret: appCred.secret };
  t.like(await checkOne(client, { credentials: { auth }, volumeType: type.name }), { ok: true, projectId: openstack.serviceProjectId });
  const refused = expectFailure(t, await checkOne(client, { credentials: { auth: { ...auth, applicationCredentialSecret: wrongSecret } }, volumeType: type.name }), "AuthFailed");
  t.regex(refused.error.message, new RegExp(`application credential "${appCred.id}"`));
  t.false(refused.authenticated);
});

const authFailures: { name: string; overrides: Record<string, string | undefined>; message: RegExp }[] = [
  { name: "a wrong password", overrides: { password: "wrong-password-for-glance" }, message: /refused user "glance" \(domain "Default"\) in project "service" \(domain "Default"\) \(HTTP 401\).*Check the username, password, project and both domains/ },
  { name: "a project that does not exist", overrides: { projectName: "no-such-project" }, message: /in project "no-such-project" \(domain "Default"\) \(HTTP 401\)/ },
  { name: "a user domain that does not exist", overrides: { userDomainName: "NoSuchDomain" }, message: /user "glance" \(domain "NoSuchDomain"\)/ },
  { name: "a project domain id that does not exist", overrides: { projectDomainName: undefined, projectDomainId: "no-such-domain-id" }, message: /project "service" \(domain id "no-such-domain-id"\)/ },
];

for (const row of authFailures) {
  test(`AuthFailed for ${row.name}, naming who was refused and what to check`, async (t) => {
    for (const value of Object.values(row.overrides)) if (value !== undefined && /password/.test(value)) secrets.add(value);
    const events: OpenStackEvent[] = [];
    const client = newClient(events);
    const result = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(row.overrides), volumeType: "whatever" }), "AuthFailed");
    t.regex(result.error.message, row.message);
    t.false(result.authenticated);
    t.is(result.error.service, "keystone");
    t.is(result.error.status, 401);
    t.deepEqual(
      events.filter((e) => e.kind === "auth").map((e) => e.outcome),
      ["AuthFailed"],
      "a 401 from Keystone is not retried",
    );
  });
}

test("an authUrl without /v3 is KeystoneRejected, not AuthFailed (Keystone never judged the password), with the fix in the message", async (t) => {
  const openstack = openstackOf(stack);
  const root = openstack.keystoneUrl.replace(/\/v3$/, "");
  const events: OpenStackEvent[] = [];
  const client = newClient(events);
  const result = expectFailure(t, await checkOne(client, { credentials: glanceCredentials({ authUrl: root }), volumeType: "x" }), "KeystoneRejected");
  t.regex(result.error.message, /does not look like a Keystone v3 endpoint. It must be the v3 root/);
  // Not a refusal: nothing is held, the next round asks again.
  expectFailure(t, await checkOne(client, { credentials: glanceCredentials({ authUrl: root }), volumeType: "x" }), "KeystoneRejected");
  t.deepEqual(events.filter((e) => e.kind === "auth" || e.kind === "auth-held").map((e) => e.kind), ["auth", "auth"]);
});

test("a refused credential set is sent to Keystone once per hold, whatever the rounds, targets and stores; a changed password is sent at once", async (t) => {
  const openstack = openstackOf(stack);
  const admin = openstack.admin;
  const username = unique("lockout-probe");
  const userId = await admin.createUser({ name: username, password: "right-password", defaultProjectId: openstack.serviceProjectId });
  await admin.grantProjectRole(openstack.serviceProjectId, userId, "admin");
  secrets.add("right-password");
  secrets.add("wrong-password-1");
  const type = await admin.createVolumeType(unique("held"));
  const user = { ...glance(), username, password: "right-password" };
  const events: OpenStackEvent[] = [];
  const wire = new WireRecorder();
  const client = newClient(events, { wire });
  const wrong = passwordCredentials({ ...user, password: "wrong-password-1" });
  const authCalls = () => wire.count("POST", AUTH_PATH);

  const before = authCalls();
  const first = expectFailure(t, await checkOne(client, { credentials: wrong, volumeType: type.name }), "AuthFailed");
  t.regex(first.error.message, /holds these credentials off until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; a change of the Secret's data is tried at once/);
  t.false(first.error.message.includes("wrong-password-1"));
  // Five more rounds with the set in two stores each (as two targets would): not one more token request.
  for (let round = 0; round < 5; round++) {
    const results = await client.checkStores([
      { key: "a", credentials: wrong, regionName: "RegionOne", volumeType: type.name },
      { key: "b", credentials: wrong, regionName: "RegionOne", volumeType: type.name },
    ]);
    for (const key of ["a", "b"]) {
      const result = results.get(key);
      t.true(result !== undefined && !result.ok && result.error.reason === "AuthFailed");
      if (result !== undefined && !result.ok) t.is(result.error.message, first.error.message, "one message for every round: the status does not churn");
    }
  }
  t.is(authCalls() - before, 1, "exactly one refused request reached Keystone");
  t.true(events.filter((e) => e.kind === "auth-held").length >= 5);
  const failed = await openstack.postgres.sql("keystone", `SELECT failed_auth_count FROM local_user WHERE name = '${username}'`);
  t.regex(failed, /^\s*1\s*$/m, `Keystone counted one failure: ${failed}`);

  // The fix (a new Secret, so a new credential set) is tried at once and works.
  const fixed = await checkOne(client, { credentials: passwordCredentials(user), volumeType: type.name });
  t.true(fixed.ok);
  t.is(authCalls() - before, 2);
});

test("a refusal remembered from a status holds the set without asking Keystone; an expired one does not", async (t) => {
  const events: OpenStackEvent[] = [];
  const wire = new WireRecorder();
  const client = newClient(events, { wire });
  const credentials = glanceCredentials({ password: "recorded-wrong-password" });
  secrets.add("recorded-wrong-password");
  const now = Date.now();
  client.rememberRefusal(credentials, { refusedAtMs: now - 60_000, retryAtMs: now + 3_600_000 });
  const held = expectFailure(t, await checkOne(client, { credentials, volumeType: "x" }), "AuthFailed");
  t.regex(held.error.message, /as an earlier run of the operator recorded/);
  t.is(wire.count("POST", AUTH_PATH), 0, "nothing was sent");
  const expired = glanceCredentials();
  client.rememberRefusal(expired, { refusedAtMs: now - 7_200_000, retryAtMs: now - 1 });
  expectFailure(t, await checkOne(client, { credentials: expired, volumeType: "no-such-type-here" }), "VolumeTypeNotFound");
});

// ---------------------------------------------------------------- endpoints

test("EndpointNotFound for a service type or a region the catalog lacks, naming what was asked and what is there", async (t) => {
  const client = newClient();
  const noType = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), catalogInfo: "volumev2::publicURL", volumeType: "x" }), "EndpointNotFound");
  t.regex(noType.error.message, /service type "volumev2" \(or block-storage\), service name any, interface public, region "RegionOne"/);
  t.regex(noType.error.message, /it has types .*identity.*volumev3/);
  t.true(noType.authenticated, "Keystone accepted the credentials; only the endpoint is missing");

  const noRegion = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), regionName: "RegionTwo", volumeType: "x" }), "EndpointNotFound");
  t.regex(noRegion.error.message, /region "RegionTwo": the catalog offers volumev3 "cinderv3" \[public@RegionOne, internal@RegionOne, admin@RegionOne\]/);

  const badInfo = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), catalogInfo: "volumev3:publicURL", volumeType: "x" }), "EndpointNotFound");
  t.regex(badInfo.error.message, /exactly three parts/);
});

test("the endpoint template overrides the catalog; a template Cinder does not answer is EndpointNotFound", async (t) => {
  const openstack = openstackOf(stack);
  const type = await openstack.admin.createVolumeType(unique("template"));
  const client = newClient();
  const direct = await checkOne(client, {
    credentials: glanceCredentials(),
    regionName: "NotInTheCatalog",
    endpointTemplate: `${openstack.cinderUrl}/v3/%(project_id)s`,
    volumeType: type.name,
  });
  t.like(direct, { ok: true, endpoint: `${openstack.cinderUrl}/v3/${openstack.serviceProjectId}` });

  const unknownKey = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), endpointTemplate: `${openstack.cinderUrl}/v3/%(user)s`, volumeType: type.name }), "EndpointNotFound");
  t.regex(unknownKey.error.message, /%\(user\)s/);

  const wrongPath = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), endpointTemplate: `${openstack.cinderUrl}/nope/%(project_id)s`, volumeType: type.name }), "EndpointNotFound");
  t.regex(wrongPath.error.message, /answered 404 to GET .*\/types.*must be Cinder's v3 API/);
  t.is(wrongPath.error.service, "cinder");
});

// ---------------------------------------------------------------- volume types

test("a private type: NotAccessible for an admin-role user, NotFound (saying it cannot tell) for a member; fine once granted", async (t) => {
  const openstack = openstackOf(stack);
  const admin = openstack.admin;
  const projectName = unique("tenant");
  const projectId = await admin.createProject(projectName);
  const username = unique("tenant-user");
  const tenantPassword = "tenant-password-9f3a";
  secrets.add(tenantPassword);
  const userId = await admin.createUser({ name: username, password: tenantPassword, defaultProjectId: projectId });
  await admin.grantProjectRole(projectId, userId, "member");
  const tenant = passwordCredentials({ ...glance(), username, password: tenantPassword, projectName });
  const privateType = await admin.createVolumeType(unique("private"), { isPublic: false });
  const events: OpenStackEvent[] = [];
  const client = newClient(events);

  const asAdmin = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), volumeType: privateType.name }), "VolumeTypeNotAccessible");
  t.regex(asAdmin.error.message, new RegExp(`\\(id ${privateType.id}\\) exists .* but is private and project "service" \\(${openstack.serviceProjectId}\\) was not granted access`));
  t.true(events.some((e) => e.kind === "types-all"), "the admin view was asked for");

  const asMember = expectFailure(t, await checkOne(client, { credentials: tenant, volumeType: privateType.name }), "VolumeTypeNotFound");
  t.regex(asMember.error.message, /Either it does not exist, or it is private and the project has no access: these credentials are not a Cinder admin/);
  t.regex(asMember.error.message, new RegExp(`openstack volume type set --project ${projectId} ${privateType.name}`));

  await admin.addVolumeTypeAccess(privateType.id, projectId);
  await admin.addVolumeTypeAccess(privateType.id, openstack.serviceProjectId);
  t.like(await checkOne(client, { credentials: tenant, volumeType: privateType.name }), { ok: true, volumeType: { id: privateType.id, isPublic: false } });
  t.like(await checkOne(client, { credentials: glanceCredentials(), volumeType: privateType.name }), { ok: true, volumeType: { id: privateType.id, isPublic: false } });
});

test("a type deleted between two rounds is VolumeTypeNotFound in the second: nothing is cached across rounds", async (t) => {
  const openstack = openstackOf(stack);
  const type = await openstack.admin.createVolumeType(unique("doomed"));
  const client = newClient();
  t.like(await checkOne(client, { credentials: glanceCredentials(), volumeType: type.name }), { ok: true });
  await openstack.admin.deleteVolumeType(type.id);
  const gone = expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), volumeType: type.name }), "VolumeTypeNotFound");
  t.regex(gone.error.message, new RegExp(`volume type "${type.name}" does not exist in Cinder`));
  t.true(gone.authenticated);
});

// ---------------------------------------------------------------- one round, many stores

test("50 stores of one credential set cost 1 authentication and 1 type list per round; a second set costs one more of each", async (t) => {
  const openstack = openstackOf(stack);
  const types = await Promise.all(Array.from({ length: 5 }, () => openstack.admin.createVolumeType(unique("many"))));
  const events: OpenStackEvent[] = [];
  const wire = new WireRecorder();
  const client = newClient(events, { wire });
  const stores: StoreCheckRequest[] = Array.from({ length: 50 }, (_, i) => ({
    key: `openstack/store-${i}`,
    credentials: glanceCredentials(),
    regionName: "RegionOne",
    // Every tenth store names no type: Cinder's default, asked for once.
    volumeType: i % 10 === 0 ? undefined : (types[i % 5]?.name as string),
  }));
  const counts = () => ({
    auth: events.filter((e) => e.kind === "auth").length,
    types: events.filter((e) => e.kind === "types").length,
    defaultType: events.filter((e) => e.kind === "default-type").length,
    all: events.filter((e) => e.kind === "types-all").length,
  });
  const onWire = () => ({
    auth: wire.count("POST", AUTH_PATH),
    types: wire.count("GET", TYPES_PATH),
    defaultType: wire.count("GET", DEFAULT_TYPE_PATH),
    all: wire.count("GET", TYPES_ALL_PATH),
  });

  const round1 = await client.checkStores(stores);
  t.is(round1.size, 50);
  t.true([...round1.values()].every((result) => result.ok));
  t.deepEqual([...round1.keys()], stores.map((store) => store.key), "results come in request order");
  t.deepEqual(counts(), { auth: 1, types: 1, defaultType: 1, all: 0 });
  t.deepEqual(onWire(), counts(), "the requests on the wire are the ones the observer saw");
  t.is(wire.requests.length, 3);

  const round2 = await client.checkStores(stores);
  t.true([...round2.values()].every((result) => result.ok));
  t.deepEqual(counts(), { auth: 1, types: 2, defaultType: 2, all: 0 }, "round 2 reuses the token and lists the types again, once");
  t.deepEqual(onWire(), counts());

  const withTypo = [...stores, { key: "openstack/typo", credentials: glanceCredentials(), regionName: "RegionOne", volumeType: "no-such-type" }];
  const round3 = await client.checkStores(withTypo);
  t.is(round3.get("openstack/typo")?.ok, false);
  t.deepEqual(counts(), { auth: 1, types: 3, defaultType: 3, all: 1 }, "one admin view for the whole round, not per store");
  t.deepEqual(onWire(), counts());

  const tenantName = unique("other-tenant");
  const tenantProject = await openstack.admin.createProject(tenantName);
  const tenantUser = unique("other-user");
  const tenantPassword = "other-tenant-password-1";
  secrets.add(tenantPassword);
  const tenantUserId = await openstack.admin.createUser({ name: tenantUser, password: tenantPassword, defaultProjectId: tenantProject });
  await openstack.admin.grantProjectRole(tenantProject, tenantUserId, "member");
  const tenant = passwordCredentials({ ...glance(), username: tenantUser, password: tenantPassword, projectName: tenantName });
  const mixed = stores.map((store, i) => (i % 2 === 0 ? store : { ...store, credentials: tenant }));
  const round4 = await client.checkStores(mixed);
  t.true([...round4.values()].every((result) => result.ok));
  // The stores that name no type (every tenth) all kept the first credential set: no default-type call for the second.
  t.deepEqual(counts(), { auth: 2, types: 5, defaultType: 4, all: 1 }, "the second credential set: one more token, one more list");
  t.deepEqual(onWire(), counts());
  t.is(wire.requests.length, 2 + 5 + 4 + 1);
});

test("duplicate keys in one round are a programming error", async (t) => {
  const client = newClient();
  const request = { key: "same", credentials: glanceCredentials() };
  await t.throwsAsync(client.checkStores([request, request]), { instanceOf: TypeError, message: /share the key "same"/ });
});

// ---------------------------------------------------------------- image volumes

test("image volumes: 130 volumes over pages of 50, counted per store type from one listing", async (t) => {
  const openstack = openstackOf(stack);
  await liftVolumeQuota(stack, openstack.serviceProjectId);
  const [paged, other] = [await openstack.admin.createVolumeType(unique("paged")), await openstack.admin.createVolumeType(unique("other"))];
  const uuid = (i: number) => `0b6e4a57-4ab3-4e43-9d3c-${String(i).padStart(12, "0")}`;
  const specs = [
    ...Array.from({ length: 120 }, (_, i) => ({ name: `image-${uuid(i)}`, volumeType: paged.name })),
    ...Array.from({ length: 5 }, (_, i) => ({ name: `data-${i}`, volumeType: paged.name })),
    ...Array.from({ length: 5 }, (_, i) => ({ name: `image-${uuid(1000 + i)}`, volumeType: other.name })),
  ];
  await inParallel(specs, 6, (spec) => openstack.admin.createVolume({ ...spec, owner: glance() }));
  const total = (await openstack.admin.listVolumes(openstack.serviceProjectId)).length;
  t.true(total >= 130);

  const events: OpenStackEvent[] = [];
  const client = newClient(events, { volumesPageSize: 50 });
  const volumesBefore = recorder.count("GET", VOLUMES_PATH);
  const counted = await client.countImageVolumes([
    { key: "paged", credentials: glanceCredentials(), regionName: "RegionOne", volumeTypes: [{ name: paged.name, id: paged.id }] },
    { key: "other", credentials: glanceCredentials(), regionName: "RegionOne", volumeTypes: [{ name: other.name }] },
    { key: "empty", credentials: glanceCredentials(), regionName: "RegionOne", volumeTypes: [{ name: "no-volumes-of-this-type" }] },
  ]);
  t.like(counted.get("paged"), { ok: true, count: 120 });
  t.like(counted.get("other"), { ok: true, count: 5 });
  t.like(counted.get("empty"), { ok: true, count: 0 });
  const paging = events.filter((e) => e.kind === "volumes");
  t.is(paging.length, 1, "one listing shared by the three stores");
  const pages = paging[0]?.pages ?? 0;
  t.true(pages >= Math.ceil(total / 50) && pages <= Math.ceil(total / 50) + 1, `pages: ${pages} for ${total} volumes`);
  t.is(recorder.count("GET", VOLUMES_PATH) - volumesBefore, pages, "what went on the wire");
  const pagedResult = counted.get("paged");
  if (pagedResult?.ok) t.deepEqual(new Set(pagedResult.volumes.map((v) => v.imageId)).size, 120, "each image volume once");

  const listed = await client.listVolumes({ credentials: glanceCredentials(), regionName: "RegionOne" });
  t.is(new Set(listed.map((v) => v.id)).size, total);

  const refused = await client.countImageVolumes([{ key: "x", credentials: glanceCredentials({ password: "wrong-password-for-glance" }), volumeTypes: [{ name: paged.name }] }]);
  const failure = refused.get("x");
  t.is(failure?.ok, false);
  if (failure !== undefined && !failure.ok) {
    t.is(failure.error.reason, "AuthFailed");
    t.deepEqual(findSecrets(failure.error, [...secrets, "wrong-password-for-glance"]), []);
  }
});

test("with a shared type view, the targets of a round cost one type list per credential set and endpoint; a type the view lacks is asked at once; the view expires", async (t) => {
  const openstack = openstackOf(stack);
  const types = await Promise.all(Array.from({ length: 3 }, () => openstack.admin.createVolumeType(unique("shared"))));
  const wire = new WireRecorder();
  let now = 1_000_000;
  const client = newClient(undefined, { wire, typeViewTtlMs: 30_000, now: () => now });
  // Twenty targets, each its own round of checks, all with the glance user's credentials.
  for (let target = 0; target < 20; target++) {
    const results = await client.checkStores(
      types.map((type, i) => ({ key: `target-${target}/store-${i}`, credentials: glanceCredentials(), regionName: "RegionOne", volumeType: type.name })),
    );
    t.true([...results.values()].every((result) => result.ok));
  }
  t.is(wire.count("GET", TYPES_PATH), 1, "one type list for twenty targets");
  t.is(wire.count("POST", AUTH_PATH), 1);

  // A type created a moment ago is not missed: the view lacks it, so Cinder is asked again at once.
  const fresh = await openstack.admin.createVolumeType(unique("fresh"));
  const found = await checkOne(client, { credentials: glanceCredentials(), volumeType: fresh.name });
  t.true(found.ok, found.ok ? "" : found.error.message);
  t.is(wire.count("GET", TYPES_PATH), 2);
  // ...and that newer view is the one shared now.
  t.true((await checkOne(client, { credentials: glanceCredentials(), volumeType: types[0]!.name })).ok);
  t.is(wire.count("GET", TYPES_PATH), 2);

  // A name no view has costs a list each time: never a stale "not found".
  expectFailure(t, await checkOne(client, { credentials: glanceCredentials(), volumeType: "no-such-type" }), "VolumeTypeNotFound");
  t.is(wire.count("GET", TYPES_PATH), 3);

  // Once the view is older than its time to live, the next check lists again.
  now += 30_000;
  t.true((await checkOne(client, { credentials: glanceCredentials(), volumeType: types[1]!.name })).ok);
  t.is(wire.count("GET", TYPES_PATH), 4);
});
