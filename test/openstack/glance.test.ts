/**
 * glanceStores against a real glance-api of the local stack: two cinder
 * stores and a file store, registered in Keystone's catalog as the `image`
 * service (public: the plain URL; internal: behind a path prefix with a
 * trailing slash, as a WSGI deployment under /image has it). The detail view
 * for admin-role credentials, the plain list for a member (Glance's policy
 * makes the detail admin-only), catalog misses, an explicit URL, a refused
 * password held off, and the transport and body failures.
 */
import test, { type ExecutionContext } from "ava";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import type { GlanceApi as DevGlance } from "../../src/devstack/glance.js";
import type { PasswordCredentials, VolumeType } from "../../src/devstack/openstack-admin.js";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { OpenStackClient, type GlanceStoresRequest, type GlanceStoresResult, type OpenStackClientOptions, type OpenStackErrorReason, type OpenStackEvent } from "../../src/openstack/index.js";
import { AUTH_PATH, deleteService, findSecrets, LogSink, openstackOf, recordingClient, passwordCredentials, unique, WireRecorder } from "./support.js";

let stack: DevStack;
let glance: DevGlance;
let prefixProxy: LoopbackServer;
let fast: VolumeType;
let slow: VolumeType;
let member: PasswordCredentials;
const catalogEntries: { endpoints: string[]; serviceId?: string } = { endpoints: [] };
const servers: LoopbackServer[] = [];
const clients: OpenStackClient[] = [];
const recorders: WireRecorder[] = [];
const logSink = new LogSink();
const secrets = new Set<string>();

const DETAIL_PATH = /\/v2\/info\/stores\/detail$/;
const PLAIN_PATH = /\/v2\/info\/stores$/;

interface LoopbackServer {
  readonly url: string;
  readonly paths: string[];
  close(): Promise<void>;
}

