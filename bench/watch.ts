/**
 * What the bench observes through: a watch of one collection (client-node's
 * Watch), its objects by name, and waiters that resolve at the moment the
 * event that satisfies them arrives, never by polling.
 */
import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";

interface Waiter<T> {
  readonly predicate: (objects: ReadonlyMap<string, T>, changed: T | undefined) => boolean;
  readonly resolve: (at: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ObjectWatch<T extends KubernetesObject> {
  readonly objects = new Map<string, T>();
  readonly #waiters = new Set<Waiter<T>>();
  readonly #listeners: ((type: string, object: T) => void)[] = [];
  #abort: AbortController | undefined;
  #closed = false;

  private constructor(
    readonly kubeConfig: KubeConfig,
    readonly path: string,
  ) {}

  /** Opens the watch; the apiserver first sends every existing object as ADDED. */
  static async open<T extends KubernetesObject>(kubeConfig: KubeConfig, path: string): Promise<ObjectWatch<T>> {
    const watch = new ObjectWatch<T>(kubeConfig, path);
    await watch.#start();
    return watch;
  }

  /** Called for every event after the map is updated. */
  onEvent(listener: (type: string, object: T) => void): void {
    this.#listeners.push(listener);
  }

  async #start(): Promise<void> {
    this.#abort = await new Watch(this.kubeConfig).watch(
      this.path,
      { allowWatchBookmarks: false },
      (type, raw) => {
        const at = performance.now();
        const object = raw as T;
        const name = object.metadata?.name ?? "";
        if (type === "DELETED") this.objects.delete(name);
        else if (type === "ADDED" || type === "MODIFIED") this.objects.set(name, object);
        else return;
        for (const listener of this.#listeners) listener(type, object);
        for (const waiter of this.#waiters) {
          if (!waiter.predicate(this.objects, object)) continue;
          this.#waiters.delete(waiter);
          clearTimeout(waiter.timer);
          waiter.resolve(at);
        }
      },
      (error) => {
        if (this.#closed) return;
        // The apiserver ends watches after a while: open a new one (its ADDED events refresh the map).
        if (error !== undefined && error !== null) process.stderr.write(`watch ${this.path} ended: ${String(error)}; reopening\n`);
        void this.#start();
      },
    );
  }

  /**
   * Resolves with performance.now() taken when the event that made
   * `predicate` true arrived (or at once if it holds already).
   */
  until(predicate: (objects: ReadonlyMap<string, T>, changed: T | undefined) => boolean, what: string, timeoutMs: number): Promise<number> {
    if (predicate(this.objects, undefined)) return Promise.resolve(performance.now());
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter<T> = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (watch ${this.path})`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  close(): void {
    this.#closed = true;
    this.#abort?.abort();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`watch ${this.path} closed`));
    }
    this.#waiters.clear();
  }
}

export interface StoreView extends KubernetesObject {
  spec?: { target?: string; description?: string };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

/** Ready=True for the store's current generation. */
export function isReady(store: StoreView | undefined): boolean {
  if (store === undefined) return false;
  return store.status?.observedGeneration === store.metadata?.generation && store.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}
