/**
 * Time as a dependency. Decision logic (backoff, requeue-after, lease expiry)
 * takes a Clock instead of reading `Date.now()` or calling `setTimeout`, so a
 * test can drive it with `FakeClock` without monkey-patching globals.
 */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /** Runs `callback` once after `ms`; the returned function cancels it (idempotent). */
  setTimer(callback: () => void, ms: number): CancelTimer;
}

export type CancelTimer = () => void;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    const handle = setTimeout(callback, Math.max(0, ms));
    return () => clearTimeout(handle);
  },
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason once it aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A signal that aborts with `reason()` after `ms` on `clock`; `cancel` stops
 * the countdown. A deadline on the injected clock, unlike `AbortSignal.timeout`.
 */
export function abortAfter(clock: Clock, ms: number, reason: () => Error): { readonly signal: AbortSignal; cancel(): void } {
  const controller = new AbortController();
  const cancel = clock.setTimer(() => controller.abort(reason()), ms);
  return { signal: controller.signal, cancel };
}

interface PendingTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A clock that only moves when told to. `advance` fires every timer that
 * falls due, in due order (ties in creation order), each with `now()` set to
 * its due time, the way real time would have passed. Meant for tests; it
 * lives here so tests of every layer share one implementation.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 0;
  #timers: PendingTimer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, ms: number): CancelTimer {
    const timer: PendingTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Due time of the next timer, if any. */
  nextTimerAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /** Moves time forward by `ms`, firing due timers (including ones they schedule) on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`FakeClock.advance needs a non-negative duration, got ${ms}`);
    const target = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.callback();
    }
    this.#now = target;
  }

  #earliest(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.#timers) {
      if (best === undefined || timer.at < best.at || (timer.at === best.at && timer.id < best.id)) best = timer;
    }
    return best;
  }
}
