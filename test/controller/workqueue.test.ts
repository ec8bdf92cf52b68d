import test from "ava";
import { Registry } from "prom-client";
import { FakeClock } from "../../src/runtime/clock.js";
import { OperatorMetrics } from "../../src/runtime/metrics.js";
import { mergeOutcomes, Outcome, type ReconcileOutcome } from "../../src/controller/outcome.js";
import {
  ExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  TokenBucketRateLimiter,
  defaultRateLimiter,
} from "../../src/controller/rate-limiter.js";
import { WorkQueue, type ReconcileContext } from "../../src/controller/workqueue.js";

/** Lets promise callbacks run: the queue's handlers are async. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Call {
  readonly key: string;
  readonly at: number;
  readonly context: ReconcileContext;
  finish(outcome: ReconcileOutcome): void;
  fail(error: unknown): void;
}

/** A queue whose reconciles the test finishes by hand, recording when each ran and how many ran at once. */
function harness(options: { concurrency?: number; baseMs?: number; maxMs?: number; registry?: Registry } = {}) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const running = new Map<string, number>();
  let maxRunning = 0;
  let maxRunningPerKey = 0;
  const metrics = options.registry ? new OperatorMetrics(options.registry) : undefined;
  const queue = new WorkQueue({
    concurrency: options.concurrency ?? 1,
    clock,
    rateLimiter: new ExponentialFailureRateLimiter({ baseMs: options.baseMs ?? 100, maxMs: options.maxMs ?? 800 }),
    ...(metrics ? { metrics } : {}),
    handler: (key, context) =>
      new Promise<ReconcileOutcome>((resolve, reject) => {
        running.set(key, (running.get(key) ?? 0) + 1);
        maxRunningPerKey = Math.max(maxRunningPerKey, running.get(key)!);
        maxRunning = Math.max(maxRunning, [...running.values()].reduce((a, b) => a + b, 0));
        const done = (): void => {
          running.set(key, running.get(key)! - 1);
          if (running.get(key) === 0) running.delete(key);
        };
        calls.push({
          key,
          at: clock.now(),
          context,
          finish: (outcome) => {
            done();
            resolve(outcome);
          },
          fail: (error) => {
            done();
            reject(error);
          },
        });
      }),
  });
  const start = clock.now();
  return {
    clock,
    queue,
    calls,
    stats: () => ({ maxRunning, maxRunningPerKey }),
    elapsed: (call: Call) => call.at - start,
    async finishLast(key: string, outcome: ReconcileOutcome = Outcome.done()): Promise<void> {
      const call = calls.filter((c) => c.key === key).at(-1);
      if (!call) throw new Error(`no call for ${key}`);
      call.finish(outcome);
      await settle();
    },
    async failLast(key: string, error: unknown = new Error("boom")): Promise<void> {
      const call = calls.filter((c) => c.key === key).at(-1);
      if (!call) throw new Error(`no call for ${key}`);
      call.fail(error);
      await settle();
    },
    async advance(ms: number): Promise<void> {
      clock.advance(ms);
      await settle();
    },
    keys: () => calls.map((c) => c.key),
  };
}

test("adding a key that is already queued is a no-op", async (t) => {
  const h = harness();
  h.queue.add("ns/busy");
  h.queue.add("ns/a");
  h.queue.add("ns/a");
  h.queue.add("ns/a");
  await settle();
  t.deepEqual(h.queue.snapshot().queued, ["ns/a"]);
  await h.finishLast("ns/busy");
  await h.finishLast("ns/a");
  t.deepEqual(h.keys(), ["ns/busy", "ns/a"]);
});

test("a key added while it is being reconciled runs once more afterwards, never at the same time", async (t) => {
  const h = harness({ concurrency: 4 });
  h.queue.add("ns/a");
  await settle();
  t.is(h.calls.length, 1);
  h.queue.add("ns/a");
  h.queue.add("ns/a");
  await settle();
  t.is(h.calls.length, 1, "no second concurrent run although workers are free");
  t.deepEqual(h.queue.snapshot().dirty, ["ns/a"]);
  await h.finishLast("ns/a");
  t.is(h.calls.length, 2, "the dirty key ran once more");
  await h.finishLast("ns/a");
  t.is(h.calls.length, 2, "and only once");
  t.is(h.stats().maxRunningPerKey, 1);
});

