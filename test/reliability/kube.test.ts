/**
 * Faults on the Kubernetes side and of the operator itself: kube-apiserver
 * restarted (etcd kept), every watch connection cut, the operator killed
 * with SIGKILL in the middle of its writes, and the leader of two replicas
 * stopped with SIGTERM in the middle of a burst (who wrote what and when
 * comes from the apiserver's audit log: each replica is its own user).
 * During each, every (ConfigMap, Secret) pair the apiserver held is checked
 * with the real oslo.config and glance_store; afterwards a real glance-api
 * starts from the final pair. docs/reliability.md has the table.
 */
import test from "ava";
import type { AuditEvent } from "../../src/devstack/kube.js";
import { waitFor } from "../../src/devstack/wait.js";
import { condition, Findings, isReady, Reliability, seconds, type StartedOperator, scanThenStopAfterAll } from "./support.js";

let reliability: Reliability;

test.before(async () => {
  reliability = await Reliability.start();
});

scanThenStopAfterAll(() => reliability);

const apiPort = (): number => Number(new URL(reliability.kube.server).port);

async function stores(target: string, specs: { name: string; storeId: string; default?: boolean; volumeType?: string }[]): Promise<void> {
  const items = [];
  for (const spec of specs) {
    items.push(reliability.e2e.store(spec.name, { target, storeId: spec.storeId, volumeType: spec.volumeType ?? (await reliability.volumeType(spec.name)), ...(spec.default ? { default: true } : {}) }));
  }
  // One apply: the operator sees them arrive together.
  await reliability.e2e.apply({ apiVersion: "v1", kind: "List", items });
}

async function metricSum(operator: StartedOperator, name: string): Promise<number> {
  const text = (await reliability.collectMetrics()).get(operator.process.name) ?? "";
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, "gm"))) sum += Number(match[1]);
  return sum;
}

test.serial("kube-apiserver restarted (etcd kept): the operator carries on, changes made while it was away are picked up, nothing Glance ran is lost", async (t) => {
  const f = new Findings(t);
  const target = "apiserver-restart";
  // The operator reaches the apiserver through a proxy, so the test can hold it off while its recorder catches up.
  const proxy = await reliability.proxy(apiPort());
  const operator = await reliability.startOperator({ name: "operator-restart", server: `https://127.0.0.1:${proxy.port}` });
  const { recorder, names } = await reliability.twoReadyStores(target);
  const laterType = `${target}-later-${process.pid}`;
  await stores(target, [{ name: `${target}-c`, storeId: "c", volumeType: laterType }]);
  await reliability.e2e.waitForStore(`${target}-c`, "VolumeTypeNotFound", (s) => condition(s, "VolumeTypeAvailable")?.reason === "VolumeTypeNotFound");

  await f.step("kube-apiserver stopped and started again", async () => {
    const stoppedAt = Date.now();
    await reliability.kube.stopApiserver();
    try {
      // While the API is gone: Cinder gets the volume type the pending store waits for.
      await reliability.openstack.admin.createVolumeType(laterType);
      await proxy.setMode({ kind: "refuse" });
    } finally {
      await reliability.kube.startApiserver();
    }
    f.log(`kube-apiserver away for ${seconds(stoppedAt)} s`);
    await recorder.caughtUp(30_000);
    await proxy.setMode({ kind: "pass" });
  });
  const backAt = Date.now();
  await f.step("after the restart", async () => {
    await stores(target, [{ name: `${target}-d`, storeId: "d" }]);
    for (const name of [...names, `${target}-c`, `${target}-d`]) await reliability.waitReady(name, 60_000);
    f.log(`every store Ready ${seconds(backAt)} s after the apiserver was back`);
    f.check(operator.process.exitInfo() === undefined, `the operator exited: ${JSON.stringify(operator.process.exitInfo())}`);
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [reliability.openstack.glanceCredentials] });
  await reliability.checkGlanceStarts(f, target, ["a", "b", "c", "d"], "a");
  await operator.process.stop();
  f.assert();
});

