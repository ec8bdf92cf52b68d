import type { Logger } from "pino";
import { systemClock, type CancelTimer, type Clock } from "../runtime/clock.js";
import type { ReconcileResult, WorkQueueMetrics } from "../runtime/metrics.js";
import { isReconcileOutcome, Outcome, type ReconcileOutcome } from "./outcome.js";
import { defaultRateLimiter, type RateLimiter } from "./rate-limiter.js";

export interface ReconcileContext {
  /** Aborted when shutdown's drain deadline passes: stop at the next safe point. */
  readonly signal: AbortSignal;
  /** Failed attempts of this key since its last success (0 on a first try). */
  readonly retries: number;
}

export type ReconcileHandler = (key: string, context: ReconcileContext) => Promise<ReconcileOutcome>;

export interface WorkQueueOptions {
  readonly handler: ReconcileHandler;
  /** Reconciles running at once, over all keys (one key never runs twice at once). */
  readonly concurrency: number;
  readonly clock?: Clock;
  /** Delay of a failed key; `defaultRateLimiter()` unless given. */
  readonly rateLimiter?: RateLimiter;
  readonly metrics?: WorkQueueMetrics;
  readonly logger?: Logger;
}

export interface DrainResult {
  /** Every in-flight reconcile finished before the deadline. */
  readonly drained: boolean;
  /** Keys still running when the deadline passed (their signal was aborted). */
  readonly abandoned: readonly string[];
}

export interface WorkQueueSnapshot {
  /** Ready and waiting for a worker. */
  readonly queued: readonly string[];
  readonly inFlight: readonly string[];
  /** Keys scheduled for later, with their due time. */
  readonly waiting: ReadonlyMap<string, number>;
  /** In flight and added again meanwhile: they run once more when they finish. */
  readonly dirty: readonly string[];
}

type State = "running" | "draining" | "stopped";

/**
 * A keyed work queue in the manner of client-go's rate-limited delaying
 * queue, with its worker pool built in:
 * - keys de-duplicate: adding a queued key does nothing; adding a key that is
 *   being reconciled marks it dirty, and it runs once more afterwards, never
 *   concurrently with itself;
 * - at most `concurrency` reconciles run at once;
 * - each key has one pending run at most, and the earliest wins: `add` beats
 *   any scheduled `addAfter`, an earlier `addAfter` beats a later one;
 * - the handler's outcome decides what happens next (see `Outcome`).
 * Time comes from the injected clock, so tests drive backoff and requeues
 * with a fake one.
 */
export class WorkQueue {
  readonly #handler: ReconcileHandler;
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  readonly #metrics: WorkQueueMetrics | undefined;
  readonly #logger: Logger | undefined;

