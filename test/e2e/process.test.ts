/**
 * The operator as a process: killed with SIGKILL mid-run and restarted, two
 * replicas with leader election and failover, a graceful SIGTERM.
 */
import test from "ava";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { waitFor } from "../../src/devstack/wait.js";
import { E2E, isReady, unique, type OperatorProcess } from "./support.js";

let e2e: E2E;

test.before(async () => {
  e2e = await E2E.start();
});

test.after.always(async () => {
  await e2e?.stop();
});

test.serial("killed with SIGKILL in the middle of a run and restarted, the operator converges and loses nothing", async (t) => {
  const target = "crash";
  const types = await Promise.all([0, 1, 2, 3, 4, 5].map(() => e2e.openstack.admin.createVolumeType(unique("crash"))));
  const names = types.map((_, i) => `crash-${i}`);
  const first = await e2e.startOperator({ name: "operator-crash-1" });
  for (const [i, type] of types.entries()) {
    await e2e.apply(e2e.store(names[i]!, { target, storeId: `s${i}`, volumeType: type.name, default: i === 0 }));
    if (i === 2) await e2e.waitForStore(names[0]!, "the first stores in progress", (s) => s.status !== undefined);
  }
  // Mid-run: some stores are done, others not yet.
  first.process.signal("SIGKILL");
  await first.process.exited;
  const second = await e2e.startOperator({ name: "operator-crash-2" });
  for (const name of names) await e2e.waitForStore(name, "Ready after the restart", isReady, 60_000);
  const files = await e2e.renderedFiles(target);
  t.regex(files!.storesConf, /enabled_backends = s0:cinder, s1:cinder, s2:cinder, s3:cinder, s4:cinder, s5:cinder/);
  for (const name of names) t.true((await e2e.getStore(name))!.metadata.finalizers?.includes("glance.stores.dev/image-volumes"));
  const glance = await e2e.startGlance(target, "eventlet");
  t.is((await glance.stores()).length, 6);
  await glance.stop();
  await second.process.stop();
});

async function leaseHolder(): Promise<string | undefined> {
  const api = e2e.kubeConfig.makeApiClient(CoordinationV1Api);
  try {
    const lease = await api.readNamespacedLease({ namespace: "default", name: "glance-store-operator" });
    return lease.spec?.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

async function isLeader(operator: OperatorProcess): Promise<boolean> {
  return /^glance_store_operator_leader 1$/m.test(await operator.metrics());
}

test.serial("two replicas: exactly one leads; killing it hands over within the lease; SIGTERM releases the Lease at once", async (t) => {
  const target = "replicas";
  const a = await e2e.startOperator({ name: "operator-a", leaderElect: true });
  const b = await e2e.startOperator({ name: "operator-b", leaderElect: true });
  await waitFor(async () => ((await isLeader(a)) !== (await isLeader(b)) ? true : undefined), { what: "exactly one leader", timeoutMs: 30_000 });
  const [leader, standby] = (await isLeader(a)) ? [a, b] : [b, a];
  t.truthy(await leaseHolder());
  // Both are ready: a standby with a warm cache is a healthy replica.
  t.is((await standby.readyz()).status, 200);

  const type = await e2e.openstack.admin.createVolumeType(unique("rep"));
  await e2e.apply(e2e.store("rep-1", { target, volumeType: type.name, default: true }));
  await e2e.waitForStore("rep-1", "Ready under the first leader", isReady);

  const holderBefore = await leaseHolder();
  leader.process.signal("SIGKILL");
  const killedAt = Date.now();
  await waitFor(async () => ((await isLeader(standby)) ? true : undefined), { what: "the standby to take over", timeoutMs: 30_000 });
  const takeover = Date.now() - killedAt;
  // Lease duration 6 s, retry period 1 s (support.ts), plus the poll.
  t.true(takeover < 6_000 + 2 * 1_000 + 3_000, `took over after ${takeover} ms`);
  t.not(await leaseHolder(), holderBefore);
  await e2e.apply(e2e.store("rep-2", { target, storeId: "second", volumeType: type.name }));
  await e2e.waitForStore("rep-2", "Ready under the new leader", isReady);

  // A third replica waits; the leader's SIGTERM releases the Lease, so it takes over without waiting for expiry.
  const c = await e2e.startOperator({ name: "operator-c", leaderElect: true });
  t.false(await isLeader(c));
  const stoppedAt = Date.now();
  await standby.process.stop();
  t.is(standby.process.exitInfo()?.code, 0);
  await waitFor(async () => ((await isLeader(c)) ? true : undefined), { what: "the third replica to take over", timeoutMs: 30_000 });
  t.true(Date.now() - stoppedAt < 6_000, `took over ${Date.now() - stoppedAt} ms after SIGTERM`);
  const log = await standby.process.logTail(200);
  t.regex(log, /"shutdown complete"/);
  await c.process.stop();
});
