import type { Logger } from "pino";
import { abortAfter, systemClock, type Clock } from "./clock.js";

export interface ShutdownStep {
  /** For logs and the report: `stop informers`, `drain work queue`, `release Lease`, `close servers`. */
  readonly name: string;
  /**
   * Does the step. `signal` aborts when the step's time is up; the step may
   * use it to cut short, and the shutdown moves on regardless.
   */
  run(signal: AbortSignal): Promise<unknown> | unknown;
  /** Longest time this step may take; the overall deadline caps it. */
  readonly timeoutMs?: number;
}

export interface StepReport {
  readonly name: string;
  readonly ok: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
  readonly error?: string;
}

export interface ShutdownReport {
  /** Every step finished without error or timeout. */
  readonly ok: boolean;
  readonly steps: readonly StepReport[];
  readonly durationMs: number;
}

export interface ShutdownOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  /**
   * Budget for all steps together. Kubernetes sends SIGKILL 30 s after
   * SIGTERM by default (terminationGracePeriodSeconds); the default 25 s
   * leaves room to exit cleanly.
   */
  readonly deadlineMs?: number;
}

/**
 * Graceful shutdown as an ordered list of steps, each bounded in time, each
 * run even when an earlier one failed or timed out: releasing the Lease
 * matters most precisely when draining went wrong. The order the operator
 * uses (docs/operations.md): stop informers, drain the work queue, release
 * the Lease, close the servers. Signal handling stays in the CLI, which
 * turns SIGTERM into the `trigger` signal.
 *
 * Resolves with the report once `trigger` aborted and every step ran.
 */
export function shutdownOnAbort(trigger: AbortSignal, steps: readonly ShutdownStep[], options: ShutdownOptions): Promise<ShutdownReport> {
  return new Promise<ShutdownReport>((resolve) => {
    const begin = (): void => {
      options.logger.info({ reason: describeReason(trigger.reason) }, "shutting down");
      void runShutdown(steps, options).then(resolve);
    };
    if (trigger.aborted) begin();
    else trigger.addEventListener("abort", begin, { once: true });
  });
}

/** Runs the steps now, in order; see `shutdownOnAbort`. */
export async function runShutdown(steps: readonly ShutdownStep[], options: ShutdownOptions): Promise<ShutdownReport> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger;
  const deadlineMs = options.deadlineMs ?? 25_000;
  const started = clock.now();
  const reports: StepReport[] = [];
  for (const step of steps) {
    const left = Math.max(0, started + deadlineMs - clock.now());
    const budget = Math.min(step.timeoutMs ?? left, left);
    const stepStarted = clock.now();
    const timer = abortAfter(clock, budget, () => new Error(`shutdown step "${step.name}" ran out of its ${budget} ms`));
    let outcome: { ok: true } | { ok: false; timedOut: boolean; error: string };
    try {
      outcome = await Promise.race([
        Promise.resolve()
          .then(() => step.run(timer.signal))
          .then(() => ({ ok: true }) as const),
        new Promise<{ ok: false; timedOut: true; error: string }>((resolve) => {
          const onTimeout = (): void => resolve({ ok: false, timedOut: true, error: (timer.signal.reason as Error).message });
          if (timer.signal.aborted) onTimeout();
          else timer.signal.addEventListener("abort", onTimeout, { once: true });
        }),
      ]);
    } catch (error) {
      outcome = { ok: false, timedOut: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      timer.cancel();
    }
    const durationMs = clock.now() - stepStarted;
    if (outcome.ok) {
      reports.push({ name: step.name, ok: true, timedOut: false, durationMs });
      logger.info({ step: step.name, durationMs }, "shutdown step done");
    } else {
      reports.push({ name: step.name, ok: false, timedOut: outcome.timedOut, durationMs, error: outcome.error });
      logger.warn({ step: step.name, durationMs, timedOut: outcome.timedOut, error: outcome.error }, "shutdown step did not complete; going on");
    }
  }
  const report: ShutdownReport = { ok: reports.every((r) => r.ok), steps: reports, durationMs: clock.now() - started };
  logger.info({ ok: report.ok, durationMs: report.durationMs }, "shutdown complete");
  return report;
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? "aborted" : String(reason);
}