/** A plain HTTP server on a port of the stack's, recording the paths it was asked for. */
async function startServer(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<LoopbackServer> {
  const port = await stack.ports.allocate();
  const paths: string[] = [];
  const server: Server = createServer((request, response) => {
    paths.push(request.url ?? "");
    handler(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const started: LoopbackServer = {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(started);
  return started;
}

/** Glance under a path prefix, as a web server that mounts glance-wsgi-api at /image serves it. */
function startPrefixProxy(prefix: string, target: string): Promise<LoopbackServer> {
  return startServer((request, response) => {
    const path = request.url ?? "";
    if (!path.startsWith(`${prefix}/`)) {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end(`nothing here outside ${prefix}/`);
      return;
    }
    const upstream = httpRequest(`${target}${path.slice(prefix.length)}`, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on("error", () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
}

async function storesConfigDir(): Promise<string> {
  const openstack = openstackOf(stack);
  const user = openstack.glanceCredentials;
  const dir = join(stack.directory, "glance-stores-test", "conf");
  const data = join(stack.directory, "glance-stores-test", "images");
  await mkdir(dir, { recursive: true });
  await mkdir(data, { recursive: true });
  const cinder = (id: string, type: VolumeType, description?: string) => [
    `[${id}]`,
    `cinder_volume_type = ${type.name}`,
    `cinder_store_auth_address = ${user.authUrl}`,
    `cinder_store_user_name = ${user.username}`,
    `cinder_store_project_name = ${user.projectName}`,
    "cinder_catalog_info = volumev3::publicURL",
    `cinder_os_region_name = ${openstack.region}`,
    ...(description === undefined ? [] : [`store_description = ${description}`]),
  ];
  const options = [
    "[DEFAULT]",
    "enabled_backends = fast:cinder, slow:cinder, local:file",
    "[glance_store]",
    "default_backend = fast",
    ...cinder("fast", fast, "Fast SSD"),
    ...cinder("slow", slow),
    "[local]",
    `filesystem_store_datadir = ${data}`,
  ];
  await writeFile(join(dir, "glance-api-stores.conf"), `${options.join("\n")}\n`);
  await writeFile(join(dir, "glance-api-stores-credentials.conf"), `[fast]\ncinder_store_password = ${user.password}\n[slow]\ncinder_store_password = ${user.password}\n`, { mode: 0o600 });
  return dir;
}

test.before(async () => {
  stack = await startDevStack({ kube: false });
  const openstack = openstackOf(stack);
  secrets.add(openstack.glanceCredentials.password);
  secrets.add(openstack.adminCredentials.password);
  [fast, slow] = [await openstack.admin.createVolumeType(unique("glance-fast")), await openstack.admin.createVolumeType(unique("glance-slow"))];
  glance = await openstack.startGlance({ configDir: await storesConfigDir(), name: "glance-stores-test" });
  prefixProxy = await startPrefixProxy("/image", glance.url);

  catalogEntries.serviceId = await openstack.admin.createService("image", "glance");
  catalogEntries.endpoints.push(await openstack.admin.createEndpoint({ serviceId: catalogEntries.serviceId, interface: "public", url: glance.url, regionId: openstack.region }));
  catalogEntries.endpoints.push(await openstack.admin.createEndpoint({ serviceId: catalogEntries.serviceId, interface: "internal", url: `${prefixProxy.url}/image/`, regionId: openstack.region }));

  // A user with the member role only: Glance's default policy shows it the plain store list, not the detail.
  const projectName = unique("glance-member-project");
  const projectId = await openstack.admin.createProject(projectName);
  const username = unique("glance-member");
  const password = "glance-member-password-7c1e";
  secrets.add(password);
  const userId = await openstack.admin.createUser({ name: username, password, defaultProjectId: projectId });
  await openstack.admin.grantProjectRole(projectId, userId, "member");
  member = { ...openstack.glanceCredentials, username, password, projectName };
});

test.after("no secret in any log line of the clients", (t) => {
  t.true(logSink.lines.length > 0, "the clients logged something");
  t.deepEqual(findSecrets(logSink.text, [...secrets, ...tokensSeen()]), []);
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  const openstack = stack?.openstack;
  if (openstack !== undefined) {
    for (const id of catalogEntries.endpoints) await openstack.admin.deleteEndpoint(id).catch(() => {});
    if (catalogEntries.serviceId !== undefined) await deleteService(stack, catalogEntries.serviceId).catch(() => {});
  }
  await Promise.allSettled(servers.map((server) => server.close()));
  await glance?.stop();
  await stack?.stop();
});

const tokensSeen = (): string[] => recorders.flatMap((recorder) => [...recorder.tokensSeen]);

function newClient(options: Partial<OpenStackClientOptions> = {}): { client: OpenStackClient; events: OpenStackEvent[]; wire: WireRecorder } {
  return recordingClient(options, { recorders, clients, sink: logSink });
}

const glanceUser = (): ResolvedCredentials => passwordCredentials(openstackOf(stack).glanceCredentials);
const adminUser = (): ResolvedCredentials => passwordCredentials(openstackOf(stack).adminCredentials);
const memberUser = (): ResolvedCredentials => passwordCredentials(member);

/** Requests that reached the glance-api (directly or through the prefix proxy). */
const glanceRequests = (wire: WireRecorder): number => wire.requests.filter((request) => request.origin === glance.url || request.origin === prefixProxy.url).length;

const kinds = (events: readonly OpenStackEvent[]) => events.map((event) => `${event.kind}:${event.outcome}`);

const expectedDetail = () => [
  { id: "fast", default: true, type: "cinder", volumeType: fast.name, description: "Fast SSD" },
  { id: "slow", default: false, type: "cinder", volumeType: slow.name },
  { id: "local", default: false, type: "file" },
];

function expectFailure(t: ExecutionContext, result: GlanceStoresResult, reason: OpenStackErrorReason) {
  if (result.ok) {
    t.fail(`expected ${reason}, got ${JSON.stringify(result)}`);
    throw new Error("unexpected success");
  }
  t.is(result.error.reason, reason, result.error.message);
  t.deepEqual(findSecrets(result.error, [...secrets, ...tokensSeen()]), [], "no secret in the error");
  return result.error;
}

test("admin-role credentials: the detail view from the catalog's public endpoint, with types and volume types", async (t) => {
  const { client, events, wire } = newClient();
  const result = await client.glanceStores({ credentials: glanceUser(), regionName: "RegionOne" });
  t.deepEqual(result, { ok: true, url: glance.url, detail: true, stores: expectedDetail() });
  t.deepEqual(kinds(events), ["auth:ok", "catalog:ok", "glance-stores-detail:ok"]);
  t.is(wire.count("GET", DETAIL_PATH), 1);
  t.is(wire.count("GET", PLAIN_PATH), 0, "no fallback needed");

  // The bootstrap admin (another project) sees the same; no region means the first image endpoint.
  t.like(await client.glanceStores({ credentials: adminUser() }), { ok: true, url: glance.url, detail: true });
  // A second call reuses the token.
  t.like(await client.glanceStores({ credentials: glanceUser() }), { ok: true, detail: true });
  t.is(wire.count("POST", AUTH_PATH), 2);
});

test.serial("the internal endpoint: a path prefix with a trailing slash in the catalog", async (t) => {
  const { client } = newClient();
  const before = prefixProxy.paths.length;
  const result = await client.glanceStores({ credentials: glanceUser(), interface: "internal", regionName: "RegionOne" });
  t.deepEqual(result, { ok: true, url: `${prefixProxy.url}/image`, detail: true, stores: expectedDetail() });
  t.deepEqual(prefixProxy.paths.slice(before), ["/image/v2/info/stores/detail"]);
});

test("a member (Glance's policy: detail is admin-only): 403 to the detail, then the plain list with detail false", async (t) => {
  const { client, events, wire } = newClient();
  const result = await client.glanceStores({ credentials: memberUser() });
  t.deepEqual(result, {
    ok: true,
    url: glance.url,
    detail: false,
    stores: [
      { id: "fast", default: true, description: "Fast SSD" },
      { id: "slow", default: false },
      { id: "local", default: false },
    ],
  });
  t.deepEqual(kinds(events), ["auth:ok", "catalog:ok", "glance-stores-detail:AuthFailed", "glance-stores:ok"]);
  t.is(wire.count("GET", DETAIL_PATH), 1);
  t.is(wire.count("GET", PLAIN_PATH), 1);
});

test("no image endpoint for the interface or region: EndpointNotFound from the catalog, Glance not asked", async (t) => {
  const { client, events, wire } = newClient();
  const noAdmin = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), interface: "admin" }), "EndpointNotFound");
  t.is(noAdmin.service, "keystone");
  t.regex(noAdmin.message, /^no Glance endpoint in the Keystone catalog matches service type "image", service name any, interface admin, region any: the catalog offers image "glance" \[public@RegionOne, internal@RegionOne\]/);
  const noRegion = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), regionName: "RegionTwo" }), "EndpointNotFound");
  t.regex(noRegion.message, /interface public, region "RegionTwo"/);
  t.is(glanceRequests(wire), 0, "nothing went to Glance");
  t.is(wire.count("POST", AUTH_PATH), 1);
  t.deepEqual(kinds(events), ["auth:ok", "catalog:EndpointNotFound", "catalog:EndpointNotFound"]);
});

test.serial("an explicit URL is used as given, without the catalog: with /v2/, behind a prefix; a URL that cannot be right costs no token", async (t) => {
  const { client, events, wire } = newClient();
  // The catalog has no admin endpoint and no RegionTwo: neither matters with a URL.
  const request: GlanceStoresRequest = { credentials: glanceUser(), interface: "admin", regionName: "RegionTwo", url: `${glance.url}/v2/` };
  t.deepEqual(await client.glanceStores(request), { ok: true, url: glance.url, detail: true, stores: expectedDetail() });
  t.like(await client.glanceStores({ ...request, url: `${prefixProxy.url}/image` }), { ok: true, url: `${prefixProxy.url}/image`, detail: true });
  t.false(events.some((event) => event.kind === "catalog"), "the catalog was not consulted");

  const authBefore = wire.count("POST", AUTH_PATH);
  const bad = expectFailure(t, await client.glanceStores({ credentials: passwordCredentials({ ...member, password: "never-sent-password" }), url: "glance:9292" }), "EndpointNotFound");
  secrets.add("never-sent-password");
  t.is(bad.service, "glance");
  t.regex(bad.message, /Glance needs http or https/);
  t.is(wire.count("POST", AUTH_PATH), authBefore, "no token was asked for");

  const wrongPrefix = expectFailure(t, await client.glanceStores({ ...request, url: `${prefixProxy.url}/glance` }), "EndpointNotFound");
  t.is(wrongPrefix.service, "glance");
  t.regex(wrongPrefix.message, /answered 404 to GET \/v2\/info\/stores\/detail\. Glance says: "nothing here outside \/image\/"\. The URL must be Glance's API root without \/v2/);
});

test("a refused password is sent to Keystone once and then held; Glance is never asked", async (t) => {
  const openstack = openstackOf(stack);
  const username = unique("glance-refused");
  const userId = await openstack.admin.createUser({ name: username, password: "the-right-password-3d", defaultProjectId: openstack.serviceProjectId });
  await openstack.admin.grantProjectRole(openstack.serviceProjectId, userId, "admin");
  secrets.add("the-right-password-3d");
  secrets.add("a-wrong-password-3d");
  const wrong = passwordCredentials({ ...openstack.glanceCredentials, username, password: "a-wrong-password-3d" });
  const { client, events, wire } = newClient();

  const first = expectFailure(t, await client.glanceStores({ credentials: wrong }), "AuthFailed");
  t.like(first, { service: "keystone", status: 401 });
  const again = expectFailure(t, await client.glanceStores({ credentials: wrong, url: glance.url }), "AuthFailed");
  const third = expectFailure(t, await client.glanceStores({ credentials: wrong, interface: "internal" }), "AuthFailed");
  for (const held of [again, third]) {
    t.is(held.message, first.message, "one message while held");
    t.true(held instanceof Error && "refusal" in held && (held as { refusal?: { held: boolean } }).refusal?.held === true);
  }
  t.is(wire.count("POST", AUTH_PATH), 1, "Keystone was asked once");
  t.is(glanceRequests(wire), 0, "Glance was never asked");
  t.deepEqual(kinds(events), ["auth:AuthFailed", "auth-held:AuthFailed", "auth-held:AuthFailed"]);
  t.is(await openstack.failedAuthCount(username), 1);
});

/** The ad-hoc servers below are on loopback and not in the catalog: trusted by hand, as the controller trusts a Service of the namespace. */
const LOOPBACK = (hostname: string): boolean => hostname === "127.0.0.1";

test("a URL given by hand that is neither in the catalog nor trusted gets no token and no request", async (t) => {
  const { client } = newClient();
  const listener = await startServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ stores: [] }));
  });
  const refused = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: listener.url }), "EndpointNotFound");
  t.regex(refused.message, /is neither an image endpoint of the Keystone catalog nor a trusted host: the operator sends a Keystone token of the store credentials only there/);
  t.is(listener.paths.length, 0, "nothing was sent to it");
  t.like(await client.glanceStores({ credentials: glanceUser(), url: listener.url, trustHost: LOOPBACK }), { ok: true, stores: [] });
});

