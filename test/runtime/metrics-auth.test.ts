/**
 * /metrics over HTTPS with authentication and authorization, without an
 * apiserver: the self-signed certificate (checked by Node's TLS and by
 * openssl), the review cache, the order of the checks, and a mounted
 * certificate renewed on disk. test/chart/least-privilege.test.ts runs the
 * same against the real apiserver with real ServiceAccount tokens.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Registry } from "prom-client";
import { isLoopback, metricsCertificate } from "../../src/cli/run.js";
import { waitFor } from "../../src/devstack/wait.js";
import { startHttpEndpoints, type RunningServer } from "../../src/runtime/health-server.js";
import { kubernetesAuthorizer, METRICS_AUTH_CACHE, type ReviewApi, type ReviewedUser } from "../../src/runtime/metrics-auth.js";
import { selfSignedCertificate } from "../../src/runtime/self-signed.js";
import { captureLogger } from "../controller/support.js";

const servers: RunningServer[] = [];
test.after.always(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Reviews answered from tables, counting the calls. */
function fakeReviews(tokens: Record<string, ReviewedUser>, allowed: Set<string>): ReviewApi & { calls: { tokens: number; access: number } } {
  const calls = { tokens: 0, access: 0 };
  return {
    calls,
    reviewToken: async (token) => {
      calls.tokens += 1;
      return tokens[token];
    },
    mayGet: async (user, path) => {
      calls.access += 1;
      return allowed.has(`${user.username} ${path}`);
    },
  };
}

