import test from "ava";
import { CoordinationV1Api, V1MicroTime } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { kubeLeaseApi, LeaderElector, type LeaseApi, type LeaderElectionTiming, type LeaderElectorOptions } from "../../src/runtime/leader-election.js";
import { OperatorMetrics } from "../../src/runtime/metrics.js";
import { captureLogger, kubeClientOf, kubeConfigOf, kubeOf } from "../controller/support.js";

let stack: DevStack;
let leases: CoordinationV1Api;
let leaseApi: LeaseApi;
const stops: (() => Promise<void>)[] = [];

test.before(async () => {
  stack = await startDevStack({ openstack: false });
  leases = kubeConfigOf(stack).makeApiClient(CoordinationV1Api);
  leaseApi = kubeLeaseApi(await kubeClientOf(stack));
});

test.after.always(async () => {
  for (const stop of stops) await stop();
  await stack?.stop();
});

const TIMING: LeaderElectionTiming = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const NAMESPACE = "default";

/** Who leads when, across the candidates of one test: the safety property is "never two at once". */
class Timeline {
  readonly leading = new Set<string>();
  maxAtOnce = 0;
  readonly started = new Map<string, number>();
  readonly stopped = new Map<string, number>();

  start(identity: string): void {
    this.leading.add(identity);
    this.maxAtOnce = Math.max(this.maxAtOnce, this.leading.size);
    this.started.set(identity, Date.now());
  }

  stop(identity: string): void {
    this.leading.delete(identity);
    this.stopped.set(identity, Date.now());
  }
}

function candidate(lease: string, identity: string, timeline: Timeline, extra: Partial<LeaderElectorOptions> = {}) {
  const { logger, records } = captureLogger();
  const controller = new AbortController();
  const elector = new LeaderElector({
    api: leaseApi,
    namespace: NAMESPACE,
    name: lease,
    identity,
    timing: TIMING,
    logger,
    onStartedLeading: (signal) => {
      timeline.start(identity);
      signal.addEventListener("abort", () => timeline.stop(identity), { once: true });
    },
    ...extra,
  });
  const done = elector.run(controller.signal);
  const stop = async (): Promise<void> => {
    controller.abort();
    await done;
  };
  stops.push(stop);
  return { elector, controller, done, stop, records };
}

async function readLease(name: string) {
  return leases.readNamespacedLease({ name, namespace: NAMESPACE });
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  return waitFor(probe, { what, timeoutMs, intervalMs: 20 });
}

test.serial("two candidates: exactly one leads, the other sees it and stands by", async (t) => {
  const timeline = new Timeline();
  const a = candidate("two-candidates", "replica-a", timeline);
  const b = candidate("two-candidates", "replica-b", timeline);
  const leader = await until("a leader", () => (a.elector.isLeader() ? a : b.elector.isLeader() ? b : undefined));
  const standby = leader === a ? b : a;
  await until("the standby to see the leader", () => (standby.elector.status().leader === leader.elector.identity ? true : undefined));
  // Several renewals later the roles are unchanged.
  const lease = await readLease("two-candidates");
  const firstRenew = new Date(lease.spec!.renewTime!).getTime();
  await until("three more renewals", async () => {
    const renewed = new Date((await readLease("two-candidates")).spec!.renewTime!).getTime();
    return renewed - firstRenew >= 3 * TIMING.retryPeriodMs ? true : undefined;
  });
  t.true(leader.elector.isLeader());
  t.false(standby.elector.isLeader());
  t.is(timeline.maxAtOnce, 1);
  t.is(lease.spec!.holderIdentity, leader.elector.identity);
  t.is(lease.spec!.leaseDurationSeconds, 3);
  t.deepEqual(standby.elector.status(), { identity: standby.elector.identity, leading: false, leader: leader.elector.identity });
});