test("nothing listening: Unreachable; no answer in time: Timeout; an answer that is not Glance's: Unexpected without the token", async (t) => {
  // Long enough for Keystone on a loaded machine: the silent server costs the whole of it.
  const { client, events } = newClient({ requestTimeoutMs: 12_000 });
  const closedPort = await stack.ports.allocate();
  const unreachable = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: `http://127.0.0.1:${closedPort}`, httpRetries: 1, trustHost: LOOPBACK }), "Unreachable");
  t.like(unreachable, { service: "glance", attempts: 2 });
  t.regex(unreachable.message, /^Glance at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED/);

  const silent = await startServer(() => {
    // Never answers.
  });
  const timeout = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: silent.url, trustHost: LOOPBACK }), "Timeout");
  t.like(timeout, { service: "glance", attempts: 1 });
  t.is(silent.paths.length, 1, "a request timeout is not retried");

  // A server that echoes the token it got: the error quotes the start of the body, scrubbed.
  const echo = await startServer((request, response) => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(`token ${String(request.headers["x-auth-token"])} is all I know`);
  });
  const notJson = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: echo.url, trustHost: LOOPBACK }), "Unexpected");
  t.regex(notJson.message, /answered GET \/v2\/info\/stores\/detail with something that is not JSON .*starting "token \[redacted\] is all I know"/);
  const wrongShape = await startServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ stores: [{ name: "no id" }] }));
  });
  const malformed = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: wrongShape.url, trustHost: LOOPBACK }), "Unexpected");
  t.regex(malformed.message, /a body this client does not understand \(.* at stores\.0\.id\)/);
  t.deepEqual(
    kinds(events.filter((event) => event.kind.startsWith("glance"))),
    ["glance-stores-detail:Unreachable", "glance-stores-detail:Timeout", "glance-stores-detail:Unexpected", "glance-stores-detail:Unexpected"],
  );
});

test("a glance-api that did not read the stores config (no enabled_backends): EndpointNotFound that says so", async (t) => {
  const empty = join(stack.directory, "glance-stores-test", "empty");
  await mkdir(empty, { recursive: true });
  const bare = await openstackOf(stack).startGlance({ configDir: empty, name: "glance-no-stores" });
  try {
    const { client } = newClient();
    const error = expectFailure(t, await client.glanceStores({ credentials: glanceUser(), url: bare.url, trustHost: LOOPBACK }), "EndpointNotFound");
    t.like(error, { service: "glance", status: 404 });
    t.regex(error.message, /runs without multiple stores .*Glance says: "[^"]*Multi backend is not supported at this site\.[^"]*".*did not read the rendered configuration/);
  } finally {
    await bare.stop();
  }
});
