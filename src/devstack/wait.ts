import { setTimeout as delay } from "node:timers/promises";

export interface WaitOptions {
  /** What is being waited for, for the error message. */
  readonly what: string;
  readonly timeoutMs: number;
  /** Pause between two probes; the deadline, not this, bounds the wait. */
  readonly intervalMs?: number;
  /** Checked before every probe: a waited-for process that died makes waiting pointless. */
  readonly abortIf?: () => string | undefined;
}

export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  readonly code = "WAIT_TIMEOUT";
}

/**
 * Polls `probe` until it returns something other than `undefined`, or throws
 * when the deadline passes, carrying the last probe error so the reader
 * learns why the condition never held.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    const abortReason = options.abortIf?.();
    if (abortReason !== undefined) {
      throw new Error(`gave up waiting for ${options.what}: ${abortReason}`);
    }
    try {
      const result = await probe();
      if (result !== undefined) return result;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? "" : `; last error: ${describe(lastError)}`;
      throw new WaitTimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${detail}`);
    }
    await delay(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
