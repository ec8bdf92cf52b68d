import test from "ava";
import { request as httpRequest } from "node:http";
import { Registry } from "prom-client";
import {
  informersLive,
  informersSynced,
  leadership,
  startHttpEndpoints,
  type HealthCheck,
  type InformerHealthSource,
  type RunningServer,
} from "../../src/runtime/health-server.js";
import { OperatorMetrics } from "../../src/runtime/metrics.js";
import { captureLogger } from "../controller/support.js";

const servers: RunningServer[] = [];
test.after.always(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(options: Omit<Parameters<typeof startHttpEndpoints>[0], "host" | "port" | "logger">): Promise<RunningServer> {
  const server = await startHttpEndpoints({ host: "127.0.0.1", port: 0, logger: captureLogger().logger, ...options });
  servers.push(server);
  return server;
}

function check(name: string, state: { ok: boolean; detail: string }): HealthCheck {
  return { name, check: () => ({ ...state }) };
}

/** An informer's health as the probes read it; the values are set by the test. */
function informerHealth(resource: string, state: { synced: boolean; wedged: boolean }): InformerHealthSource {
  return { health: () => ({ resource, ...state, detail: state.wedged ? "wedged in all namespaces" : "synced" }) };
}

test("/healthz and /readyz answer 200 with each check when all pass, 503 naming the failing check otherwise", async (t) => {
  const live = { ok: true, detail: "fine" };
  const ready = { ok: false, detail: "waiting for secrets to sync" };
  const server = await serve({ liveness: [check("loop", live)], readiness: [check("informers", ready), check("other", { ok: true, detail: "x" })] });

  const healthz = await fetch(`${server.url}/healthz`);
  t.is(healthz.status, 200);
  t.is(healthz.headers.get("content-type"), "application/json");
  t.deepEqual(await healthz.json(), { status: "ok", checks: [{ name: "loop", ok: true, detail: "fine" }] });

  const readyz = await fetch(`${server.url}/readyz`);
  t.is(readyz.status, 503);
  t.deepEqual(await readyz.json(), {
    status: "failed",
    checks: [
      { name: "informers", ok: false, detail: "waiting for secrets to sync" },
      { name: "other", ok: true, detail: "x" },
    ],
  });
  ready.ok = true;
  t.is((await fetch(`${server.url}/readyz`)).status, 200, "checks are evaluated on every request");
});

test("a check that throws fails the probe with the reason instead of crashing the server", async (t) => {
  const server = await serve({
    liveness: [
      {
        name: "broken",
        check: () => {
          throw new Error("no state yet");
        },
      },
    ],
  });
  const response = await fetch(`${server.url}/healthz`);
  t.is(response.status, 503);
  t.deepEqual(await response.json(), { status: "failed", checks: [{ name: "broken", ok: false, detail: "the check itself failed: no state yet" }] });
});

test("/metrics serves every operator metric in Prometheus text format", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.reconciled("success", 12);
  metrics.observeOpenStackRequest({ kind: "keystone_token", outcome: "success", durationMs: 42 });
  metrics.setStoreStates("openstack/glance-api", { Ready: 2, NotRendered: 1 });
  metrics.informerRestarted("secrets", "silent");
  metrics.setLeader(true);
  const server = await serve({ registry });
  const response = await fetch(`${server.url}/metrics`);
  t.is(response.status, 200);
  t.regex(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (const name of [
    "glance_store_operator_reconcile_total",
    "glance_store_operator_reconcile_errors_total",
    "glance_store_operator_reconcile_terminal_errors_total",
    "glance_store_operator_reconcile_duration_seconds_bucket",
    "glance_store_operator_workqueue_depth",
    "glance_store_operator_workqueue_in_flight",
    "glance_store_operator_workqueue_retries_total",
    "glance_store_operator_openstack_requests_total",
    "glance_store_operator_openstack_request_duration_seconds_bucket",
    "glance_store_operator_stores",
    "glance_store_operator_informer_restarts_total",
    "glance_store_operator_leader",
  ]) {
    t.true(text.includes(`\n${name}`), `${name} is exposed`);
  }
  t.regex(text, /glance_store_operator_openstack_requests_total\{kind="keystone_token",outcome="success"\} 1/);
  t.regex(text, /glance_store_operator_openstack_request_duration_seconds_bucket\{le="0.05",kind="keystone_token",outcome="success"\} 1/);
  t.regex(text, /glance_store_operator_stores\{target="openstack\/glance-api",state="NotRendered"\} 1/);
  t.regex(text, /glance_store_operator_informer_restarts_total\{resource="secrets",reason="silent"\} 1/);
  t.regex(text, /glance_store_operator_leader 1/);
});

test("process metrics are opt-in and carry the prefix", async (t) => {
  const registry = new Registry();
  new OperatorMetrics(registry, { processMetrics: true });
  const text = await registry.metrics();
  t.regex(text, /glance_store_operator_process_resident_memory_bytes/);
  t.regex(text, /glance_store_operator_nodejs_eventloop_lag_seconds/);
});

test("store gauges: a new set of states replaces the old one, and a removed target disappears", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.setStoreStates("ns/a", { Ready: 1, NotReady: 1 });
  metrics.setStoreStates("ns/b", { Ready: 3 });
  metrics.setStoreStates("ns/a", { Ready: 2 });
  let text = await registry.metrics();
  t.regex(text, /glance_store_operator_stores\{target="ns\/a",state="Ready"\} 2/);
  t.notRegex(text, /target="ns\/a",state="NotReady"/);
  metrics.removeTarget("ns/b");
  text = await registry.metrics();
  t.notRegex(text, /target="ns\/b"/);
});

