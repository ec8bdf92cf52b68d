import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isAlive } from "./pids.js";
import { waitFor } from "./wait.js";

/**
 * A lock between processes on one machine: a directory created atomically,
 * holding the owner's pid so that a lock left by a dead process is taken over.
 */
export async function tryAcquireLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
    await writeFile(join(lock, "owner"), String(process.pid));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const owner = Number(await readFile(join(lock, "owner"), "utf8").catch(() => "0"));
    // An owner file not yet written means the lock is seconds old: not stale.
    if (owner > 0 && !isAlive(owner)) {
      await rm(lock, { recursive: true, force: true });
      return tryAcquireLock(lock);
    }
    return false;
  }
}

export async function releaseLock(lock: string): Promise<void> {
  await rm(lock, { recursive: true, force: true });
}

/**
 * Runs `work` under the lock, unless `done()` says another process already did it.
 * Returns false when the work was found done and skipped.
 */
export async function withLockUnlessDone(
  lock: string,
  done: () => boolean,
  work: () => Promise<void>,
  options: { what: string; timeoutMs: number; onWait?: () => void },
): Promise<boolean> {
  if (done()) return false;
  let waited = false;
  const acquired = await waitFor(
    async () => {
      if (await tryAcquireLock(lock)) return true;
      if (done()) return false;
      if (!waited) options.onWait?.();
      waited = true;
      return undefined;
    },
    { what: options.what, timeoutMs: options.timeoutMs, intervalMs: 1_000 },
  );
  if (!acquired) return false;
  try {
    if (done()) return false;
    await work();
    return true;
  } finally {
    await releaseLock(lock);
  }
}