/** Fetches over TLS without verifying the (self-signed) certificate, as a ServiceMonitor with insecureSkipVerify does. */
async function get(url: string, token?: string): Promise<{ status: number; body: string; certificate: X509Certificate }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const certificate = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n${token === undefined ? "" : `Authorization: Bearer ${token}\r\n`}\r\n`);
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4), certificate });
      });
    });
    socket.on("error", reject);
  });
}

test("the self-signed certificate is well-formed: Node verifies it for its IP and name, openssl reads its extensions", async (t) => {
  const pair = selfSignedCertificate({ commonName: "glance-store-operator metrics (test)", altNames: ["localhost", "127.0.0.1", "::1"] });
  const certificate = new X509Certificate(pair.cert);
  t.is(certificate.subject, "CN=glance-store-operator metrics (test)");
  t.is(certificate.subjectAltName, "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
  t.true(certificate.checkIP("127.0.0.1") !== undefined);
  t.false(certificate.ca);
  t.true(Date.parse(certificate.validTo) - Date.now() > 360 * 86_400_000);
  const openssl = await new Promise<string>((resolve, reject) => {
    const child = execFile("openssl", ["x509", "-noout", "-text"], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    child.stdin!.end(pair.cert);
  });
  t.regex(openssl, /Signature Algorithm: ecdsa-with-SHA256/);
  t.regex(openssl, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  t.regex(openssl, /X509v3 Key Usage: critical\s+Digital Signature/);
  t.regex(openssl, /X509v3 Extended Key Usage: \s*TLS Web Server Authentication/);

  // A client that trusts exactly this certificate completes a verified handshake with a server using it.
  const server = await startHttpEndpoints({ host: "127.0.0.1", port: 0, registry: new Registry(), logger: captureLogger().logger, tls: pair });
  servers.push(server);
  const authorized = await new Promise<boolean>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: server.port, ca: pair.cert }, () => {
      resolve(socket.authorized);
      socket.end();
    });
    socket.on("error", reject);
  });
  t.true(authorized);
  t.true(server.url.startsWith("https://127.0.0.1:"));
});

test("no token 401, a token the apiserver refuses 401, a user RBAC refuses 403, an allowed user 200; answers are cached, tokens never kept", async (t) => {
  const reviews = fakeReviews(
    { "reader-token": { username: "system:serviceaccount:monitoring:prometheus", groups: ["system:serviceaccounts"] }, "other-token": { username: "alice" } },
    new Set(["system:serviceaccount:monitoring:prometheus /metrics"]),
  );
  let now = 1_000_000;
  const registry = new Registry();
  const server = await startHttpEndpoints({
    host: "127.0.0.1",
    port: 0,
    registry,
    logger: captureLogger().logger,
    tls: selfSignedCertificate({ commonName: "test", altNames: ["127.0.0.1"] }),
    authorize: kubernetesAuthorizer({ reviews, logger: captureLogger().logger, clock: { now: () => now } }),
  });
  servers.push(server);

  const anonymous = await get(`${server.url}/metrics`);
  t.is(anonymous.status, 401);
  t.is(reviews.calls.tokens, 0, "no review without a token");
  t.is((await get(`${server.url}/metrics`, "forged")).status, 401);
  const forbidden = await get(`${server.url}/metrics`, "other-token");
  t.is(forbidden.status, 403);
  t.regex(forbidden.body, /user "alice" may not get path "\/metrics"/);
  // Paths are not revealed to those who may not read: 401 before 404.
  t.is((await get(`${server.url}/nothing-here`)).status, 401);

  const allowed = await get(`${server.url}/metrics`, "reader-token");
  t.is(allowed.status, 200);
  t.is(allowed.body, await registry.metrics());
  const before = { ...reviews.calls };
  for (let i = 0; i < 5; i++) t.is((await get(`${server.url}/metrics`, "reader-token")).status, 200);
  t.deepEqual(reviews.calls, before, "repeated scrapes within the cache's lifetime ask the apiserver nothing");

  now += METRICS_AUTH_CACHE.authenticatedMs + 1;
  t.is((await get(`${server.url}/metrics`, "reader-token")).status, 200);
  t.is(reviews.calls.tokens, before.tokens + 1, "the token is reviewed again once its answer expired");
  t.is(reviews.calls.access, before.access, "the allow decision lives longer (5 min)");
  now += METRICS_AUTH_CACHE.allowedMs + 1;
  t.is((await get(`${server.url}/metrics`, "reader-token")).status, 200);
  t.is(reviews.calls.access, before.access + 1);
});

test("when the apiserver cannot be asked: 401 for the token, 500 for the authorization, never 200", async (t) => {
  let failTokens = true;
  const reviews: ReviewApi = {
    reviewToken: async () => {
      if (failTokens) throw new Error("connect ECONNREFUSED");
      return { username: "bob" };
    },
    mayGet: async () => {
      throw new Error("timeout");
    },
  };
  const server = await startHttpEndpoints({
    host: "127.0.0.1",
    port: 0,
    registry: new Registry(),
    logger: captureLogger().logger,
    tls: selfSignedCertificate({ commonName: "test", altNames: ["127.0.0.1"] }),
    authorize: kubernetesAuthorizer({ reviews, logger: captureLogger().logger }),
  });
  servers.push(server);
  t.is((await get(`${server.url}/metrics`, "t")).status, 401);
  failTokens = false;
  t.is((await get(`${server.url}/metrics`, "t")).status, 500);
});

test("a mounted certificate is read from tls.crt and tls.key and served anew once the files change", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gso-metrics-certs-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = selfSignedCertificate({ commonName: "first", altNames: ["127.0.0.1"] });
  await writeFile(join(dir, "tls.crt"), first.cert);
  await writeFile(join(dir, "tls.key"), first.key);
  const tls = metricsCertificate(dir);
  t.deepEqual(tls.files, { cert: join(dir, "tls.crt"), key: join(dir, "tls.key") });
  const server = await startHttpEndpoints({
    host: "127.0.0.1",
    port: 0,
    registry: new Registry(),
    logger: captureLogger().logger,
    tls: { ...tls, files: { ...tls.files!, reloadIntervalMs: 100 } },
  });
  servers.push(server);
  t.is((await get(`${server.url}/metrics`)).certificate.subject, "CN=first");

  const second = selfSignedCertificate({ commonName: "second", altNames: ["127.0.0.1"] });
  await writeFile(join(dir, "tls.crt"), second.cert);
  await writeFile(join(dir, "tls.key"), second.key);
  await waitFor(async () => ((await get(`${server.url}/metrics`)).certificate.subject === "CN=second" ? true : undefined), {
    what: "the renewed certificate to be served",
    timeoutMs: 10_000,
    intervalMs: 100,
  });
  t.pass();
});

test("plain HTTP metrics are refused on any address but loopback", (t) => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) t.true(isLoopback(host), host);
  for (const host of ["0.0.0.0", "10.0.0.5", "::", "example.com", ""]) t.false(isLoopback(host), host);
  t.throws(() => metricsCertificate("/nonexistent-dir"), { message: /--metrics-cert-dir "\/nonexistent-dir": cannot read tls\.crt and tls\.key/ });
});