test.serial("a leader that dies without releasing is replaced once its lease expires, not before", async (t) => {
  const timeline = new Timeline();
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  // releaseOnCancel false: cancelling is a crash, nothing is written on the way out.
  const a = candidate("death", "replica-a", timeline, { releaseOnCancel: false, metrics });
  await until("a to lead", () => (a.elector.isLeader() ? true : undefined));
  const b = candidate("death", "replica-b", timeline);
  await until("b to see a", () => (b.elector.status().leader === "replica-a" ? true : undefined));
  t.regex(await registry.metrics(), /glance_store_operator_leader 1/);

  await a.stop();
  const diedAt = Date.now();
  const lastRenew = new Date((await readLease("death")).spec!.renewTime!).getTime();
  t.false(a.elector.isLeader());
  t.regex(await registry.metrics(), /glance_store_operator_leader 0/);
  t.is((await readLease("death")).spec!.holderIdentity, "replica-a", "a crashed leader leaves its name on the Lease");

  await until("b to take over", () => (b.elector.isLeader() ? true : undefined), 15_000);
  const tookOverAt = timeline.started.get("replica-b")!;
  t.true(tookOverAt - lastRenew >= TIMING.leaseDurationMs - 50, `b must wait for the lease to expire: took over ${tookOverAt - lastRenew} ms after a's last renewal`);
  // Expiry is judged from when b saw the last change (up to one jittered retry period late), plus b's own next attempt.
  const bound = TIMING.leaseDurationMs + 2 * 1.2 * TIMING.retryPeriodMs + 500;
  t.true(tookOverAt - diedAt <= bound, `took over ${tookOverAt - diedAt} ms after a died; bound ${bound} ms`);
  const lease = await readLease("death");
  t.is(lease.spec!.holderIdentity, "replica-b");
  t.is(lease.spec!.leaseTransitions, 1);
  t.is(timeline.maxAtOnce, 1);
});

test.serial("a leader that releases on shutdown is replaced almost at once", async (t) => {
  const timeline = new Timeline();
  const a = candidate("release", "replica-a", timeline);
  await until("a to lead", () => (a.elector.isLeader() ? true : undefined));
  const b = candidate("release", "replica-b", timeline);
  await until("b to see a", () => (b.elector.status().leader === "replica-a" ? true : undefined));
  const stoppedAt = Date.now();
  await a.stop();
  t.true(a.records().some((r) => r["msg"] === "released the leader Lease"));
  await until("b to take over", () => (b.elector.isLeader() ? true : undefined), 10_000);
  const delay = timeline.started.get("replica-b")! - stoppedAt;
  t.true(delay < TIMING.leaseDurationMs / 2, `took over ${delay} ms after the release; waiting for expiry would take ${TIMING.leaseDurationMs} ms`);
  t.true(timeline.stopped.get("replica-a")! <= timeline.started.get("replica-b")!, "a stopped working before b started");
  t.is(timeline.maxAtOnce, 1);
});

test.serial("on shutdown the Lease is renewed while the work drains, for longer than a lease, and released only once it is done", async (t) => {
  const timeline = new Timeline();
  let finishWork: (() => void) | undefined;
  let lostAborted = false;
  let workStopped = 0;
  const a = candidate("drain", "replica-a", timeline, {
    onStartedLeading: (signal, lost) => {
      timeline.start("replica-a");
      lost.addEventListener("abort", () => (lostAborted = true), { once: true });
      // In-flight work that takes longer than a whole lease after leading was given up.
      return new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => (finishWork = () => ((workStopped = Date.now()), resolve())), { once: true });
      });
    },
  });
  await until("a to lead", () => (a.elector.isLeader() ? true : undefined));
  const b = candidate("drain", "replica-b", timeline);
  await until("b to see a", () => (b.elector.status().leader === "replica-a" ? true : undefined));
  a.controller.abort();
  await until("the work to be told to stop", () => finishWork);
  const renewedBefore = new Date((await readLease("drain")).spec!.renewTime!).getTime();
  await until("renewals while draining, over more than a lease duration", async () => {
    const renewed = new Date((await readLease("drain")).spec!.renewTime!).getTime();
    return renewed - renewedBefore > TIMING.leaseDurationMs ? true : undefined;
  });
  t.false(b.elector.isLeader(), "no standby leads while the old leader's work still runs");
  t.is((await readLease("drain")).spec!.holderIdentity, "replica-a");
  t.false(lostAborted, "the Lease was not lost: the work may still write");
  finishWork!();
  await a.done;
  await until("b to take over", () => (b.elector.isLeader() ? true : undefined), 10_000);
  t.true(timeline.started.get("replica-b")! >= workStopped, "b started after a's work had stopped");
  t.true(lostAborted, "told at the end");
});