test.serial("every watch connection cut, three times: each change made right after a cut is rendered within seconds", async (t) => {
  const f = new Findings(t);
  const target = "watch-cut";
  const proxy = await reliability.proxy(apiPort());
  const operator = await reliability.startOperator({ name: "operator-cut", server: `https://127.0.0.1:${proxy.port}` });
  const { recorder, names } = await reliability.twoReadyStores(target);
  const restartsBefore = await metricSum(operator, "glance_store_operator_informer_restarts_total");
  const added: string[] = [];
  for (const i of [0, 1, 2]) {
    await f.step(`cut ${i + 1}`, async () => {
      const cut = proxy.stats().active;
      proxy.closeConnections();
      const cutAt = Date.now();
      const name = `${target}-c${i}`;
      await stores(target, [{ name, storeId: `c${i}` }]);
      added.push(`c${i}`);
      await reliability.waitReady(name, 30_000);
      f.log(`cut ${cut} connection(s); the store applied right after was Ready ${seconds(cutAt)} s later`);
      f.check(Date.now() - cutAt < 15_000, `${name} took ${seconds(cutAt)} s to be Ready after the cut (at most 15 s)`);
    });
  }
  const restarts = (await metricSum(operator, "glance_store_operator_informer_restarts_total")) - restartsBefore;
  f.log(`informer restarts during the cuts: ${restarts}`);
  f.check(restarts >= 3, `the operator's informers restarted ${restarts} time(s) for 3 cuts`);
  for (const name of names) f.check(isReady((await reliability.e2e.getStore(name))!), `${name} is Ready`);
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [reliability.openstack.glanceCredentials] });
  await reliability.checkGlanceStarts(f, target, ["a", "b", ...added], "a");
  await operator.process.stop();
  f.assert();
});

test.serial("the operator killed with SIGKILL right after one of its writes: the pair left behind starts glance-api, and a new operator converges", async (t) => {
  const f = new Findings(t);
  const target = "sigkill";
  const first = await reliability.startOperator({ name: "operator-kill-1" });
  await stores(target, [{ name: `${target}-base`, storeId: "base", default: true }]);
  await reliability.waitReady(`${target}-base`);
  const recorder = await reliability.recordPairs(target);
  let killedAfter: string | undefined;
  // The operator writes the Secret first when stores are added: kill it the moment that write lands.
  const stopListening = recorder.onVersion((side, version) => {
    if (killedAfter === undefined && side === "secret" && version.type === "MODIFIED") {
      first.process.signal("SIGKILL");
      killedAfter = `the ${side} write of resourceVersion ${version.rv}`;
    }
  });
  const burst = [0, 1, 2, 3, 4].map((i) => ({ name: `${target}-s${i}`, storeId: `s${i}` }));
  await f.step("the burst and the kill", async () => {
    await stores(target, burst);
    await waitFor(() => first.process.exitInfo(), { what: "the operator to be killed in the middle of its writes", timeoutMs: 60_000 });
    f.log(`killed right after ${killedAfter}`);
  });
  stopListening();
  await recorder.caughtUp();
  const leftBehind = recorder.pairs().states.at(-1);
  f.log(`left behind: ConfigMap rv ${leftBehind?.configMap.rv}, Secret rv ${leftBehind?.secret.rv}`);
  const second = await reliability.startOperator({ name: "operator-kill-2" });
  await f.step("a new operator converges", async () => {
    const startedAt = Date.now();
    for (const { name } of burst) await reliability.waitReady(name, 60_000);
    f.log(`every store Ready ${seconds(startedAt)} s after the new operator started`);
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["base"], validCredentials: [reliability.openstack.glanceCredentials] });
  await reliability.checkGlanceStarts(f, target, ["base", ...burst.map((s) => s.storeId)], "base");
  await second.process.stop();
  f.assert();
});

/** Microseconds since the epoch of an RFC 3339 time with up to 9 fractional digits. */
function micros(time: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!match) throw new Error(`not an RFC 3339 time: ${time}`);
  return Date.parse(`${match[1]}${match[3]}`) * 1000 + Number((match[2] ?? "").padEnd(6, "0").slice(0, 6));
}

async function leader(replicas: readonly StartedOperator[]): Promise<StartedOperator | undefined> {
  const pages = await reliability.collectMetrics();
  const leading = replicas.filter((r) => /^glance_store_operator_leader 1$/m.test(pages.get(r.process.name) ?? ""));
  return leading.length === 1 ? leading[0] : undefined;
}

