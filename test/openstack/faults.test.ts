/**
 * The OpenStack client when the path to the real services misbehaves:
 * Cinder stopped, slow, hung, resetting or refusing behind a fault proxy;
 * Keystone likewise; TLS through a TLS-terminating proxy; and tokens that
 * expire (this stack's Keystone issues 15-second tokens): reuse, refresh,
 * single flight, and the one re-authentication after Cinder answers 401.
 *
 * Serial tests (ava runs them first) are the ones that stop Cinder; the
 * token tests run concurrently afterwards and mostly wait for expiry.
 */
import test, { type ExecutionContext } from "ava";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type CertificateFiles } from "../../src/devstack/certs.js";
import { startFaultProxy, type FaultProxy } from "../../src/devstack/fault-proxy.js";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { createLogger } from "../../src/runtime/logger.js";
import { OpenStackClient, type OpenStackClientOptions, type OpenStackErrorReason, type OpenStackEvent, type StoreCheckRequest, type StoreCheckResult } from "../../src/openstack/index.js";
import { AUTH_PATH, findSecrets, LogSink, openstackOf, passwordCredentials, unique, WireRecorder } from "./support.js";

const TOKEN_SECONDS = 15;
/**
 * Short enough to keep the file quick, long enough for a healthy call on a
 * loaded two-core machine (Cinder validating a new token has taken seconds).
 */
const REQUEST_TIMEOUT_MS = 5_000;

let stack: DevStack;
const logSink = new LogSink();
const recorders: WireRecorder[] = [];
const clients: OpenStackClient[] = [];
const proxies: FaultProxy[] = [];
const secrets = new Set<string>();
let typeName: string;
let ca: CertificateAuthority;
let serverCert: CertificateFiles;
/** Signed by a CA no test trusts. */
let otherCert: CertificateFiles;

test.before(async () => {
  stack = await startDevStack({ kube: false, tokenExpirationSeconds: TOKEN_SECONDS });
  const openstack = openstackOf(stack);
  secrets.add(openstack.glanceCredentials.password);
  secrets.add(openstack.adminCredentials.password);
  typeName = (await openstack.admin.createVolumeType(unique("faults"))).name;
  const certDir = await mkdtemp(join(stack.directory, "certs-"));
  ca = await createCertificateAuthority(certDir, "gso-test-ca");
  serverCert = await issueCertificate(certDir, ca, { name: "proxy", commonName: "127.0.0.1", usage: "server", ipAddresses: ["127.0.0.1"] });
  const otherDir = await mkdtemp(join(stack.directory, "other-ca-"));
  otherCert = await issueCertificate(otherDir, await createCertificateAuthority(otherDir, "unrelated-ca"), { name: "other", commonName: "127.0.0.1", usage: "server", ipAddresses: ["127.0.0.1"] });
});

test.after("no secret in any log line of the clients", (t) => {
  t.true(logSink.lines.length > 0);
  t.deepEqual(findSecrets(logSink.text, [...secrets, ...tokensSeen()]), []);
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  await Promise.allSettled(proxies.map((proxy) => proxy.close()));
  await stack?.stop();
});

const tokensSeen = (): string[] => recorders.flatMap((r) => [...r.tokensSeen]);

function newClient(options: Partial<OpenStackClientOptions> & { events?: OpenStackEvent[] } = {}): { client: OpenStackClient; wire: WireRecorder; events: OpenStackEvent[] } {
  const wire = new WireRecorder();
  recorders.push(wire);
  const { events = [], ...rest } = options;
  const client = new OpenStackClient({
    dispatcherFactory: wire.factory,
    logger: createLogger({ level: "trace", destination: logSink }),
    backoff: { baseMs: 20, maxMs: 200 },
    observer: (event) => events.push(event),
    ...rest,
  });
  clients.push(client);
  return { client, wire, events };
}

async function proxyTo(targetPort: number, tls?: CertificateFiles): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ listenPort: await stack.ports.allocate(), targetPort, ...(tls === undefined ? {} : { tls }) });
  proxies.push(proxy);
  return proxy;
}

const glance = () => passwordCredentials(openstackOf(stack).glanceCredentials);

function store(overrides: Partial<StoreCheckRequest> = {}): StoreCheckRequest {
  return { key: "store", credentials: glance(), regionName: "RegionOne", volumeType: typeName, ...overrides };
}

async function checkOne(client: OpenStackClient, request: StoreCheckRequest): Promise<StoreCheckResult> {
  const result = (await client.checkStores([request])).get(request.key);
  if (result === undefined) throw new Error("no result");
  return result;
}