test.serial("someone else writing the Lease (a conflict) ends the leadership at once", async (t) => {
  const timeline = new Timeline();
  const a = candidate("conflict", "replica-a", timeline);
  await until("a to lead", () => (a.elector.isLeader() ? true : undefined));
  const lease = await readLease("conflict");
  // Another party takes the Lease with a fresh renewal, as a faster candidate would.
  await leases.replaceNamespacedLease({
    name: "conflict",
    namespace: NAMESPACE,
    body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", renewTime: new V1MicroTime(Date.now()), leaseDurationSeconds: 30 } },
  });
  const wroteAt = Date.now();
  await until("a to stop leading", () => (a.elector.isLeader() ? undefined : true), 5_000);
  t.true(timeline.stopped.get("replica-a")! - wroteAt < TIMING.renewDeadlineMs, "at its next renewal, not after the renew deadline");
  t.is(a.elector.status().leader, "intruder");
  t.true(a.records().some((r) => r["msg"] === "another replica holds the leader Lease now; stopped leading" && r["leader"] === "intruder"));
  await a.done;
});

test.serial("a leader that cannot reach the apiserver stops leading within the renew deadline, before its lease expires", async (t) => {
  const timeline = new Timeline();
  const a = candidate("outage", "replica-a", timeline);
  await until("a to lead", () => (a.elector.isLeader() ? true : undefined));
  const lastRenew = new Date((await readLease("outage")).spec!.renewTime!).getTime();
  const kube = kubeOf(stack);
  await kube.stopApiserver();
  try {
    await until("a to give up", () => (a.elector.isLeader() ? undefined : true), 10_000);
    const gaveUpAt = timeline.stopped.get("replica-a")!;
    t.true(gaveUpAt - lastRenew < TIMING.leaseDurationMs, `gave up ${gaveUpAt - lastRenew} ms after the last renewal; the lease lasts ${TIMING.leaseDurationMs} ms`);
    t.true(gaveUpAt - lastRenew >= TIMING.renewDeadlineMs - TIMING.retryPeriodMs, "and kept trying until the deadline");
    t.true(a.records().some((r) => r["msg"] === "could not renew the leader Lease in time; stopped leading"));
    await a.done;
  } finally {
    await kube.startApiserver();
  }
});

test("timing that could let two replicas lead at once is refused with the values", (t) => {
  const { logger } = captureLogger();
  const base = { api: {} as LeaseApi, namespace: "x", name: "y", identity: "z", logger, onStartedLeading: () => {} };
  t.throws(() => new LeaderElector({ ...base, timing: { leaseDurationMs: 10_000, renewDeadlineMs: 10_000 } }), {
    message: /leaseDurationMs \(10000\) must be longer than renewDeadlineMs \(10000\)/,
  });
  t.throws(() => new LeaderElector({ ...base, timing: { renewDeadlineMs: 2_000, retryPeriodMs: 2_000 } }), { message: /renewDeadlineMs \(2000\) must be longer/ });
  t.throws(() => new LeaderElector({ ...base, identity: "" }), { message: /non-empty identity/ });
});
