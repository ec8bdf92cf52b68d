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
  readonly #openstack: WaitClock;
  readonly #apiserver: WaitClock;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#started = now();
    this.#openstack = new WaitClock(now);
    this.#apiserver = new WaitClock(now);
  }

  openstack<T>(work: Promise<T>): Promise<T> {
    return this.#openstack.time(() => work);
  }

  apiserver<T>(work: () => Promise<T>): Promise<T> {
    return this.#apiserver.time(work);
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
    const openstackMs = this.#openstack.elapsedMs();
    const apiserverMs = this.#apiserver.elapsedMs();
    return { openstackMs, apiserverMs, operatorMs: Math.max(0, total - openstackMs - apiserverMs) };
  }
}

/** Wall time during which at least one wait was in flight: writes sent together count once. */
class WaitClock {
  readonly #now: () => number;
  #inFlight = 0;
  #busySince = 0;
  #elapsedMs = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  async time<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inFlight++ === 0) this.#busySince = this.#now();
    try {
      return await work();
    } finally {
      if (--this.#inFlight === 0) this.#elapsedMs += this.#now() - this.#busySince;
    }
  }

  elapsedMs(): number {
    return this.#inFlight === 0 ? this.#elapsedMs : this.#elapsedMs + this.#now() - this.#busySince;
  }
}