test.serial("two replicas, the leader stopped with SIGTERM in the middle of a burst: it writes nothing once it released the Lease, the other takes over and finishes", async (t) => {
  const f = new Findings(t);
  const target = "sigterm-burst";
  const replicas = [
    await reliability.startOperator({ name: "replica-a", leaderElect: true, podName: "replica-a" }),
    await reliability.startOperator({ name: "replica-b", leaderElect: true, podName: "replica-b" }),
  ];
  const first = await waitFor(() => leader(replicas), { what: "one leader of two replicas", timeoutMs: 30_000 });
  const second = replicas.find((r) => r !== first)!;
  await stores(target, [{ name: `${target}-base`, storeId: "base", default: true }]);
  await reliability.waitReady(`${target}-base`);
  const recorder = await reliability.recordPairs(target);
  let termAt: number | undefined;
  const stopListening = recorder.onVersion((side, version) => {
    if (termAt === undefined && side === "secret" && version.type === "MODIFIED") {
      first.process.signal("SIGTERM");
      termAt = Date.now();
    }
  });
  const burst = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ name: `${target}-s${i}`, storeId: `s${i}` }));
  await f.step("the burst and SIGTERM to the leader", async () => {
    await stores(target, burst);
    const exit = await waitFor(() => first.process.exitInfo(), { what: "the leader to stop after SIGTERM", timeoutMs: 60_000 });
    f.log(`${first.process.name} stopped ${seconds(termAt!)} s after SIGTERM, exit code ${exit.code}`);
    f.check(exit.code === 0, `the leader exited with ${JSON.stringify(exit)} after SIGTERM`);
  });
  stopListening();
  await f.step("the other replica takes over and finishes the burst", async () => {
    await waitFor(() => leader([second]), { what: `${second.process.name} to lead`, timeoutMs: 30_000 });
    for (const { name } of burst) await reliability.waitReady(name, 60_000);
    f.log(`every store Ready ${seconds(termAt!)} s after SIGTERM`);
  });

  await f.step("who wrote what, from the audit log and the Lease", async () => {
    const lease = await reliability.raw.get<{ spec: { holderIdentity?: string; acquireTime?: string } }>("/apis/coordination.k8s.io/v1/namespaces/default/leases/glance-store-operator");
    f.check(lease?.spec.holderIdentity?.startsWith(`${second.process.name}_`) === true, `the Lease is held by ${lease?.spec.holderIdentity}, expected ${second.process.name}`);
    const acquired = micros(lease?.spec.acquireTime ?? "1970-01-01T00:00:00Z");
    const audit = (await reliability.kube.readAuditLog()).filter((e) => (e.responseStatus?.code ?? 0) >= 200 && (e.responseStatus?.code ?? 0) < 300);
    const by = (user: string): AuditEvent[] => audit.filter((e) => e.user.username === user);
    const isLease = (e: AuditEvent): boolean => e.objectRef?.resource === "leases";
    const describe = (e: AuditEvent): string => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ""} ${e.objectRef?.name} at ${e.stageTimestamp}`;
    const firstWrites = by(first.user);
    const release = firstWrites.filter(isLease).at(-1);
    const takeover = by(second.user).filter(isLease).find((e) => release === undefined || micros(e.requestReceivedTimestamp) >= micros(release.stageTimestamp));
    const afterTerm = firstWrites.filter((e) => !isLease(e) && termAt !== undefined && micros(e.stageTimestamp) >= termAt * 1000);
    f.log(`${first.process.name}: ${firstWrites.length} writes in all, ${afterTerm.length} finished after SIGTERM; released the Lease at ${release?.stageTimestamp}; ${second.process.name} acquired it at ${lease?.spec.acquireTime}`);
    // The release itself is left out: the other replica stamps acquireTime from its own clock before its write, which can
    // precede the audit stage time of the release it waited for by a few milliseconds on a loaded machine.
    const late = firstWrites.filter((e) => e !== release && micros(e.stageTimestamp) > acquired);
    f.check(late.length === 0, `${first.process.name} wrote after ${second.process.name} acquired the Lease: ${late.slice(0, 5).map(describe).join("; ")}`);
    if (release !== undefined) {
      const afterRelease = firstWrites.filter((e) => !isLease(e) && micros(e.stageTimestamp) > micros(release.requestReceivedTimestamp));
      f.check(afterRelease.length === 0, `the Lease was released before in-flight writes finished: ${afterRelease.slice(0, 5).map(describe).join("; ")}`);
    }
    f.check(takeover !== undefined && micros(takeover.requestReceivedTimestamp) <= acquired + 1_000_000, `${second.process.name}'s taking of the Lease is in the audit log`);
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["base"], validCredentials: [reliability.openstack.glanceCredentials] });
  await reliability.checkGlanceStarts(f, target, ["base", ...burst.map((s) => s.storeId)], "base");
  await second.process.stop();
  f.assert();
});


