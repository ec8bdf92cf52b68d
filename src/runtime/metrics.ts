import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from "prom-client";

export const METRIC_PREFIX = "glance_store_operator_";

/** How one reconcile ended, as counted in `glance_store_operator_reconcile_total{result}`. */
export type ReconcileResult = "success" | "error" | "requeue" | "terminal";

/** What the work queue reports; `OperatorMetrics` implements it, a test may pass its own. */
export interface WorkQueueMetrics {
  setDepth(depth: number): void;
  setInFlight(inFlight: number): void;
  /** A key was put back with backoff after a failed reconcile. */
  retried(): void;
  reconciled(result: ReconcileResult, durationMs: number): void;
}

/** One HTTP call of the OpenStack client, reported after it completed or failed. */
export interface OpenStackRequestEvent {
  /** What was asked, from a fixed set chosen by the client, e.g. `keystone_token`, `cinder_volume_types`. */
  readonly kind: string;
  /** How it ended, from a fixed set, e.g. `success`, `auth_failed`, `timeout`. */
  readonly outcome: string;
  readonly durationMs: number;
}

export type OpenStackRequestObserver = (event: OpenStackRequestEvent) => void;

export type InformerRestartReason = "error" | "silent";

export interface InformerMetrics {
  informerRestarted(resource: string, reason: InformerRestartReason): void;
}

/** Since when a target's oldest lasting problems have lasted, in ms since the epoch (undefined: none), and its stores with refused credentials. */
export interface StoreSummary {
  /** The Ready lastTransitionTime of its longest-degraded store (rendered, kept last-good, adding and deleting disabled). */
  readonly degradedSinceMs: number | undefined;
  /** The earliest deletionTimestamp of its stores whose deletion is held (DeletionBlocked). */
  readonly deletionBlockedSinceMs: number | undefined;
  /** Stores whose credentials Keystone refused (CredentialsValid reason AuthFailed). */
  readonly credentialsRefused: number;
}

export interface OperatorMetricsOptions {
  /** Also export Node.js process metrics (CPU, memory, event loop lag) with the same prefix. */
  readonly processMetrics?: boolean;
  /**
   * Most distinct label values kept per label of an externally fed metric
   * (OpenStack kind/outcome, store target/state); further values are counted
   * under `other`. A bug that puts ids into labels then cannot blow up
   * Prometheus, and a secret that somehow reached a label has a bounded home.
   */
  readonly maxLabelValues?: number;
}

// Labels fed by other modules must look like identifiers: this keeps
// messages, URLs and anything secret-shaped out of the exposition.
const LABEL_VALUE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const PRINTABLE_LABEL_VALUE = /^[^\x00-\x1F\x7F]{1,128}$/;

/**
 * Every metric of the operator, registered on the Registry passed in (never
 * prom-client's global one, so two operators in one test process do not
 * collide). The names and labels are listed in docs/operations.md.
 */
export class OperatorMetrics implements WorkQueueMetrics, InformerMetrics {
  readonly registry: Registry;
  readonly #reconcileTotal: Counter<"result">;
  readonly #reconcileErrors: Counter;
  readonly #terminalErrors: Counter;
  readonly #reconcileDuration: Histogram<"result">;
  readonly #reconcilePhase: Histogram<"phase">;
  readonly #queueDepth: Gauge;
  readonly #queueInFlight: Gauge;
  readonly #queueRetries: Counter;
  readonly #openstackRequests: Counter<"kind" | "outcome">;
  readonly #openstackDuration: Histogram<"kind" | "outcome">;
  readonly #stores: Gauge<"target" | "state">;
  readonly #informerRestarts: Counter<"resource" | "reason">;
  readonly #leader: Gauge;
  readonly #keystoneRefusals: Counter;
  readonly #keystoneHeld: Counter;
  readonly #degradedSince: Gauge<"target">;
  readonly #deletionBlockedSince: Gauge<"target">;
  readonly #credentialsRefused: Gauge<"target">;
  readonly #uncoveredImageVolumes: Gauge<"target" | "volume_type">;
  readonly #uncoveredTypesByTarget = new Map<string, Set<string>>();
  readonly #maxLabelValues: number;
  readonly #seenLabelValues = new Map<string, Set<string>>();
  readonly #storeStatesByTarget = new Map<string, Set<string>>();

