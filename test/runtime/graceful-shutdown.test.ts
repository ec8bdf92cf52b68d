import test from "ava";
import { CoordinationV1Api, CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { Informer } from "../../src/controller/informers/informer.js";
import { CONFIG_MAPS } from "../../src/controller/informers/resources.js";
import { Outcome } from "../../src/controller/outcome.js";
import { WorkQueue } from "../../src/controller/workqueue.js";
import { informersLive, informersSynced, leadership, startHttpEndpoints } from "../../src/runtime/health-server.js";
import { kubeLeaseApi, LeaderElector } from "../../src/runtime/leader-election.js";
import { OperatorMetrics } from "../../src/runtime/metrics.js";
import { shutdownOnAbort } from "../../src/runtime/shutdown.js";
import { captureLogger, kubeClientOf, kubeConfigOf } from "../controller/support.js";

let stack: DevStack;
const cleanups: (() => Promise<unknown>)[] = [];

test.before(async () => {
  stack = await startDevStack({ openstack: false });
});

test.after.always(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
  await stack?.stop();
});

test("on the shutdown signal: informers stop, in-flight work finishes while the Lease is still held, then the Lease is released and the servers close", async (t) => {
  const kubeConfig = kubeConfigOf(stack);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const leases = kubeConfig.makeApiClient(CoordinationV1Api);
  const kube = await kubeClientOf(stack);
  await core.createNamespace({ body: { metadata: { name: "shutdown" } } });
  const { logger, records } = captureLogger("info");
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);

  // The process as the CLI composes it, with the reconcile replaced by one the test finishes by hand.
  const informer = new Informer<V1ConfigMap>({ kube, type: CONFIG_MAPS, namespaces: ["shutdown"], logger, metrics });
  let finishReconcile: (() => void) | undefined;
  const reconciled: string[] = [];
  const queue = new WorkQueue({
    concurrency: 2,
    metrics,
    logger,
    handler: async (key) => {
      await new Promise<void>((resolve) => (finishReconcile = resolve));
      reconciled.push(key);
      return Outcome.recheckAfter(60_000);
    },
  });
  informer.addHandlers({ add: (cm) => queue.add(`${cm.metadata!.namespace}/${cm.metadata!.name}`) });
  const elector = new LeaderElector({
    api: kubeLeaseApi(kube),
    namespace: "shutdown",
    name: "glance-store-operator",
    identity: "replica-a",
    timing: { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 250 },
    logger,
    metrics,
    onStartedLeading: () => informer.start(),
  });
  const server = await startHttpEndpoints({
    host: "127.0.0.1",
    port: await stack.ports.allocate(),
    logger,
    registry,
    liveness: [informersLive([informer])],
    readiness: [informersSynced([informer]), leadership(elector)],
  });
  cleanups.push(() => server.close(), () => informer.stop());

  const sigterm = new AbortController();
  const election = new AbortController();
  const elected = elector.run(election.signal);
  const shutdown = shutdownOnAbort(
    sigterm.signal,
    [
      { name: "stop informers", run: () => informer.stop() },
      {
        name: "drain work queue",
        run: async () => {
          const result = await queue.shutDown({ deadlineMs: 10_000 });
          if (!result.drained) throw new Error(`reconciles of ${result.abandoned.join(", ")} did not finish`);
        },
      },
      {
        name: "release Lease",
        run: async () => {
          election.abort();
          await elected;
        },
      },
      { name: "close servers", run: () => server.close() },
    ],
    { logger, deadlineMs: 20_000 },
  );

  await waitFor(async () => ((await fetch(`${server.url}/readyz`)).status === 200 ? true : undefined), { what: "the replica to be ready", timeoutMs: 20_000 });
  await core.createNamespacedConfigMap({ namespace: "shutdown", body: { metadata: { name: "target" } } });
  await waitFor(() => (finishReconcile ? true : undefined), { what: "a reconcile to be in flight", timeoutMs: 10_000 });

  sigterm.abort(new Error("SIGTERM"));
  await waitFor(() => (records().some((r) => r["msg"] === "shutdown step done" && r["step"] === "stop informers") ? true : undefined), {
    what: "the informers to stop",
    timeoutMs: 10_000,
  });
  t.is(informer.stats().openRequests, 0, "no watch is open any more");
  t.deepEqual(queue.snapshot().inFlight, ["shutdown/target"], "the reconcile is still running");
  t.is((await leases.readNamespacedLease({ name: "glance-store-operator", namespace: "shutdown" })).spec?.holderIdentity, "replica-a", "the Lease is held while work drains");
  t.true(elector.isLeader());

  finishReconcile!();
  const report = await shutdown;
  t.true(report.ok, JSON.stringify(report));
  t.deepEqual(
    report.steps.map((s) => s.name),
    ["stop informers", "drain work queue", "release Lease", "close servers"],
  );
  t.deepEqual(reconciled, ["shutdown/target"], "the in-flight reconcile completed");
  const lease = await leases.readNamespacedLease({ name: "glance-store-operator", namespace: "shutdown" });
  t.is(lease.spec?.holderIdentity, "", "released: a standby takes over on its next attempt");
  t.false(elector.isLeader());
  t.regex(await registry.metrics(), /glance_store_operator_leader 0/);
  await t.throwsAsync(fetch(`${server.url}/healthz`), undefined, "the servers are closed");
});
