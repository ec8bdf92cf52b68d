import { isDeepStrictEqual } from "node:util";
import { apiStatusOf } from "../kube/errors.js";

/**
 * What the operator last wrote to each object's status, by uid. The
 * informer's cache may lag behind the operator's own writes: without this,
 * a reconcile right after a write would compare with the old status, write
 * again, and emit its events twice.
 */
export class WrittenStatuses {
  readonly #byUid = new Map<string, { readonly generation: number | undefined; readonly status: Record<string, unknown> }>();

  /** The status as it stands: what was written last for this generation, else the cached object's. */
  current(uid: string, generation: number | undefined, cached: unknown): Record<string, unknown> {
    const last = this.#byUid.get(uid);
    return last !== undefined && last.generation === generation ? last.status : normalized(cached ?? {});
  }

  /**
   * Patches the status when it differs from `current`; resolves to whether
   * it wrote. An object deleted meanwhile (404) is not an error.
   */
  async write(uid: string, generation: number | undefined, status: Record<string, unknown>, current: Record<string, unknown>, patch: () => Promise<void>): Promise<boolean> {
    const next = normalized(status);
    if (isDeepStrictEqual(next, current)) return false;
    try {
      await patch();
    } catch (error) {
      if (apiStatusOf(error) === 404) return false;
      throw error;
    }
    this.#byUid.set(uid, { generation, status: next });
    return true;
  }

  /** Forgets every object `keep` does not name. */
  retain(keep: (uid: string) => boolean): void {
    for (const uid of [...this.#byUid.keys()]) if (!keep(uid)) this.#byUid.delete(uid);
  }
}

/** A status as the cache will hold it once written: JSON, without the nulls a merge patch uses to remove fields. */
function normalized(value: unknown): Record<string, unknown> {
  const json = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== null && v !== undefined));
}