  constructor(registry: Registry, options: OperatorMetricsOptions = {}) {
    this.registry = registry;
    this.#maxLabelValues = options.maxLabelValues ?? 100;
    const registers = [registry];
    this.#reconcileTotal = new Counter({
      name: `${METRIC_PREFIX}reconcile_total`,
      help: "Reconciles of a target, by result: success, error (retried with backoff), requeue (re-check scheduled), terminal (not retried).",
      labelNames: ["result"],
      registers,
    });
    this.#reconcileErrors = new Counter({
      name: `${METRIC_PREFIX}reconcile_errors_total`,
      help: "Reconciles that failed with an error and were retried with backoff.",
      registers,
    });
    this.#terminalErrors = new Counter({
      name: `${METRIC_PREFIX}reconcile_terminal_errors_total`,
      help: "Reconciles that failed in a way retrying cannot fix; the key waits for a change.",
      registers,
    });
    this.#reconcileDuration = new Histogram({
      name: `${METRIC_PREFIX}reconcile_duration_seconds`,
      help: "Time one reconcile of a target took, by result.",
      labelNames: ["result"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#reconcilePhase = new Histogram({
      name: `${METRIC_PREFIX}reconcile_phase_seconds`,
      help: "Where one reconcile of a target spent its time: waiting on OpenStack (Keystone, Cinder, Glance), waiting on the apiserver (writes), and the operator's own work (the rest).",
      labelNames: ["phase"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#queueDepth = new Gauge({
      name: `${METRIC_PREFIX}workqueue_depth`,
      help: "Keys ready to be reconciled and waiting for a worker (not counting keys scheduled for later).",
      registers,
    });
    this.#queueInFlight = new Gauge({
      name: `${METRIC_PREFIX}workqueue_in_flight`,
      help: "Reconciles running now.",
      registers,
    });
    this.#queueRetries = new Counter({
      name: `${METRIC_PREFIX}workqueue_retries_total`,
      help: "Keys put back with per-key exponential backoff after a failed reconcile.",
      registers,
    });
    this.#openstackRequests = new Counter({
      name: `${METRIC_PREFIX}openstack_requests_total`,
      help: "HTTP requests to Keystone and Cinder, by kind of request and outcome.",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.#openstackDuration = new Histogram({
      name: `${METRIC_PREFIX}openstack_request_duration_seconds`,
      help: "Latency of HTTP requests to Keystone and Cinder, by kind of request and outcome.",
      labelNames: ["kind", "outcome"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#stores = new Gauge({
      name: `${METRIC_PREFIX}stores`,
      help: "GlanceStores per target (namespace/target) and state, as last decided by the controller.",
      labelNames: ["target", "state"],
      registers,
    });
    this.#informerRestarts = new Counter({
      name: `${METRIC_PREFIX}informer_restarts_total`,
      help: "Informer (list and watch) restarts, by resource and reason: error (the list or watch failed) or silent (the watchdog saw no event or bookmark for too long).",
      labelNames: ["resource", "reason"],
      registers,
    });
    this.#leader = new Gauge({
      name: `${METRIC_PREFIX}leader`,
      help: "1 while this replica holds the leader Lease and reconciles, else 0.",
      registers,
    });
    this.#keystoneRefusals = new Counter({
      name: `${METRIC_PREFIX}keystone_refusals_total`,
      help: "Token requests Keystone refused with 401 (wrong password, unknown user or project, locked account). Each counts towards Keystone's lockout of the user; the operator then holds the credential set off (--auth-refusal-backoff).",
      registers,
    });
    this.#keystoneHeld = new Counter({
      name: `${METRIC_PREFIX}keystone_auth_held_total`,
      help: "Token requests not sent because Keystone refused the same credentials earlier and they are held off to avoid a lockout.",
      registers,
    });
    this.#credentialsRefused = new Gauge({
      name: `${METRIC_PREFIX}credentials_refused_stores`,
      help: "Per target: its stores whose credentials Keystone refused (CredentialsValid=False, AuthFailed); the operator holds them off (--auth-refusal-backoff) until they change. A rendered one keeps a restarting glance-api from starting.",
      labelNames: ["target"],
      registers,
    });
    this.#degradedSince = new Gauge({
      name: `${METRIC_PREFIX}degraded_since_timestamp_seconds`,
      help: "Per target: since when (Unix time) its longest-degraded store has not been Ready while Glance keeps it as last rendered (state degraded: images readable, adding and deleting disabled); the store's Ready lastTransitionTime. Absent while no store of the target is degraded.",
      labelNames: ["target"],
      registers,
    });
    this.#deletionBlockedSince = new Gauge({
      name: `${METRIC_PREFIX}deletion_blocked_since_timestamp_seconds`,
      help: "Per target: the earliest deletionTimestamp (Unix time) of its stores whose deletion is held (Ready reason DeletionBlocked: image volumes remain or cannot be counted). Absent while no deletion of the target is held.",
      labelNames: ["target"],
      registers,
    });
    this.#uncoveredImageVolumes = new Gauge({
      name: `${METRIC_PREFIX}uncovered_image_volumes`,
      help: "Per target and volume type: image volumes (image-<uuid>) in the project Glance keeps images in whose volume type no cinder store of the target has. Glance maps a legacy cinder://<volume> location to the first store of the volume's type, so those images stay unmapped. volume_type is empty for volumes without one. Absent while every type is covered or the volumes could not be listed.",
      labelNames: ["target", "volume_type"],
      registers,
    });
    this.#leader.set(0);
    this.#queueDepth.set(0);
    this.#queueInFlight.set(0);
    if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  }

  setDepth(depth: number): void {
    this.#queueDepth.set(depth);
  }

  setInFlight(inFlight: number): void {
    this.#queueInFlight.set(inFlight);
  }

  retried(): void {
    this.#queueRetries.inc();
  }

  reconciled(result: ReconcileResult, durationMs: number): void {
    this.#reconcileTotal.inc({ result });
    this.#reconcileDuration.observe({ result }, Math.max(0, durationMs) / 1000);
    if (result === "error") this.#reconcileErrors.inc();
    if (result === "terminal") this.#terminalErrors.inc();
  }

  observePhases(phases: { readonly openstackMs: number; readonly apiserverMs: number; readonly operatorMs: number }): void {
    this.#reconcilePhase.observe({ phase: "openstack" }, phases.openstackMs / 1000);
    this.#reconcilePhase.observe({ phase: "apiserver" }, phases.apiserverMs / 1000);
    this.#reconcilePhase.observe({ phase: "operator" }, phases.operatorMs / 1000);
  }

  /** Handed to the OpenStack client; bound, so it can be passed around as a plain function. */
  readonly observeOpenStackRequest: OpenStackRequestObserver = (event) => {
    const labels = { kind: this.#label("kind", event.kind), outcome: this.#label("outcome", event.outcome) };
    this.#openstackRequests.inc(labels);
    if (event.kind === "auth" && event.outcome === "AuthFailed") this.#keystoneRefusals.inc();
    if (event.kind === "auth-held") this.#keystoneHeld.inc();
    if (Number.isFinite(event.durationMs)) this.#openstackDuration.observe(labels, Math.max(0, event.durationMs) / 1000);
  };

  /**
   * Replaces the store counts of one target. States missing from `counts`
   * disappear from the exposition instead of lingering at their last value.
   */
  setStoreStates(target: string, counts: Readonly<Record<string, number>>): void {
    const targetLabel = this.#label("target", target);
    const previous = this.#storeStatesByTarget.get(targetLabel) ?? new Set<string>();
    const next = new Set<string>();
    for (const [state, count] of Object.entries(counts)) {
      const stateLabel = this.#label("state", state);
      next.add(stateLabel);
      this.#stores.set({ target: targetLabel, state: stateLabel }, count);
    }
    for (const state of previous) {
      if (!next.has(state)) this.#stores.remove({ target: targetLabel, state });
    }
    this.#storeStatesByTarget.set(targetLabel, next);
  }

  /**
   * Since when the target's oldest problems last, and how many of its
   * stores have refused credentials: each time is set when given and
   * removed from the exposition when not, so an alert on `time() - metric`
   * ends when the problem does.
   */
  setStoreSummary(target: string, times: StoreSummary): void {
    const labels = { target: this.#label("target", target) };
    this.#credentialsRefused.set(labels, times.credentialsRefused);
    for (const [gauge, ms] of [
      [this.#degradedSince, times.degradedSinceMs],
      [this.#deletionBlockedSince, times.deletionBlockedSinceMs],
    ] as const) {
      if (ms !== undefined && Number.isFinite(ms)) gauge.set(labels, ms / 1000);
      else gauge.remove(labels);
    }
  }

  /** Sets the uncovered image volumes of a target, by type; types no longer uncovered leave the exposition. Undefined: not known, nothing is shown. */
  setUncoveredImageVolumes(target: string, uncovered: readonly { readonly volumeType: string; readonly count: number }[] | undefined): void {
    const targetLabel = this.#label("target", target);
    const before = this.#uncoveredTypesByTarget.get(targetLabel) ?? new Set<string>();
    const now = new Set<string>();
    for (const { volumeType, count } of uncovered ?? []) {
      // Cinder type names may hold spaces: any printable name is kept (the count of labels is capped all the same).
      const typeLabel = volumeType === "" ? "" : this.#label("volume_type", volumeType, PRINTABLE_LABEL_VALUE);
      now.add(typeLabel);
      this.#uncoveredImageVolumes.set({ target: targetLabel, volume_type: typeLabel }, count);
    }
    for (const typeLabel of before) if (!now.has(typeLabel)) this.#uncoveredImageVolumes.remove({ target: targetLabel, volume_type: typeLabel });
    this.#uncoveredTypesByTarget.set(targetLabel, now);
  }

  /** Forgets a target that has no store any more. */
  removeTarget(target: string): void {
    const targetLabel = this.#label("target", target);
    this.setUncoveredImageVolumes(target, undefined);
    for (const state of this.#storeStatesByTarget.get(targetLabel) ?? []) this.#stores.remove({ target: targetLabel, state });
    this.#storeStatesByTarget.delete(targetLabel);
    this.#degradedSince.remove({ target: targetLabel });
    this.#deletionBlockedSince.remove({ target: targetLabel });
    this.#credentialsRefused.remove({ target: targetLabel });
  }

  informerRestarted(resource: string, reason: InformerRestartReason): void {
    this.#informerRestarts.inc({ resource: this.#label("resource", resource), reason });
  }

  setLeader(isLeader: boolean): void {
    this.#leader.set(isLeader ? 1 : 0);
  }

  #label(name: string, value: string, pattern: RegExp = LABEL_VALUE): string {
    if (!pattern.test(value)) return "invalid";
    let seen = this.#seenLabelValues.get(name);
    if (seen === undefined) {
      seen = new Set();
      this.#seenLabelValues.set(name, seen);
    }
    if (seen.has(value)) return value;
    if (seen.size >= this.#maxLabelValues) return "other";
    seen.add(value);
    return value;
  }
}
