export interface BackoffPolicy {
  /** Delay ceiling of the first retry, in milliseconds. */
  readonly baseMs: number;
  /** No retry waits longer than this. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 5_000 };

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per retry
 * (capped), and the wait is between half the ceiling and the ceiling. Half
 * is fixed so a retry never comes back at once; the other half is random so
 * the operator's many stores do not hammer a recovering Cinder in step.
 *
 * @param retry 0 for the first retry
 * @param random a number in [0, 1), injected so tests are deterministic
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number): number {
  if (!Number.isInteger(retry) || retry < 0) throw new RangeError(`retry must be a non-negative integer, got ${retry}`);
  // 2 ** 31 and beyond only overflow the cap anyway.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(retry, 30));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}

/** glance_store's `cinder_http_retries` default. */
export const DEFAULT_HTTP_RETRIES = 3;

/** A retry count from configuration: a non-negative integer, else the default, and never unbounded. */
export function normalizeRetries(value: number | undefined, max = 10): number {
  if (value === undefined || !Number.isFinite(value) || value < 0) return DEFAULT_HTTP_RETRIES;
  return Math.min(Math.floor(value), max);
}