  // A Set keeps insertion order: it is the FIFO and the de-duplication at once.
  readonly #queued = new Set<string>();
  readonly #inFlight = new Map<string, AbortController>();
  readonly #dirty = new Set<string>();
  readonly #waiting = new Map<string, number>();
  #timer: { readonly at: number; readonly cancel: CancelTimer } | undefined;
  #state: State = "running";
  #idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`work queue concurrency must be a positive integer, got ${options.concurrency}`);
    }
    this.#handler = options.handler;
    this.#concurrency = options.concurrency;
    this.#clock = options.clock ?? systemClock;
    this.#limiter = options.rateLimiter ?? defaultRateLimiter();
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#report();
  }

  get shuttingDown(): boolean {
    return this.#state !== "running";
  }

  /** Queues `key` to run as soon as a worker is free. No-op once shutdown began. */
  add(key: string): void {
    if (this.#state !== "running") return;
    this.#waiting.delete(key);
    if (this.#inFlight.has(key)) {
      this.#dirty.add(key);
      this.#rescheduleTimer();
      return;
    }
    if (!this.#queued.has(key)) this.#queued.add(key);
    this.#rescheduleTimer();
    this.#report();
    this.#dispatch();
  }

  /** Queues `key` after `delayMs`, unless it already has an earlier pending run. */
  addAfter(key: string, delayMs: number): void {
    if (this.#state !== "running") return;
    if (!Number.isFinite(delayMs)) throw new RangeError(`addAfter(${JSON.stringify(key)}) needs a finite delay, got ${delayMs}`);
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.#queued.has(key) || this.#dirty.has(key)) return;
    const due = this.#clock.now() + delayMs;
    const current = this.#waiting.get(key);
    if (current !== undefined && current <= due) return;
    this.#waiting.set(key, due);
    this.#rescheduleTimer();
  }

  /** Queues `key` after its backoff delay and counts a retry. */
  addRateLimited(key: string): void {
    if (this.#state !== "running") return;
    this.#metrics?.retried();
    this.addAfter(key, this.#limiter.when(key, this.#clock.now()));
  }

  /** Resets `key`'s backoff. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  retries(key: string): number {
    return this.#limiter.retries(key);
  }

  /** When `key` is scheduled to be queued, if it is waiting. */
  dueAt(key: string): number | undefined {
    return this.#waiting.get(key);
  }

  snapshot(): WorkQueueSnapshot {
    return {
      queued: [...this.#queued],
      inFlight: [...this.#inFlight.keys()],
      waiting: new Map(this.#waiting),
      dirty: [...this.#dirty],
    };
  }

  /** Resolves when nothing is queued or in flight (keys scheduled for later do not count). */
  whenIdle(): Promise<void> {
    if (this.#queued.size === 0 && this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Graceful shutdown: takes no new work (queued and scheduled keys are
   * dropped; the next leader or start re-lists and re-adds everything), lets
   * in-flight reconciles finish until `deadlineMs`, then aborts their signals
   * and waits up to `abortGraceMs` more (default 5 s) for them to stop, so
   * that what the caller does next (release the Lease, close connections)
   * does not happen under a reconcile that is still running.
   */
  shutDown(options: { deadlineMs: number; abortGraceMs?: number }): Promise<DrainResult> {
    if (this.#state === "running") {
      this.#state = "draining";
      this.#queued.clear();
      this.#dirty.clear();
      this.#waiting.clear();
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#report();
    }
    if (this.#inFlight.size === 0) {
      this.#state = "stopped";
      return Promise.resolve({ drained: true, abandoned: [] });
    }
    return new Promise<DrainResult>((resolve) => {
      let settled = false;
      const cancelDeadline = this.#clock.setTimer(() => {
        if (settled) return;
        settled = true;
        const abandoned = [...this.#inFlight.keys()];
        for (const controller of this.#inFlight.values()) {
          controller.abort(new Error(`work queue shut down: in-flight reconciles did not finish within the drain deadline of ${options.deadlineMs} ms`));
        }
        this.#logger?.warn({ abandoned, deadlineMs: options.deadlineMs }, "work queue drain deadline passed with reconciles still running; aborted them");
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          this.#state = "stopped";
          resolve({ drained: false, abandoned });
        };
        const cancelGrace = this.#clock.setTimer(() => {
          this.#logger?.error({ stillRunning: [...this.#inFlight.keys()] }, "aborted reconciles did not stop in time");
          finish();
        }, options.abortGraceMs ?? 5_000);
        this.#idleWaiters.push(() => {
          cancelGrace();
          finish();
        });
      }, options.deadlineMs);
      this.#idleWaiters.push(() => {
        if (settled) return;
        settled = true;
        cancelDeadline();
        this.#state = "stopped";
        resolve({ drained: true, abandoned: [] });
      });
    });
  }

  #dispatch(): void {
    while (this.#state === "running" && this.#inFlight.size < this.#concurrency) {
      const next = this.#queued.values().next();
      if (next.done) break;
      const key = next.value;
      this.#queued.delete(key);
      const controller = new AbortController();
      this.#inFlight.set(key, controller);
      this.#report();
      void this.#process(key, controller.signal);
    }
  }

  async #process(key: string, signal: AbortSignal): Promise<void> {
    const started = this.#clock.now();
    let outcome: ReconcileOutcome;
    try {
      const returned: unknown = await this.#handler(key, { signal, retries: this.#limiter.retries(key) });
      outcome = isReconcileOutcome(returned)
        ? returned
        : Outcome.retry(new TypeError(`the reconcile handler returned ${describeValue(returned)} for ${JSON.stringify(key)} instead of an Outcome; fix the handler to return Outcome.done() or another Outcome`));
    } catch (error) {
      outcome = Outcome.retry(error);
    }
    const durationMs = this.#clock.now() - started;
    // Settle the key's next run while it still counts as in flight, so an
    // add() arriving meanwhile is folded in by the earliest-wins rule.
    let result: ReconcileResult;
    switch (outcome.kind) {
      case "done":
        result = "success";
        this.#limiter.forget(key);
        break;
      case "requeueAfter":
        result = "requeue";
        this.#limiter.forget(key);
        this.addAfter(key, outcome.afterMs);
        break;
      case "retry": {
        result = "error";
        if (this.#state === "running") {
          this.addRateLimited(key);
          this.#logger?.warn(
            { key, retries: this.#limiter.retries(key), retryInMs: this.#retryDelay(key), err: outcome.error },
            "reconcile failed; retrying with backoff",
          );
        } else {
          this.#logger?.warn({ key, err: outcome.error }, "reconcile failed while shutting down; not retried here");
        }
        break;
      }
      case "terminal":
        result = "terminal";
        this.#limiter.forget(key);
        this.#logger?.error({ key, reason: outcome.reason, message: outcome.message }, "reconcile failed in a way retrying cannot fix; waiting for a change");
        break;
    }
    this.#metrics?.reconciled(result, durationMs);

    this.#inFlight.delete(key);
    if (this.#dirty.delete(key) && this.#state === "running") {
      this.#waiting.delete(key);
      this.#queued.add(key);
      this.#rescheduleTimer();
    }
    this.#report();
    this.#dispatch();
    this.#notifyIdle();
  }

  #retryDelay(key: string): number | undefined {
    const due = this.#waiting.get(key);
    return due === undefined ? undefined : due - this.#clock.now();
  }

  #rescheduleTimer(): void {
    let earliest: number | undefined;
    for (const due of this.#waiting.values()) {
      if (earliest === undefined || due < earliest) earliest = due;
    }
    if (this.#timer !== undefined && this.#timer.at === earliest) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (earliest === undefined || this.#state !== "running") return;
    const at = earliest;
    this.#timer = { at, cancel: this.#clock.setTimer(() => this.#fireDue(), at - this.#clock.now()) };
  }

  #fireDue(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    const due = [...this.#waiting].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    for (const [key] of due) this.add(key);
    this.#rescheduleTimer();
  }

  #notifyIdle(): void {
    if (this.#queued.size !== 0 || this.#inFlight.size !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #report(): void {
    this.#metrics?.setDepth(this.#queued.size);
    this.#metrics?.setInFlight(this.#inFlight.size);
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "object") return `an object with keys [${Object.keys(value).join(", ")}]`;
  return typeof value;
}