test("label values that are not identifiers, or too many distinct ones, never reach the exposition", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry, { maxLabelValues: 2 });
  metrics.observeOpenStackRequest({ kind: "cinder volume types?password=hunter2 failed", outcome: "error", durationMs: 1 });
  metrics.observeOpenStackRequest({ kind: "a", outcome: "success", durationMs: 1 });
  metrics.observeOpenStackRequest({ kind: "b", outcome: "success", durationMs: 1 });
  metrics.observeOpenStackRequest({ kind: "c", outcome: "success", durationMs: 1 });
  const text = await registry.metrics();
  t.notRegex(text, /hunter2/);
  t.regex(text, /glance_store_operator_openstack_requests_total\{kind="invalid",outcome="error"\} 1/);
  t.regex(text, /glance_store_operator_openstack_requests_total\{kind="other",outcome="success"\} 1/);
});

test("two registries do not share metrics (no global default registry)", async (t) => {
  const first = new Registry();
  const second = new Registry();
  new OperatorMetrics(first).setLeader(true);
  new OperatorMetrics(second);
  t.regex(await first.metrics(), /glance_store_operator_leader 1/);
  t.regex(await second.metrics(), /glance_store_operator_leader 0/);
});

test("a metrics-only server does not answer probes, and unknown paths and methods are refused", async (t) => {
  const server = await serve({ registry: new Registry() });
  const healthz = await fetch(`${server.url}/healthz`);
  t.is(healthz.status, 404);
  t.regex(await healthz.text(), /answers \/metrics/);
  const post = await fetch(`${server.url}/metrics`, { method: "POST" });
  t.is(post.status, 405);
  t.is(post.headers.get("allow"), "GET, HEAD");
  const head = await fetch(`${server.url}/metrics`, { method: "HEAD" });
  t.is(head.status, 200);
  t.is(await head.text(), "");
});

test("informer and leadership checks: a standby is ready and says who leads; a wedged informer fails liveness", async (t) => {
  const secrets = { synced: true, wedged: false };
  const stores = { synced: false, wedged: false };
  const informers = [informerHealth("secrets", secrets), informerHealth("glancestores.glance.stores.dev", stores)];
  let status = { identity: "pod-b", leading: false, leader: "pod-a" as string | undefined };
  const server = await serve({ liveness: [informersLive(informers)], readiness: [informersSynced(informers), leadership({ status: () => status })] });

  let ready = (await (await fetch(`${server.url}/readyz`)).json()) as { status: string; checks: { name: string; ok: boolean; detail: string }[] };
  t.is(ready.status, "failed");
  t.deepEqual(ready.checks[0], { name: "informers", ok: false, detail: "waiting for glancestores.glance.stores.dev to sync" });
  t.deepEqual(ready.checks[1], { name: "leader-election", ok: true, detail: "standby (pod-b); pod-a leads" });

  stores.synced = true;
  ready = (await (await fetch(`${server.url}/readyz`)).json()) as typeof ready;
  t.is(ready.status, "ok", "a synced standby is ready");
  status = { identity: "pod-b", leading: true, leader: "pod-b" };
  ready = (await (await fetch(`${server.url}/readyz`)).json()) as typeof ready;
  t.is(ready.checks[1]!.detail, "leading as pod-b");

  t.is((await fetch(`${server.url}/healthz`)).status, 200);
  secrets.wedged = true;
  const live = await fetch(`${server.url}/healthz`);
  t.is(live.status, 503);
  t.regex(JSON.stringify(await live.json()), /secrets: wedged in all namespaces/);
});

test("close() ends kept-alive connections and frees the port", async (t) => {
  const server = await startHttpEndpoints({ host: "127.0.0.1", port: 0, logger: captureLogger().logger, registry: new Registry() });
  // A client that keeps its connection open, like Prometheus does.
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(`${server.url}/metrics`, { headers: { Connection: "keep-alive" } }, (res) => {
      res.resume();
      res.on("end", resolve);
    });
    req.on("error", reject);
    req.end();
  });
  const started = Date.now();
  await server.close(1_000);
  t.true(Date.now() - started < 1_500);
  await t.throwsAsync(fetch(`${server.url}/metrics`));
});

test("a busy port is reported with the address and what to do", async (t) => {
  const first = await serve({ registry: new Registry() });
  const error = await t.throwsAsync(startHttpEndpoints({ host: "127.0.0.1", port: first.port, logger: captureLogger().logger, registry: new Registry() }));
  t.regex(error.message, new RegExp(`could not listen on 127.0.0.1:${first.port} .*pick another address or port`));
});