function expectFailure(t: ExecutionContext, result: StoreCheckResult, reason: OpenStackErrorReason) {
  if (result.ok) {
    t.fail(`expected ${reason}, got success`);
    throw new Error("unexpected success");
  }
  t.is(result.error.reason, reason, result.error.message);
  t.deepEqual(findSecrets(result.error, [...secrets, ...tokensSeen()]), [], "no secret in the error, its cause or any property");
  return result;
}

function expectOk(t: ExecutionContext, result: StoreCheckResult): void {
  t.true(result.ok, result.ok ? "" : `${result.error.reason}: ${result.error.message}`);
}

/** Cinder through a proxy: the endpoint template is how a store points at a non-catalog URL. */
const viaProxy = (proxy: FaultProxy) => `${proxy.url}/v3/%(project_id)s`;

// ---------------------------------------------------------------- Cinder outages (serial: Cinder is stopped)

test.serial("Cinder stopped: Unreachable after the configured retries, and fine again once it is back", async (t) => {
  const openstack = openstackOf(stack);
  const { client, wire } = newClient();
  expectOk(t, await checkOne(client, store()));
  await openstack.cinder.stop();
  try {
    const before = wire.requests.length;
    const started = Date.now();
    const result = expectFailure(t, await checkOne(client, store({ httpRetries: 2 })), "Unreachable");
    t.is(result.error.service, "cinder");
    t.is(result.error.attempts, 3, "cinder_http_retries = 2: three attempts");
    t.is(wire.requests.length - before, 3);
    t.true(result.authenticated, "Keystone is up: the credentials are fine");
    t.regex(result.error.message, /Cinder at http:\/\/127\.0\.0\.1:\d+ is unreachable \((ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)/);
    t.true(Date.now() - started < 10_000, "bounded in time");
    t.true(result.error.transient);
  } finally {
    await openstack.cinder.start();
  }
  expectOk(t, await checkOne(client, store()));
});

test.serial("Cinder slow behind a delaying proxy: Timeout after the request timeout, not retried; fine when the delay goes", async (t) => {
  const proxy = await proxyTo(openstackOf(stack).cinder.port);
  const { client, wire } = newClient({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const slowStore = store({ endpointTemplate: viaProxy(proxy) });
  expectOk(t, await checkOne(client, slowStore));
  await proxy.setMode({ kind: "delay", chunkMs: 4 * REQUEST_TIMEOUT_MS });
  const before = wire.requests.length;
  const started = Date.now();
  const result = expectFailure(t, await checkOne(client, slowStore), "Timeout");
  const elapsed = Date.now() - started;
  t.true(elapsed >= REQUEST_TIMEOUT_MS - 100 && elapsed < 2 * REQUEST_TIMEOUT_MS, `gave up after ${elapsed} ms`);
  t.is(result.error.attempts, 1, "a timeout is not retried: it would multiply the wait");
  t.is(wire.requests.length - before, 1);
  t.regex(result.error.message, new RegExp(`did not answer GET /v3/\\w+/types within ${REQUEST_TIMEOUT_MS} ms`));
  await proxy.setMode({ kind: "pass" });
  expectOk(t, await checkOne(client, slowStore));

  await proxy.setMode({ kind: "delay", connectMs: 200, chunkMs: 50 });
  expectOk(t, await checkOne(client, slowStore));
});

test.serial("Cinder hung, resetting or refusing behind the proxy: Timeout, Unreachable after retries, Unreachable", async (t) => {
  const proxy = await proxyTo(openstackOf(stack).cinder.port);
  const { client } = newClient({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const proxied = store({ endpointTemplate: viaProxy(proxy), httpRetries: 2 });
  expectOk(t, await checkOne(client, proxied));

  await proxy.setMode({ kind: "drop" });
  const hung = expectFailure(t, await checkOne(client, proxied), "Timeout");
  t.is(hung.error.attempts, 1);

  await proxy.setMode({ kind: "reset" });
  proxy.resetStats();
  const reset = expectFailure(t, await checkOne(client, proxied), "Unreachable");
  t.is(reset.error.attempts, 3);
  t.true(proxy.stats().connections >= 3, "each attempt reached the proxy");

  await proxy.setMode({ kind: "refuse" });
  const refused = expectFailure(t, await checkOne(client, proxied), "Unreachable");
  t.regex(refused.error.message, /ECONNREFUSED/);

  await proxy.setMode({ kind: "pass" });
  expectOk(t, await checkOne(client, proxied));
});

test.serial("Keystone refusing or hung behind the proxy: Unreachable or Timeout from keystone, not authenticated", async (t) => {
  const openstack = openstackOf(stack);
  const proxy = await proxyTo(openstack.keystone.port);
  const credentials = passwordCredentials({ ...openstack.glanceCredentials, authUrl: `${proxy.url}/v3` });
  await proxy.setMode({ kind: "refuse" });
  const { client, events } = newClient({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const refused = expectFailure(t, await checkOne(client, store({ credentials, httpRetries: 1 })), "Unreachable");
  t.is(refused.error.service, "keystone");
  t.false(refused.authenticated);
  t.is(refused.error.attempts, 2);

  await proxy.setMode({ kind: "drop" });
  const hung = expectFailure(t, await checkOne(client, store({ credentials })), "Timeout");
  t.is(hung.error.service, "keystone");
  t.deepEqual(
    events.filter((e) => e.kind === "auth").map((e) => e.outcome),
    ["Unreachable", "Timeout"],
  );

  await proxy.setMode({ kind: "pass" });
  expectOk(t, await checkOne(client, store({ credentials })));
});

test.serial("answers at authUrl that are no refusal of the credentials (403, 404, 500) are not AuthFailed, and nothing is held off", async (t) => {
  const openstack = openstackOf(stack);
  const proxy = await proxyTo(openstack.keystone.port);
  const credentials = passwordCredentials({ ...openstack.glanceCredentials, authUrl: `${proxy.url}/v3` });
  const events: OpenStackEvent[] = [];
  for (const [status, reason] of [
    [403, "KeystoneRejected"],
    [404, "KeystoneRejected"],
    [500, "Unreachable"],
  ] as const) {
    await proxy.setMode({ kind: "status", status, body: '{"error": {"message": "not Keystone"}}' });
    // A client of its own: switching the proxy's mode cuts kept-alive connections, and a token request for
    // credentials Keystone never accepted is not replayed on a connection closed under it.
    const { client, wire } = newClient({ events });
    const before = wire.count("POST", AUTH_PATH);
    const failure = expectFailure(t, await checkOne(client, store({ credentials, httpRetries: 0 })), reason);
    t.is(failure.error.status, status);
    t.is(failure.error.service, "keystone");
    // Asked again on the next round: only a 401 is held off.
    expectFailure(t, await checkOne(client, store({ credentials, httpRetries: 0 })), reason);
    t.is(wire.count("POST", AUTH_PATH) - before, 2, `HTTP ${status}: both rounds reached authUrl`);
  }
  t.false(events.some((e) => e.kind === "auth-held"));
  await proxy.setMode({ kind: "pass" });
  expectOk(t, await checkOne(newClient().client, store({ credentials })));
});

// ---------------------------------------------------------------- TLS

test.serial("TLS through TLS-terminating proxies: trusted with caCert, refused without it, accepted with apiInsecure", async (t) => {
  const openstack = openstackOf(stack);
  const keystoneTls = await proxyTo(openstack.keystone.port, serverCert);
  const cinderTls = await proxyTo(openstack.cinder.port, serverCert);
  t.regex(keystoneTls.url, /^https:/);
  const base = passwordCredentials({ ...openstack.glanceCredentials, authUrl: `${keystoneTls.url}/v3` });
  const tlsStore = (credentials: typeof base, apiInsecure?: boolean) =>
    store({ credentials, endpointTemplate: viaProxy(cinderTls), ...(apiInsecure === undefined ? {} : { apiInsecure }) });

  const { client, wire } = newClient();
  const trusted = await checkOne(client, tlsStore({ ...base, caCertPem: ca.certPem }));
  expectOk(t, trusted);
  if (trusted.ok) t.is(trusted.endpoint, `${cinderTls.url}/v3/${openstack.serviceProjectId}`);
  t.true(keystoneTls.stats().connections > 0 && cinderTls.stats().connections > 0);

  const before = wire.count("POST", AUTH_PATH);
  const untrusted = expectFailure(t, await checkOne(client, tlsStore(base)), "Unreachable");
  t.is(untrusted.error.service, "keystone");
  t.is(untrusted.error.attempts, 1, "a certificate that is not trusted is not retried");
  t.is(wire.count("POST", AUTH_PATH) - before, 1);
  t.regex(untrusted.error.message, /TLS to Keystone at https:\/\/127\.0\.0\.1:\d+ failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  t.regex(untrusted.error.message, /put that CA into the credentials Secret's caCert/);
  await waitFor(() => (keystoneTls.stats().tlsFailures > 0 ? true : undefined), { what: "the proxy to see the handshake refused", timeoutMs: 5_000, intervalMs: 50 });

  // Keystone trusted, Cinder's certificate signed by another CA: the failure is Cinder's, after a good authentication.
  const cinderOtherCa = await proxyTo(openstack.cinder.port, otherCert);
  const cinderRefused = expectFailure(t, await checkOne(client, store({ credentials: { ...base, caCertPem: ca.certPem }, endpointTemplate: viaProxy(cinderOtherCa) })), "Unreachable");
  t.is(cinderRefused.error.service, "cinder");
  t.true(cinderRefused.authenticated);
  t.regex(cinderRefused.error.message, /TLS to Cinder at https:\/\/127\.0\.0\.1:\d+ failed/);

  expectOk(t, await checkOne(client, tlsStore(base, true)));
});

// ---------------------------------------------------------------- tokens (concurrent; each waits for a real expiry)

test("single flight: 20 concurrent callers on a fresh client cost one authentication", async (t) => {
  const { client, wire, events } = newClient();
  const identities = await Promise.all(Array.from({ length: 20 }, () => client.verifyCredentials({ credentials: glance() })));
  t.deepEqual(new Set(identities.map((identity) => identity.projectId)), new Set([openstackOf(stack).serviceProjectId]));
  const rounds = await Promise.all(Array.from({ length: 3 }, (_, i) => client.checkStores([store({ key: `s${i}` })])));
  t.true(rounds.every((round) => [...round.values()].every((result) => result.ok)));
  t.is(events.filter((e) => e.kind === "auth").length, 1);
  t.is(wire.count("POST", AUTH_PATH), 1);
});

test("a token is reused until shortly before it expires, then renewed before Keystone would refuse it", async (t) => {
  // 15 s tokens and a 5 s margin: renewed 10 s after the first authentication. Polled through
  // verifyCredentials, which costs nothing while the token is good, so the renewal time is measured
  // to the poll interval however slow Cinder is on a loaded machine.
  const { client, wire, events } = newClient({ tokenMarginMs: 5_000 });
  const target = { credentials: glance() };
  await client.verifyCredentials(target);
  await client.verifyCredentials(target);
  t.is(wire.count("POST", AUTH_PATH), 1, "the second call reused the token");
  await waitFor(async () => ((await client.verifyCredentials(target)) && wire.count("POST", AUTH_PATH) === 2 ? true : undefined), {
    what: "the token to be renewed",
    timeoutMs: 3 * TOKEN_SECONDS * 1000,
    intervalMs: 100,
  });
  const [first, second] = wire.requests.filter((r) => r.method === "POST" && AUTH_PATH.test(r.path)).map((r) => r.at);
  const renewedAfter = (second ?? 0) - (first ?? 0);
  t.true(renewedAfter >= (TOKEN_SECONDS - 5) * 1000 - 100, `renewed ${renewedAfter} ms after the first authentication, not before the margin`);
  t.true(renewedAfter < TOKEN_SECONDS * 1000, `renewed ${renewedAfter} ms after the first authentication, before the token expired`);
  t.is(wire.requests.length, 2, "no request at all between the two authentications");

  expectOk(t, await checkOne(client, store()));
  t.is(wire.count("POST", AUTH_PATH), 2, "the round used the renewed token");
  t.is(events.filter((e) => e.kind === "unauthorized").length, 0, "Cinder accepted it");
});

test("a 401 from Cinder drops the token and retries once with a new one (a frozen clock makes the client trust an expired token)", async (t) => {
  const frozen = Date.now();
  const { client, wire, events } = newClient({ now: () => frozen });
  expectOk(t, await checkOne(client, store()));
  t.is(wire.count("POST", AUTH_PATH), 1);
  const recovered = await waitFor(
    async () => {
      const result = await checkOne(client, store());
      return events.some((e) => e.kind === "unauthorized") ? result : undefined;
    },
    { what: "Cinder to refuse the expired token", timeoutMs: 3 * TOKEN_SECONDS * 1000, intervalMs: 1_000 },
  );
  expectOk(t, recovered);
  t.is(events.filter((e) => e.kind === "unauthorized").length, 1);
  t.is(wire.count("POST", AUTH_PATH), 2, "one new token");
  t.is(wire.tokensSeen.size, 2);
});
