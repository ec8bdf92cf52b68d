/**
 * Per-key retry delays, after client-go's workqueue rate limiters. Pure
 * state machines: the caller passes `now`, so tests need no clock at all.
 */
export interface RateLimiter {
  /** Delay before `key` may run again after a failure; counts the failure. */
  when(key: string, now: number): number;
  /** The key succeeded (or gave up): its next failure starts from the base delay again. */
  forget(key: string): void;
  /** Failures counted for `key` since it was last forgotten. */
  retries(key: string): number;
}

export interface ExponentialBackoffOptions {
  /** Delay after the first failure. */
  readonly baseMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
}

/** `baseMs * 2^failures`, capped: client-go's ItemExponentialFailureRateLimiter. */
export class ExponentialFailureRateLimiter implements RateLimiter {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #failures = new Map<string, number>();

  constructor(options: ExponentialBackoffOptions) {
    if (!(options.baseMs > 0) || !Number.isFinite(options.baseMs)) {
      throw new RangeError(`exponential backoff needs baseMs > 0, got ${options.baseMs}`);
    }
    if (!(options.maxMs >= options.baseMs)) {
      throw new RangeError(`exponential backoff needs maxMs >= baseMs (${options.baseMs}), got ${options.maxMs}`);
    }
    this.#baseMs = options.baseMs;
    this.#maxMs = options.maxMs;
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // Past 2^52 the product only overflows the cap; stop doubling before Infinity.
    return Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(failures, 52));
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

export interface TokenBucketOptions {
  /** Sustained retries per second over all keys. */
  readonly perSecond: number;
  /** Retries allowed at once before the rate applies. */
  readonly burst: number;
}

/**
 * One token bucket shared by all keys (client-go's BucketRateLimiter): many
 * keys failing together (Keystone down) are retried at a bounded overall rate
 * even while each key's own backoff is still short.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #last: number | undefined;

  constructor(options: TokenBucketOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(`token bucket needs perSecond > 0 and burst >= 1, got ${options.perSecond} and ${options.burst}`);
    }
    this.#perMs = options.perSecond / 1000;
    this.#burst = options.burst;
    this.#tokens = options.burst;
  }

  when(_key: string, now: number): number {
    if (this.#last !== undefined && now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#perMs);
    }
    this.#last = Math.max(now, this.#last ?? now);
    // A reservation: the token is spent now, possibly going negative, and the
    // wait is how long the bucket needs to earn it back.
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / this.#perMs);
  }

  forget(): void {}

  retries(): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter implements RateLimiter {
  readonly #limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    if (limiters.length === 0) throw new RangeError("MaxOfRateLimiter needs at least one limiter");
    this.#limiters = limiters;
  }

  when(key: string, now: number): number {
    let delay = 0;
    for (const limiter of this.#limiters) delay = Math.max(delay, limiter.when(key, now));
    return delay;
  }

  forget(key: string): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }

  retries(key: string): number {
    let retries = 0;
    for (const limiter of this.#limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }
}

export const DEFAULT_BACKOFF: ExponentialBackoffOptions = { baseMs: 500, maxMs: 300_000 };
export const DEFAULT_BUCKET: TokenBucketOptions = { perSecond: 10, burst: 100 };

/**
 * Per-key backoff from 0.5 s doubling to 5 min, under an overall 10 retries/s
 * (burst 100). The base is higher than controller-runtime's 5 ms because a
 * failed reconcile here usually means Keystone or Cinder is struggling; the
 * cap matches the default re-check period, so a failing target is looked at
 * no less often than a healthy one.
 */
export function defaultRateLimiter(options: { backoff?: ExponentialBackoffOptions; bucket?: TokenBucketOptions } = {}): RateLimiter {
  return new MaxOfRateLimiter(
    new ExponentialFailureRateLimiter(options.backoff ?? DEFAULT_BACKOFF),
    new TokenBucketRateLimiter(options.bucket ?? DEFAULT_BUCKET),
  );
}
