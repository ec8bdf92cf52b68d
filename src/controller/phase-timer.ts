import type { KubeWriter } from "./kube-writer.js";

/** Where one reconcile spent its time: waiting on OpenStack, waiting on the apiserver, and the rest (its own). */
export interface ReconcilePhases {
  readonly openstackMs: number;
  readonly apiserverMs: number;
  readonly operatorMs: number;
}

/**
 * Times the awaits of one reconcile. Only wall time spent waiting is
 * counted per phase; what is left of the reconcile's duration is the
 * operator's own work (deciding, rendering, hashing, bookkeeping).
 */
export class PhaseTimer {
  readonly #now: () => number;
  readonly #started: number;
  #openstackMs = 0;
  #apiserverMs = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#started = now();
  }

  async openstack<T>(work: Promise<T>): Promise<T> {
    const started = this.#now();
    try {
      return await work;
    } finally {
      this.#openstackMs += this.#now() - started;
    }
  }

  async apiserver<T>(work: () => Promise<T>): Promise<T> {
    const started = this.#now();
    try {
      return await work();
    } finally {
      this.#apiserverMs += this.#now() - started;
    }
  }

  /** The writer, with every call counted as time waiting on the apiserver. */
  timedWriter(writer: KubeWriter): KubeWriter {
    return new Proxy(writer, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => this.apiserver(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  }

  phases(): ReconcilePhases {
    const total = this.#now() - this.#started;
    return { openstackMs: this.#openstackMs, apiserverMs: this.#apiserverMs, operatorMs: Math.max(0, total - this.#openstackMs - this.#apiserverMs) };
  }
}
