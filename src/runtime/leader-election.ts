import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { abortAfter, sleep, systemClock, type Clock } from "./clock.js";
import { microTime, type KubeClient } from "../kube/client.js";
import { apiStatusOf, describeKubeError } from "../kube/errors.js";

/** A coordination.k8s.io/v1 Lease as the apiserver sends it (times are MicroTime strings). */
export interface Lease {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: V1ObjectMeta;
  readonly spec?: LeaseSpec;
}

export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

/** The three Lease calls the elector makes. */
export interface LeaseApi {
  read(namespace: string, name: string, signal: AbortSignal): Promise<Lease>;
  create(namespace: string, lease: Lease, signal: AbortSignal): Promise<Lease>;
  replace(namespace: string, name: string, lease: Lease, signal: AbortSignal): Promise<Lease>;
}

/** The Lease calls, sent to the apiserver. */
export function kubeLeaseApi(kube: KubeClient): LeaseApi {
  const collection = (namespace: string): string => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  return {
    read: (namespace, name, signal) => kube.request<Lease>({ method: "GET", path: `${collection(namespace)}/${name}`, signal }),
    create: (namespace, lease, signal) => kube.request<Lease>({ method: "POST", path: collection(namespace), body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", ...lease }, signal }),
    replace: (namespace, name, lease, signal) =>
      kube.request<Lease>({ method: "PUT", path: `${collection(namespace)}/${name}`, body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", ...lease }, signal }),
  };
}

export interface LeaderElectionTiming {
  /** How long a Lease is valid after its holder's last renewal; others wait this long before taking over. */
  readonly leaseDurationMs: number;
  /** The leader gives up when it could not renew for this long; must be shorter than the lease duration. */
  readonly renewDeadlineMs: number;
  /** Pause between two acquire or renew attempts. */
  readonly retryPeriodMs: number;
}

/** client-go's defaults (15 s, 10 s, 2 s). */
export const DEFAULT_LEADER_ELECTION_TIMING: LeaderElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  readonly identity: string;
  readonly timing?: Partial<LeaderElectionTiming>;
  /** Release the Lease when `run`'s signal aborts, so a standby takes over at once (default true). */
  readonly releaseOnCancel?: boolean;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** In [0, 1); spreads the candidates' attempts. */
  readonly random?: () => number;
  readonly metrics?: { setLeader(isLeader: boolean): void };
  /**
   * Called once this replica holds the Lease. `signal` aborts when it stops
   * leading (lost the Lease, or `run` was cancelled): take no new work.
   * `lost` aborts only when the Lease is lost (or no longer renewed): from
   * then on another replica may lead, so write nothing more. On a cancel the
   * Lease is renewed, and released, only after the returned promise settles,
   * so in-flight work may finish its writes. A rejection ends the leadership
   * as well.
   */
  readonly onStartedLeading: (signal: AbortSignal, lost: AbortSignal) => void | Promise<void>;
  /** Called after leading ended, once the Lease was released (when it is released). */
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder changes (including to this replica). */
  readonly onNewLeader?: (identity: string) => void;
}

export interface LeaderStatus {
  readonly identity: string;
  readonly leading: boolean;
  /** The holder last seen on the Lease, if any. */
  readonly leader: string | undefined;
}

interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: number | undefined;
  readonly renewTime: number | undefined;
  readonly leaseTransitions: number;
}

type Attempt = "acquired" | "held-by-other" | "failed";

/**
 * Leader election on a coordination.k8s.io/v1 Lease, the algorithm of
 * client-go's `leaderelection` package:
 * - a candidate takes the Lease when it is free or when its record has not
 *   changed for the holder's lease duration, measured on the local clock from
 *   when this candidate saw it change (so clocks of replicas need not agree);
 * - writes carry the Lease's resourceVersion: a conflict means someone else
 *   wrote first, and this attempt lost;
 * - the leader renews every retry period and stops leading when it could not
 *   renew within the renew deadline, which is shorter than the lease
 *   duration, so it stops before anyone else may start;
 * - on cancel it releases the Lease (empty holder), so a standby takes over
 *   on its next attempt instead of waiting for expiry.
 */
export class LeaderElector {
  readonly identity: string;
  readonly #options: LeaderElectorOptions;
  readonly #timing: LeaderElectionTiming;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: Logger;
  #observed: LeaseRecord | undefined;
  #observedRaw = "";
  #observedAt = 0;
  #lease: Lease | undefined;
  #leading = false;
  #running = false;

  constructor(options: LeaderElectorOptions) {
    const timing = { ...DEFAULT_LEADER_ELECTION_TIMING, ...options.timing };
    if (!(timing.retryPeriodMs > 0)) throw new RangeError(`retryPeriodMs must be positive, got ${timing.retryPeriodMs}`);
    if (!(timing.renewDeadlineMs > timing.retryPeriodMs * 1.2)) {
      throw new RangeError(
        `renewDeadlineMs (${timing.renewDeadlineMs}) must be longer than 1.2 x retryPeriodMs (${timing.retryPeriodMs}): a leader needs room for more than one renewal attempt`,
      );
    }
    if (!(timing.leaseDurationMs > timing.renewDeadlineMs)) {
      throw new RangeError(
        `leaseDurationMs (${timing.leaseDurationMs}) must be longer than renewDeadlineMs (${timing.renewDeadlineMs}): a leader must stop before others may take over`,
      );
    }
    if (options.identity === "") throw new Error("leader election needs a non-empty identity (e.g. the pod name)");
    this.identity = options.identity;
    this.#options = options;
    this.#timing = timing;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  isLeader(): boolean {
    return this.#leading;
  }

  status(): LeaderStatus {
    return { identity: this.identity, leading: this.#leading, leader: this.#observed?.holderIdentity || undefined };
  }

  /**
   * Campaigns until this replica leads, leads until it loses the Lease or
   * `signal` aborts, then resolves (after releasing the Lease on cancel).
   * To campaign again after a loss, call `run` again; most operators exit
   * instead and let the pod restart with a clean slate.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`leader election for ${this.identity} is already running`);
    this.#running = true;
    try {
      if (!(await this.#acquire(signal))) return;
      if (signal.aborted) {
        // Cancelled while the winning write was in flight: hand the Lease straight back.
        if (this.#options.releaseOnCancel ?? true) await this.#release();
        return;
      }
      await this.#lead(signal);
    } finally {
      this.#running = false;
    }
  }

  async #acquire(signal: AbortSignal): Promise<boolean> {
    this.#logger.info("waiting to acquire the leader Lease");
    for (;;) {
      if (signal.aborted) return false;
      const result = await this.#tryAcquireOrRenew(this.#timing.renewDeadlineMs, signal);
      if (result === "acquired") return true;
      // client-go jitters the acquire loop so candidates do not hit the apiserver in step.
      const pause = this.#timing.retryPeriodMs * (1 + 0.2 * this.#random());
      try {
        await sleep(this.#clock, pause, signal);
      } catch {
        return false;
      }
    }
  }

  async #lead(signal: AbortSignal): Promise<void> {
    const leadership = new AbortController();
    const lostLease = new AbortController();
    const onCancel = (): void => leadership.abort(new Error(`leader election for ${this.identity} was cancelled`));
    signal.addEventListener("abort", onCancel, { once: true });
    this.#setLeading(true);
    this.#logger.info("acquired the leader Lease; leading");
    // Renewing stops once leading was given up (cancel, or the work failed) and the work has settled: the
    // last writes of in-flight work happen under a Lease still held and renewed.
    const done = new AbortController();
    let workSettled = false;
    const stopIfDone = (): void => {
      if (workSettled && leadership.signal.aborted) done.abort();
    };
    leadership.signal.addEventListener("abort", stopIfDone, { once: true });
    const work = Promise.resolve()
      .then(() => this.#options.onStartedLeading(leadership.signal, lostLease.signal))
      .catch((error: unknown) => {
        this.#logger.error({ err: error }, "the leader's work failed; giving up leadership");
        leadership.abort(error);
      })
      .finally(() => {
        workSettled = true;
        stopIfDone();
      });

    let lastRenew = this.#clock.now();
    let lost: "taken" | "deadline" | undefined;
    while (!done.signal.aborted) {
      try {
        await sleep(this.#clock, this.#timing.retryPeriodMs, done.signal);
      } catch {
        break;
      }
      const renewal = await this.#renewBefore(lastRenew + this.#timing.renewDeadlineMs, done.signal);
      if (done.signal.aborted) break;
      if (renewal !== "renewed") {
        lost = renewal;
        break;
      }
      lastRenew = this.#clock.now();
    }
    signal.removeEventListener("abort", onCancel);
    this.#setLeading(false);
    if (lost !== undefined) {
      const reason =
        lost === "taken"
          ? new Error(`${this.identity} lost the leader Lease to ${this.#observed?.holderIdentity ?? "another replica"}`)
          : new Error(`${this.identity} lost the leader Lease: no renewal within ${this.#timing.renewDeadlineMs} ms`);
      if (lost === "taken") this.#logger.error({ leader: this.#observed?.holderIdentity }, "another replica holds the leader Lease now; stopped leading");
      else this.#logger.error({ renewDeadlineMs: this.#timing.renewDeadlineMs }, "could not renew the leader Lease in time; stopped leading");
      lostLease.abort(reason);
      leadership.abort(reason);
      await work;
    } else {
      lostLease.abort(leadership.signal.reason ?? new Error("leadership ended"));
      if (this.#options.releaseOnCancel ?? true) await this.#release();
    }
    this.#options.onStoppedLeading?.();
  }

  /** Retries renewal every retry period until it works, someone else holds the Lease, or the deadline passes. */
  async #renewBefore(deadline: number, signal: AbortSignal): Promise<"renewed" | "taken" | "deadline"> {
    for (;;) {
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0 || signal.aborted) return "deadline";
      const result = await this.#tryAcquireOrRenew(remaining, signal);
      if (result === "acquired") return "renewed";
      if (result === "held-by-other") return "taken";
      const pause = Math.min(this.#timing.retryPeriodMs, deadline - this.#clock.now());
      if (pause <= 0) return "deadline";
      try {
        await sleep(this.#clock, pause, signal);
      } catch {
        return "deadline";
      }
    }
  }

  async #tryAcquireOrRenew(timeoutMs: number, signal: AbortSignal): Promise<Attempt> {
    const deadline = abortAfter(this.#clock, timeoutMs, () => new Error(`the apiserver did not answer a Lease request within ${Math.round(timeoutMs)} ms`));
    const request = AbortSignal.any([signal, deadline.signal]);
    // An aborted request reports the abort; say which deadline it was.
    const describe = (error: unknown): ReturnType<typeof describeKubeError> =>
      request.aborted && request.reason instanceof Error ? { message: request.reason.message } : describeKubeError(error);
    try {
      return await this.#attempt(request, describe);
    } finally {
      deadline.cancel();
    }
  }

  async #attempt(signal: AbortSignal, describe: (error: unknown) => ReturnType<typeof describeKubeError>): Promise<Attempt> {
    const { api, namespace, name } = this.#options;
    const now = this.#clock.now();

    // Fast path: the leader writes over the Lease it wrote last time; a
    // conflict (someone else wrote in between) falls back to reading it.
    if (this.#leading && this.#lease !== undefined) {
      try {
        const renewed = await api.replace(namespace, name, this.#leaseFor(this.#lease, now), signal);
        this.#observe(renewed, now);
        return "acquired";
      } catch (error) {
        this.#logger.debug({ error: describe(error) }, "optimistic Lease renewal failed; reading the Lease");
      }
    }

    let current: Lease;
    try {
      current = await api.read(namespace, name, signal);
    } catch (error) {
      if (apiStatusOf(error) !== 404) {
        this.#logger.warn({ error: describe(error) }, "could not read the leader Lease");
        return "failed";
      }
      try {
        const created = await api.create(namespace, { metadata: { name, namespace }, spec: this.#specFor(undefined, now) }, signal);
        this.#observe(created, now);
        return "acquired";
      } catch (createError) {
        // 409: another candidate created it first.
        if (apiStatusOf(createError) !== 409) this.#logger.warn({ error: describe(createError) }, "could not create the leader Lease");
        return "failed";
      }
    }

    this.#observe(current, now);
    const record = this.#observed;
    if (record !== undefined && record.holderIdentity !== "" && record.holderIdentity !== this.identity) {
      const expiresAt = this.#observedAt + record.leaseDurationSeconds * 1000;
      if (expiresAt > now) return "held-by-other";
      this.#logger.info({ holder: record.holderIdentity, unchangedForMs: now - this.#observedAt }, "the leader Lease expired; taking it over");
    }
    try {
      const updated = await api.replace(namespace, name, this.#leaseFor(current, now), signal);
      this.#observe(updated, now);
      return "acquired";
    } catch (error) {
      // 409: someone else wrote the Lease since we read it; they won this round.
      if (apiStatusOf(error) !== 409) this.#logger.warn({ error: describe(error) }, "could not write the leader Lease");
      return "failed";
    }
  }

  /** Gives the Lease up so a standby can take it at once (client-go's `release`). */
  async #release(): Promise<void> {
    const { api, namespace, name } = this.#options;
    const deadline = abortAfter(this.#clock, this.#timing.renewDeadlineMs, () => new Error(`the apiserver did not answer within ${this.#timing.renewDeadlineMs} ms`));
    const signal = deadline.signal;
    try {
      const current = await api.read(namespace, name, signal);
      if ((current.spec?.holderIdentity ?? "") !== this.identity) return;
      const now = this.#clock.now();
      const released: Lease = {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: current.spec?.leaseTransitions ?? 0,
        },
      };
      const written = await api.replace(namespace, name, released, signal);
      this.#observe(written, now);
      this.#logger.info("released the leader Lease");
    } catch (error) {
      this.#logger.warn({ error: describeKubeError(error) }, "could not release the leader Lease; others take over when it expires");
    } finally {
      deadline.cancel();
    }
  }

  #leaseFor(current: Lease, now: number): Lease {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: current.metadata ?? {},
      spec: this.#specFor(current.spec, now),
    };
  }

  #specFor(previous: LeaseSpec | undefined, now: number): LeaseSpec {
    const wasMine = previous?.holderIdentity === this.identity;
    const acquired = wasMine && previous?.acquireTime !== undefined ? new Date(previous.acquireTime).getTime() : now;
    return {
      ...previous,
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#timing.leaseDurationMs / 1000),
      acquireTime: microTime(acquired),
      renewTime: microTime(now),
      leaseTransitions: wasMine ? (previous?.leaseTransitions ?? 0) : previous === undefined ? 0 : (previous.leaseTransitions ?? 0) + 1,
    };
  }

  /** Records what the Lease says; the expiry clock restarts only when its content changed. */
  #observe(lease: Lease, now: number): void {
    this.#lease = lease;
    const spec = lease.spec ?? {};
    const record: LeaseRecord = {
      holderIdentity: spec.holderIdentity ?? "",
      leaseDurationSeconds: spec.leaseDurationSeconds ?? Math.ceil(this.#timing.leaseDurationMs / 1000),
      acquireTime: spec.acquireTime === undefined ? undefined : new Date(spec.acquireTime).getTime(),
      renewTime: spec.renewTime === undefined ? undefined : new Date(spec.renewTime).getTime(),
      leaseTransitions: spec.leaseTransitions ?? 0,
    };
    const raw = JSON.stringify(record);
    if (raw === this.#observedRaw) return;
    const previousHolder = this.#observed?.holderIdentity;
    this.#observed = record;
    this.#observedRaw = raw;
    this.#observedAt = now;
    if (record.holderIdentity !== "" && record.holderIdentity !== previousHolder) {
      this.#logger.info({ leader: record.holderIdentity }, "new leader observed");
      this.#options.onNewLeader?.(record.holderIdentity);
    }
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#options.metrics?.setLeader(leading);
  }
}