test("at most `concurrency` reconciles run at once, in FIFO order", async (t) => {
  const h = harness({ concurrency: 2 });
  for (const key of ["a", "b", "c", "d", "e"]) h.queue.add(key);
  await settle();
  t.deepEqual(h.keys(), ["a", "b"]);
  t.deepEqual(h.queue.snapshot().inFlight, ["a", "b"]);
  await h.finishLast("b");
  t.deepEqual(h.keys(), ["a", "b", "c"]);
  await h.finishLast("a");
  await h.finishLast("c");
  await h.finishLast("d");
  await h.finishLast("e");
  t.deepEqual(h.keys(), ["a", "b", "c", "d", "e"]);
  t.is(h.stats().maxRunning, 2);
});

test("errors back off per key, doubling from the base up to the cap", async (t) => {
  const h = harness({ baseMs: 100, maxMs: 800 });
  const delays: number[] = [];
  h.queue.add("a");
  await settle();
  for (let i = 0; i < 6; i++) {
    const before = h.clock.now();
    await h.failLast("a");
    const due = h.queue.dueAt("a");
    t.not(due, undefined);
    delays.push(due! - before);
    await h.advance(due! - h.clock.now() - 1);
    t.is(h.calls.length, i + 1, "not before the backoff");
    await h.advance(1);
    t.is(h.calls.length, i + 2, "right when the backoff ends");
  }
  t.deepEqual(delays, [100, 200, 400, 800, 800, 800]);
  t.is(h.calls.at(-1)!.context.retries, 6, "the handler is told how often the key failed");
});

test("keys back off independently", async (t) => {
  const h = harness({ concurrency: 2, baseMs: 100 });
  h.queue.add("a");
  h.queue.add("b");
  await settle();
  await h.failLast("a");
  await h.advance(100);
  await h.failLast("a");
  await h.failLast("b");
  t.is(h.queue.dueAt("a")! - h.clock.now(), 200);
  t.is(h.queue.dueAt("b")! - h.clock.now(), 100);
});

test("success forgets the backoff: the next failure starts from the base again", async (t) => {
  const h = harness({ baseMs: 100 });
  h.queue.add("a");
  await settle();
  for (let i = 0; i < 3; i++) {
    await h.failLast("a");
    await h.advance(h.queue.dueAt("a")! - h.clock.now());
  }
  t.is(h.queue.retries("a"), 3);
  await h.finishLast("a", Outcome.done());
  t.is(h.queue.retries("a"), 0);
  h.queue.add("a");
  await settle();
  await h.failLast("a");
  t.is(h.queue.dueAt("a")! - h.clock.now(), 100);
});

test("a requeue-after outcome forgets the backoff and runs the key again after exactly that delay", async (t) => {
  const h = harness({ baseMs: 100 });
  h.queue.add("a");
  await settle();
  await h.failLast("a");
  await h.advance(100);
  await h.finishLast("a", Outcome.recheckAfter(5_000));
  t.is(h.queue.retries("a"), 0);
  const finishedAt = h.clock.now();
  await h.advance(4_999);
  t.is(h.calls.length, 2);
  await h.advance(1);
  t.is(h.calls.length, 3);
  t.is(h.calls.at(-1)!.at - finishedAt, 5_000);
});

for (const row of [
  { name: "an earlier addAfter wins over a later one", delays: [500, 200], expected: 200 },
  { name: "a later addAfter does not postpone an earlier one", delays: [200, 500], expected: 200 },
  { name: "three addAfters: the earliest wins", delays: [900, 300, 600], expected: 300 },
]) {
  test(`requeue-after ordering: ${row.name}`, async (t) => {
    const h = harness();
    for (const delay of row.delays) h.queue.addAfter("a", delay);
    t.is(h.queue.dueAt("a")! - h.clock.now(), row.expected);
    await h.advance(row.expected - 1);
    t.is(h.calls.length, 0);
    await h.advance(1);
    t.is(h.calls.length, 1);
    await h.finishLast("a");
    await h.advance(10_000);
    t.is(h.calls.length, 1, "one pending run per key: the later addAfters were folded into the earliest");
  });
}

test("add() beats a scheduled addAfter: the key runs now and the scheduled run is dropped", async (t) => {
  const h = harness();
  h.queue.addAfter("a", 1_000);
  h.queue.add("a");
  await settle();
  t.is(h.calls.length, 1);
  t.is(h.queue.dueAt("a"), undefined);
  await h.finishLast("a");
  await h.advance(5_000);
  t.is(h.calls.length, 1);
});

test("keys scheduled for later run in due order", async (t) => {
  const h = harness({ concurrency: 3 });
  h.queue.addAfter("late", 300);
  h.queue.addAfter("early", 100);
  h.queue.addAfter("middle", 200);
  await h.advance(300);
  t.deepEqual(h.keys(), ["early", "middle", "late"]);
  t.deepEqual(h.calls.map((c) => h.elapsed(c)), [100, 200, 300]);
});

