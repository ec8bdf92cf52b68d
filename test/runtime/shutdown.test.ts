import test from "ava";
import { FakeClock } from "../../src/runtime/clock.js";
import { runShutdown, shutdownOnAbort, type ShutdownReport } from "../../src/runtime/shutdown.js";
import { captureLogger } from "../controller/support.js";

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

test("steps run in order, one after the other", async (t) => {
  const order: string[] = [];
  const step = (name: string) => ({
    name,
    run: async () => {
      order.push(`${name} start`);
      await settle();
      order.push(`${name} end`);
    },
  });
  const report = await runShutdown([step("stop informers"), step("drain work queue"), step("release Lease")], { logger: captureLogger().logger });
  t.deepEqual(order, ["stop informers start", "stop informers end", "drain work queue start", "drain work queue end", "release Lease start", "release Lease end"]);
  t.true(report.ok);
  t.deepEqual(
    report.steps.map((s) => [s.name, s.ok]),
    [
      ["stop informers", true],
      ["drain work queue", true],
      ["release Lease", true],
    ],
  );
});

test("a failing or hanging step is reported and the next steps still run", async (t) => {
  const clock = new FakeClock();
  const { logger, records } = captureLogger();
  const ran: string[] = [];
  let hangingSignal: AbortSignal | undefined;
  const done = runShutdown(
    [
      {
        name: "stop informers",
        run: () => {
          throw new Error("already stopped twice");
        },
      },
      {
        name: "drain work queue",
        timeoutMs: 5_000,
        run: (signal) => {
          hangingSignal = signal;
          return new Promise(() => {});
        },
      },
      { name: "release Lease", run: () => void ran.push("release Lease") },
    ],
    { logger, clock, deadlineMs: 20_000 },
  );
  await settle();
  t.deepEqual(ran, [], "the hanging step holds the line until its time is up");
  clock.advance(4_999);
  await settle();
  t.false(hangingSignal!.aborted);
  clock.advance(1);
  const report = await done;
  t.true(hangingSignal!.aborted, "the step was told its time is up");
  t.deepEqual(ran, ["release Lease"]);
  t.false(report.ok);
  t.deepEqual(report.steps[0], { name: "stop informers", ok: false, timedOut: false, durationMs: 0, error: "already stopped twice" });
  t.deepEqual(report.steps[1], { name: "drain work queue", ok: false, timedOut: true, durationMs: 5_000, error: 'shutdown step "drain work queue" ran out of its 5000 ms' });
  t.true(report.steps[2]!.ok);
  t.true(records().some((r) => r["msg"] === "shutdown step did not complete; going on" && r["step"] === "drain work queue"));
});

test("the overall deadline caps every step's budget", async (t) => {
  const clock = new FakeClock();
  const budgets: number[] = [];
  const done = runShutdown(
    ["a", "b", "c"].map((name) => ({
      name,
      timeoutMs: 8_000,
      run: (signal: AbortSignal) =>
        new Promise<void>((resolve) => {
          const started = clock.now();
          signal.addEventListener("abort", () => {
            budgets.push(clock.now() - started);
            resolve();
          });
        }),
    })),
    { logger: captureLogger().logger, clock, deadlineMs: 10_000 },
  );
  for (const step of [8_000, 2_000, 0]) {
    await settle();
    clock.advance(step);
  }
  const report = await done;
  t.deepEqual(budgets, [8_000, 2_000, 0]);
  t.is(report.durationMs, 10_000);
});

test("shutdownOnAbort waits for the trigger", async (t) => {
  const trigger = new AbortController();
  let ran = false;
  let report: ShutdownReport | undefined;
  void shutdownOnAbort(trigger.signal, [{ name: "close servers", run: () => void (ran = true) }], { logger: captureLogger().logger }).then((r) => (report = r));
  await settle();
  t.false(ran);
  trigger.abort(new Error("SIGTERM"));
  await settle();
  t.true(ran);
  t.true(report?.ok);
});