test("a terminal outcome stops retrying, forgets the backoff and is counted", async (t) => {
  const registry = new Registry();
  const h = harness({ registry });
  h.queue.add("a");
  await settle();
  await h.failLast("a");
  await h.advance(100);
  await h.finishLast("a", Outcome.terminal("InvalidSpec", "spec.volumeType is empty"));
  t.is(h.queue.dueAt("a"), undefined);
  t.is(h.queue.retries("a"), 0);
  await h.advance(60_000);
  t.is(h.calls.length, 2, "never retried");
  const text = await registry.metrics();
  t.regex(text, /glance_store_operator_reconcile_total\{result="terminal"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_total\{result="error"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_terminal_errors_total 1/);
  h.queue.add("a");
  await settle();
  t.is(h.calls.length, 3, "an event still re-adds the key");
});

test("a handler that returns something other than an Outcome is retried as an error", async (t) => {
  const h = harness();
  h.queue.add("a");
  await settle();
  await h.finishLast("a", { kind: "requeueAfter", afterMs: -5, reason: "x" } as ReconcileOutcome);
  t.is(h.queue.retries("a"), 1);
  t.is(h.queue.dueAt("a")! - h.clock.now(), 100);
});

test("queue metrics follow depth, in-flight work, retries and results", async (t) => {
  const registry = new Registry();
  const h = harness({ concurrency: 1, registry });
  h.queue.add("a");
  h.queue.add("b");
  h.queue.add("c");
  await settle();
  let text = await registry.metrics();
  t.regex(text, /glance_store_operator_workqueue_depth 2/);
  t.regex(text, /glance_store_operator_workqueue_in_flight 1/);
  h.clock.advance(250);
  await h.finishLast("a", Outcome.recheckAfter(1_000));
  await h.failLast("b");
  await h.finishLast("c");
  text = await registry.metrics();
  t.regex(text, /glance_store_operator_workqueue_depth 0/);
  t.regex(text, /glance_store_operator_workqueue_in_flight 0/);
  t.regex(text, /glance_store_operator_workqueue_retries_total 1/);
  t.regex(text, /glance_store_operator_reconcile_total\{result="requeue"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_total\{result="error"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_total\{result="success"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_errors_total 1/);
  // The fake clock measured a 250 ms reconcile.
  t.regex(text, /glance_store_operator_reconcile_duration_seconds_bucket\{le="0.25",result="requeue"\} 1/);
  t.regex(text, /glance_store_operator_reconcile_duration_seconds_bucket\{le="0.1",result="requeue"\} 0/);
});

test("shutdown lets in-flight reconciles finish, drops queued and scheduled keys, and takes no new work", async (t) => {
  const h = harness({ concurrency: 2 });
  h.queue.add("a");
  h.queue.add("b");
  h.queue.add("queued");
  h.queue.addAfter("later", 50);
  await settle();
  const drained = h.queue.shutDown({ deadlineMs: 10_000 });
  h.queue.add("new");
  h.queue.addAfter("new-later", 10);
  await h.finishLast("a");
  let result: unknown;
  void drained.then((r) => (result = r));
  await settle();
  t.is(result, undefined, "still waiting for b");
  await h.finishLast("b", Outcome.recheckAfter(10));
  t.deepEqual(await drained, { drained: true, abandoned: [] });
  await h.advance(1_000);
  t.deepEqual(h.keys(), ["a", "b"], "nothing else ran");
  t.false(h.calls[0]!.context.signal.aborted);
});

test("shutdown aborts reconciles that outlive the deadline and resolves once they stop", async (t) => {
  const h = harness({ concurrency: 2 });
  h.queue.add("stuck");
  h.queue.add("quick");
  await settle();
  let resolved = false;
  const drained = h.queue.shutDown({ deadlineMs: 3_000 }).then((result) => {
    resolved = true;
    return result;
  });
  await h.finishLast("quick");
  await h.advance(2_999);
  t.false(h.calls[0]!.context.signal.aborted);
  await h.advance(1);
  t.true(h.calls[0]!.context.signal.aborted);
  t.regex(String((h.calls[0]!.context.signal.reason as Error).message), /drain deadline of 3000 ms/);
  await settle();
  t.false(resolved, "what runs after the drain (the Lease release) waits for the aborted reconcile to stop");
  h.calls[0]!.fail(h.calls[0]!.context.signal.reason);
  await settle();
  t.deepEqual(await drained, { drained: false, abandoned: ["stuck"] });
});

test("shutdown gives up on an aborted reconcile that does not stop within the grace", async (t) => {
  const h = harness();
  h.queue.add("deaf");
  await settle();
  let resolved = false;
  const drained = h.queue.shutDown({ deadlineMs: 1_000, abortGraceMs: 2_000 }).then((result) => {
    resolved = true;
    return result;
  });
  await h.advance(1_000);
  t.true(h.calls[0]!.context.signal.aborted);
  await h.advance(1_999);
  t.false(resolved);
  await h.advance(1);
  t.deepEqual(await drained, { drained: false, abandoned: ["deaf"] });
});

test("shutdown of an idle queue resolves at once", async (t) => {
  const h = harness();
  h.queue.addAfter("a", 100);
  t.deepEqual(await h.queue.shutDown({ deadlineMs: 1_000 }), { drained: true, abandoned: [] });
  t.is(h.clock.pendingTimers, 0, "no timer left behind");
});

test("a bad concurrency is refused with the value", (t) => {
  const error = t.throws(() => new WorkQueue({ concurrency: 0, handler: async () => Outcome.done() }));
  t.regex(error.message, /positive integer, got 0/);
});

for (const row of [
  { name: "nothing merged is done", input: [], expected: Outcome.done() },
  { name: "all done is done", input: [Outcome.done(), Outcome.done()], expected: Outcome.done() },
  {
    name: "the earliest requeue wins",
    input: [Outcome.recheckAfter(300_000), Outcome.waitingOnOpenStack("VolumeType", 30_000), Outcome.done()],
    expected: Outcome.waitingOnOpenStack("VolumeType", 30_000),
  },
  {
    name: "a terminal part does not stop the re-check of the others",
    input: [Outcome.terminal("InvalidSpec", "bad"), Outcome.recheckAfter(60_000)],
    expected: Outcome.recheckAfter(60_000),
  },
  { name: "terminal beats done", input: [Outcome.done(), Outcome.terminal("InvalidSpec", "bad")], expected: Outcome.terminal("InvalidSpec", "bad") },
] satisfies { name: string; input: ReconcileOutcome[]; expected: ReconcileOutcome }[]) {
  test(`mergeOutcomes: ${row.name}`, (t) => {
    t.deepEqual(mergeOutcomes(row.input), row.expected);
  });
}

test("mergeOutcomes: a retryable error wins over everything, several are aggregated", (t) => {
  const one = new Error("keystone down");
  t.deepEqual(mergeOutcomes([Outcome.recheckAfter(1), Outcome.retry(one), Outcome.terminal("X", "y")]), Outcome.retry(one));
  const merged = mergeOutcomes([Outcome.retry(one), Outcome.retry(new Error("cinder down"))]);
  t.is(merged.kind, "retry");
  const error = (merged as { error: AggregateError }).error;
  t.true(error instanceof AggregateError);
  t.is(error.errors.length, 2);
});

test("outcome constructors refuse a negative or infinite delay", (t) => {
  t.throws(() => Outcome.recheckAfter(-1), { message: /non-negative delay in milliseconds, got -1/ });
  t.throws(() => Outcome.waitingOnOpenStack("VolumeType", Number.POSITIVE_INFINITY), { instanceOf: RangeError });
});

test("the token bucket allows a burst, then spaces retries at its rate", (t) => {
  const bucket = new TokenBucketRateLimiter({ perSecond: 10, burst: 3 });
  const now = 1_000_000;
  t.deepEqual([1, 2, 3].map(() => bucket.when("k", now)), [0, 0, 0]);
  t.is(bucket.when("k", now), 100);
  t.is(bucket.when("k", now), 200);
  t.is(bucket.when("k", now + 1_000), 0, "tokens came back after a second");
});

test("the default limiter is the per-key backoff under an overall bucket", (t) => {
  const limiter = defaultRateLimiter({ backoff: { baseMs: 500, maxMs: 300_000 }, bucket: { perSecond: 1, burst: 2 } });
  t.is(limiter.when("a", 0), 500);
  t.is(limiter.when("b", 0), 500);
  t.is(limiter.when("c", 0), 1_000, "the bucket is empty: it decides");
  t.is(limiter.when("a", 0), 2_000, "a's own backoff (1 s) is shorter than the bucket's wait");
  limiter.forget("a");
  t.is(limiter.retries("a"), 0);
  t.is(limiter.retries("b"), 1);
});

test("exponential backoff never overflows to Infinity", (t) => {
  const limiter = new MaxOfRateLimiter(new ExponentialFailureRateLimiter({ baseMs: 1, maxMs: 3_600_000 }));
  let last = 0;
  for (let i = 0; i < 2_000; i++) last = limiter.when("k", 0);
  t.is(last, 3_600_000);
});
