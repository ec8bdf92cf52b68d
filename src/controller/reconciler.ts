import { createHmac, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { V1ConfigMap, V1Deployment, V1ObjectMeta, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { StoreChecker } from "../openstack/index.js";
import { compare, CREDENTIALS_CONF_FILE, STORES_CONF_FILE, type RenderedConfig } from "../render/render.js";
import type { Clock } from "../runtime/clock.js";
import { apiStatusOf, describeKubeError } from "../kube/errors.js";
import { conditionTransitions, mergeConditions, type Condition } from "./conditions.js";
import { decideTarget, type StoreDecision, type TargetDecision } from "./decide.js";
import { NotLeadingError, ownerReferencesOf, type KubeWriter } from "./kube-writer.js";
import {
  CONFIG_HASH_ANNOTATION,
  configMapName,
  credentialsSecretName,
  FINALIZER,
  HASH_KEY_ANNOTATION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  parseTargetKey,
  TARGET_LABEL,
} from "./naming.js";
import { metaTime, observeTarget, readPrevious, readStoreObject, type CredentialsPolicy, type GlanceStoreObject, type StoreObject } from "./observe.js";
import { Outcome, type ReconcileOutcome } from "./outcome.js";
import { countStates, storeSummary, type StoreState } from "./store-metrics.js";
import { concurrentWrites, planWrites, type PlannedWrite } from "./write-plan.js";
import { WrittenStatuses } from "./written-statuses.js";
import { PhaseTimer, type ReconcilePhases } from "./phase-timer.js";
import { readTargetObject, targetSettings, TargetObserver, type GlanceStoreTargetObject, type TargetObject } from "./target-observe.js";
import { targetStatusView, workloadRollout, type TargetStatusView, type WorkloadRollout } from "./target-status.js";

/** Writes of one batch in flight at once: enough to hide a round trip, few enough to be kind to the apiserver. */
const MAX_CONCURRENT_WRITES = 16;

/** How soon Glance is asked again while it does not serve what was rendered (a restart or rollout is usually under way). */
const GLANCE_RECHECK_MS = 15_000;

/**
 * Read access to the informers' caches: a reconcile reads the cluster only
 * from them, but for the data of the credentials Secrets its stores
 * reference (`secrets.ensure`, a GET each when changed).
 */
export interface ReconcilerCaches {
  /** The stores of one target (an index of the GlanceStore informer). */
  readonly stores: { byTarget(namespace: string, target: string): readonly GlanceStoreObject[] };
  /** Absent when the GlanceStoreTarget CRD is not installed: every target then works without one. */
  readonly targets?: { get(namespace: string, name: string): GlanceStoreTargetObject | undefined };
  readonly secrets: {
    /** In full: the operator's own rendered Secrets, and those stores reference once `ensure` fetched them (SecretData). */
    get(namespace: string, name: string): V1Secret | undefined;
    /** The metadata of any Secret, data left out: whether one of that name exists, and whose it is. */
    metadata(namespace: string, name: string): V1ObjectMeta | undefined;
    /** Makes `get` answer for these Secrets with their current data. */
    ensure(namespace: string, names: Iterable<string>, signal?: AbortSignal): Promise<void>;
  };
  readonly configMaps: { get(namespace: string, name: string): V1ConfigMap | undefined };
  /** Absent when the operator does not roll workloads (--rollout-workloads=false): it then neither watches nor patches them. */
  readonly deployments?: { byTarget(namespace: string, target: string): readonly V1Deployment[] };
  readonly statefulSets?: { byTarget(namespace: string, target: string): readonly V1StatefulSet[] };
}

export type { StoreState } from "./store-metrics.js";

export interface ReconcilerMetrics {
  setStoreStates(target: string, states: Readonly<Record<StoreState, number>>): void;
  /** Since when (ms since the epoch) the target's longest-degraded store and its oldest held deletion last (undefined: none), and its stores with refused credentials. */
  setStoreSummary(target: string, times: { readonly degradedSinceMs: number | undefined; readonly deletionBlockedSinceMs: number | undefined; readonly credentialsRefused: number }): void;
  /** Where a reconcile spent its time. */
  observePhases?(phases: ReconcilePhases): void;
  /** Image volumes of volume types no cinder store of the target covers (undefined: not known). */
  setUncoveredImageVolumes(target: string, uncovered: readonly { readonly volumeType: string; readonly count: number }[] | undefined): void;
  removeTarget(target: string): void;
}

export interface ReconcilerOptions {
  readonly caches: ReconcilerCaches;
  readonly writer: KubeWriter;
  readonly checker: StoreChecker;
  readonly clock: Pick<Clock, "now">;
  readonly logger: Logger;
  readonly metrics?: ReconcilerMetrics;
  /** How soon a target is checked against OpenStack again when nothing changed. */
  readonly recheckPeriodMs: number;
  /** What the operator knows of the Glance it renders for (--glance-store-version). */
  readonly policy?: CredentialsPolicy;
}

/** glance_store of Debian 12 and Ubuntu 22.04's Zed: the oldest release the operator renders for. */
export const DEFAULT_GLANCE_STORE_VERSION = "4.1.0";

/**
 * Reconciles one target (namespace + target name): reads its stores from
 * the caches, asks OpenStack once, decides (decideTarget), plans the writes
 * in the order that keeps every intermediate state startable (planWrites),
 * and carries them out, skipping any write that would change nothing. Safe
 * to run any number of times.
 */
export class TargetReconciler {
  readonly #options: ReconcilerOptions;
  /** Conditions last written per store uid: the cache may lag behind our own writes, and events must not repeat. */
  readonly #written = new WrittenStatuses();
  /** The same for GlanceStoreTargets. */
  readonly #writtenTargets = new WrittenStatuses();
  readonly #targetObserver: TargetObserver;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#targetObserver = new TargetObserver({ checker: options.checker, listingTtlMs: options.recheckPeriodMs });
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const timer = new PhaseTimer();
    try {
      return await this.#reconcile(key, timer, signal);
    } finally {
      const phases = timer.phases();
      this.#options.metrics?.observePhases?.(phases);
      this.#options.logger.debug({ key, ...roundedPhases(phases) }, "reconcile phases");
    }
  }

  async #reconcile(key: string, timer: PhaseTimer, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const { caches, checker, logger, clock } = this.#options;
    const writer = timer.timedWriter(this.#options.writer);
    const { namespace, target } = parseTargetKey(key);
    const log = logger.child({ namespace, target });
    const objects = caches.stores.byTarget(namespace, target).map(readStoreObject);
    const configMap = owned(caches.configMaps.get(namespace, configMapName(target)));
    const ownSecret = owned(caches.secrets.get(namespace, credentialsSecretName(target)));
    // A Secret of the rendered name that is not ours; one labelled ours that its informer has not delivered yet is not
    // someone else's (writing it then conflicts, and the reconcile is retried).
    const secretMetadata = caches.secrets.metadata(namespace, credentialsSecretName(target));
    const foreignSecret = ownSecret === undefined && secretMetadata !== undefined && secretMetadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY;
    const targetRaw = caches.targets?.get(namespace, target);
    const targetObject = targetRaw === undefined ? undefined : readTargetObject(targetRaw);
    if (targetObject?.specProblem !== undefined) {
      log.warn({ problem: targetObject.specProblem }, "the GlanceStoreTarget does not pass today's schema; the target is rendered as if it had none");
    }

    if (objects.length === 0) {
      // The last store is gone (its finalizer was released): nothing is left for Glance.
      if (configMap) await writer.deleteConfigMap(namespace, configMapName(target));
      if (ownSecret) await writer.deleteSecret(namespace, credentialsSecretName(target));
      this.#options.metrics?.removeTarget(key);
      if (targetObject !== undefined) {
        const empty: TargetDecision = { action: { kind: "remove" }, renderedStoreIds: [], otherStores: [], defaultStoreId: undefined, session: undefined, stores: [] };
        const view = targetStatusView({ target, decision: empty, renderedVolumeTypes: new Map(), configHash: undefined, imageVolumes: undefined, glance: undefined, rollout: undefined, mixedCredentials: [] });
        await this.#writeTargetStatus(writer, targetObject, view, false);
      }
      return Outcome.done();
    }

    const current = readPrevious(configMap, ownSecret);
    if (current.problem !== undefined) {
      log.warn({ problem: current.problem }, "part of the target's rendered ConfigMap and Secret cannot be read back; those stores are rendered again from their specs where they can be");
    }
    // The credentials Secrets' data: fetched when it changed since the last reconcile that read it.
    const referenced = objects.flatMap((store) => (store.spec === undefined ? [] : [store.spec.credentialsSecretRef.name]));
    await timer.apiserver(() => caches.secrets.ensure(namespace, referenced, signal));
    const now = clock.now();
    let observation = await timer.openstack(observeTarget({
      namespace,
      target,
      stores: objects,
      secret: (name) => caches.secrets.get(namespace, name),
      previous: current.previous,
      checker,
      policy: this.#options.policy ?? { glanceStoreVersion: DEFAULT_GLANCE_STORE_VERSION },
      now,
      ...(signal === undefined ? {} : { signal }),
    }));
    const settings = targetSettings(targetObject);
    if (settings !== undefined) observation = { ...observation, targetObject: settings };
    let decision = decideTarget(observation);
    if (decision.action.kind === "write" && foreignSecret) {
      const blocked = notOwned("Secret", namespace, credentialsSecretName(target));
      log.warn({ reason: blocked.reason }, blocked.message);
      decision = decideTarget(observation, { writeBlocked: blocked.message });
    }
    const byKey = new Map(objects.map((store) => [`${store.namespace}/${store.name}`, store]));
    /** Each store's conditions as its status has them once this reconcile wrote it: what the metrics read times from. */
    const statusConditions = new Map<string, Condition[]>();
    const currentTarget = {
      withFinalizer: new Set(objects.filter((o) => o.finalizers.includes(FINALIZER)).map((o) => `${o.namespace}/${o.name}`)),
      files: current.config,
      runningIds: current.previous?.storeIds ?? [],
    };
    let plan = planWrites(decision, currentTarget);

    // Information about the whole target, never a gate: asked once the decision says which session Glance opens, while
    // the files are written (it holds no write back), and awaited only by the statuses, which report it.
    const targetObservations = timer.openstack(
      Promise.all([this.#targetObserver.imageVolumes(decision.session, now, signal), this.#targetObserver.glance(targetObject, decision.session, now, signal)]),
    );
    // Awaited below in any case; this keeps a failure from counting as unhandled while the writes run.
    targetObservations.catch(() => undefined);
    let servedStores: Promise<ReadonlyMap<string, { readonly volumeType?: string | undefined }> | undefined> | undefined;
    const served = (): Promise<ReadonlyMap<string, { readonly volumeType?: string | undefined }> | undefined> =>
      (servedStores ??= targetObservations.then(([, glance]) => (glance?.ok === true ? new Map(glance.stores.map((store) => [store.id, store])) : undefined)));

    const files = new FileWriter(writer, namespace, target, objects, configMap, ownSecret);
    let decisionsByKey = new Map(decision.stores.map((store) => [store.key, store]));
    const released = new Set<string>();
    // One write: returns true when the rest of the plan was replaced.
    const runStep = async (step: PlannedWrite, index: number): Promise<boolean> => {
      const object = "key" in step ? byKey.get(step.key) : undefined;
      switch (step.kind) {
        case "addFinalizer":
          if (object) await writer.setStoreFinalizers(namespace, object.name, [...object.finalizers, FINALIZER], object.resourceVersion);
          return false;
        case "putSecret":
          await files.putSecret(step.credentialsConf, step.caFiles);
          return false;
        case "putConfigMap": {
          const problem = await files.putConfigMap(step.storesConf);
          if (problem === undefined) return false;
          // Someone else's ConfigMap: nothing of ours may go on. What Glance runs is unchanged; say why in every status.
          log.warn({ reason: problem.reason }, problem.message);
          decision = decideTarget(observation, { writeBlocked: problem.message });
          decisionsByKey = new Map(decision.stores.map((store) => [store.key, store]));
          plan = [...plan.slice(0, index + 1), ...planWrites(decision, currentTarget).filter((write) => write.kind === "status")];
          return true;
        }
        case "deleteConfigMap":
          if (configMap) await writer.deleteConfigMap(namespace, configMapName(target));
          return false;
        case "deleteSecret":
          if (ownSecret) await writer.deleteSecret(namespace, credentialsSecretName(target));
          return false;
        case "rollout": {
          const withKey = files.secret;
          if (withKey !== undefined) await this.#rollOut(writer, namespace, target, step.config, withKey);
          return false;
        }
        case "releaseFinalizer":
          if (object) {
            const at = object.finalizers.indexOf(FINALIZER);
            try {
              if (at >= 0) await writer.removeStoreFinalizer(namespace, object.name, FINALIZER, at);
            } catch (error) {
              if (apiStatusOf(error) !== 404) throw error;
            }
            released.add(object.uid);
            log.info({ store: object.name }, "store removed from Glance; finalizer released");
          }
          return false;
        case "status": {
          const storeDecision = decisionsByKey.get(step.key);
          if (object && storeDecision && !released.has(object.uid)) {
            const byId = await served();
            const glanceView = byId === undefined ? undefined : { served: byId.has(object.storeId), volumeType: byId.get(object.storeId)?.volumeType };
            statusConditions.set(step.key, await this.#writeStatus(writer, object, storeDecision, glanceView));
          }
          return false;
        }
      }
    };
    // In plan order; writes that touch separate objects and keep every intermediate state startable go out together.
    for (let index = 0; index < plan.length; ) {
      const count = concurrentWrites(plan, index);
      if (count === 1) {
        await runStep(plan[index] as PlannedWrite, index);
      } else {
        const start = index;
        await settleAll(plan.slice(start, start + count).map((step, offset) => () => runStep(step, start + offset)), MAX_CONCURRENT_WRITES);
      }
      index += count;
    }
    const live = new Set(objects.filter((o) => !released.has(o.uid)).map((o) => o.uid));
    this.#written.retain((uid) => live.has(uid));

    const metrics = this.#options.metrics;
    if (metrics !== undefined) {
      metrics.setStoreStates(key, countStates(decision));
      metrics.setStoreSummary(
        key,
        storeSummary(decision, {
          conditions: (storeKey) => statusConditions.get(storeKey),
          deletionTimestamp: (storeKey) => metaTime(byKey.get(storeKey)?.raw.metadata?.deletionTimestamp),
        }),
      );
    }
    // What the whole target looks like now: the files in the cluster after this reconcile, and what Glance and Cinder said.
    const [imageVolumes, glance] = await targetObservations;
    const renderedVolumeTypes = new Map<string, string>();
    const mixedCredentials: string[] = [];
    for (const storeDecision of decision.stores) {
      const object = byKey.get(storeDecision.key);
      if (object === undefined || !storeDecision.rendered) continue;
      if (storeDecision.volumeType !== undefined) renderedVolumeTypes.set(object.storeId, storeDecision.volumeType.name);
      if (storeDecision.conditions.some((c) => c.type === "CredentialsConsistent" && c.status === "False")) mixedCredentials.push(object.storeId);
    }
    const filesNow = decision.action.kind === "write" ? decision.action.config : current.config;
    const hashKey = files.secret?.metadata?.annotations?.[HASH_KEY_ANNOTATION];
    const hash = filesNow === undefined || hashKey === undefined ? undefined : configHash(hashKey, filesNow);
    const view = {
      target,
      decision,
      renderedVolumeTypes,
      configHash: hash,
      imageVolumes,
      glance,
      rollout: this.#rollouts(namespace, target, hash),
      mixedCredentials: mixedCredentials.sort(),
    };
    const targetView = targetStatusView(view);
    metrics?.setUncoveredImageVolumes(key, targetView.uncoveredImageVolumes);
    if (targetView.uncoveredImageVolumeCount !== undefined && targetView.uncoveredImageVolumeCount > 0) {
      log.warn({ uncovered: targetView.uncoveredImageVolumes }, "image volumes of volume types no cinder store of the target covers: their legacy images stay unmapped by Glance");
    }
    if (targetObject !== undefined) await this.#writeTargetStatus(writer, targetObject, targetView, glance !== undefined);

    log.debug({ action: decision.action.kind, rendered: decision.renderedStoreIds }, "reconciled");
    // While a Glance that answers does not serve what was written, look again soon: a restart or rollout is usually under
    // way. One that cannot be asked waits for the re-check period like everything else.
    const recheck = nextCheckInMs(decision, now, this.#options.recheckPeriodMs);
    return Outcome.recheckAfter(glance?.ok === true && !targetView.serving ? Math.min(recheck, GLANCE_RECHECK_MS) : recheck);
  }

  /** The rollout state of the workloads opted in to this target; undefined when the operator does not roll workloads. */
  #rollouts(namespace: string, target: string, hash: string | undefined): WorkloadRollout[] | undefined {
    const { caches } = this.#options;
    if (caches.deployments === undefined && caches.statefulSets === undefined) return undefined;
    const rollouts: WorkloadRollout[] = [];
    for (const object of caches.deployments?.byTarget(namespace, target) ?? []) rollouts.push(workloadRollout("Deployment", object, hash));
    for (const object of caches.statefulSets?.byTarget(namespace, target) ?? []) rollouts.push(workloadRollout("StatefulSet", object, hash));
    return rollouts.sort((a, b) => compare(a.kind, b.kind) || compare(a.name, b.name));
  }

  /** Writes the GlanceStoreTarget's status when it changes. */
  async #writeTargetStatus(writer: KubeWriter, object: TargetObject, view: TargetStatusView, glanceAsked: boolean): Promise<void> {
    const now = new Date(this.#options.clock.now());
    const current = this.#writtenTargets.current(object.uid, object.generation, object.status);
    const conditions = mergeConditions(current["conditions"] as Condition[] | undefined, view.conditions, { now, observedGeneration: object.generation });
    const status: Record<string, unknown> = {
      observedGeneration: object.generation ?? null,
      summary: view.summary,
      enabledBackends: view.enabledBackends,
      storeIds: view.storeIds,
      defaultStore: view.defaultStore ?? null,
      config: view.config,
      configHash: view.configHash ?? null,
      uncoveredImageVolumes: view.uncoveredImageVolumes ?? null,
      uncoveredImageVolumeCount: view.uncoveredImageVolumeCount ?? null,
      imageVolumesCheckedAt: view.imageVolumesCheckedAt ?? null,
      // Kept from the last answer while Glance cannot be asked: what it served then is still the best knowledge.
      glance: view.glance === undefined ? (glanceAsked ? (object.status?.glance ?? null) : null) : view.glance,
      rollout: view.rollout ?? null,
      conditions,
    };
    await this.#writtenTargets.write(object.uid, object.generation, status, current, () => writer.patchTargetStatus(object.namespace, object.name, status));
  }

  async #rollOut(writer: KubeWriter, namespace: string, target: string, config: RenderedConfig, secret: V1Secret): Promise<void> {
    const key = secret.metadata?.annotations?.[HASH_KEY_ANNOTATION];
    if (key === undefined) return;
    const hash = configHash(key, config);
    const { caches, logger } = this.#options;
    const workloads: { kind: "Deployment" | "StatefulSet"; object: V1Deployment | V1StatefulSet }[] = [
      ...(caches.deployments?.byTarget(namespace, target) ?? []).map((object) => ({ kind: "Deployment" as const, object })),
      ...(caches.statefulSets?.byTarget(namespace, target) ?? []).map((object) => ({ kind: "StatefulSet" as const, object })),
    ];
    for (const { kind, object } of workloads) {
      if (object.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] === hash) continue;
      const name = object.metadata?.name ?? "";
      try {
        await writer.annotatePodTemplate(kind, namespace, name, CONFIG_HASH_ANNOTATION, hash);
        logger.info({ namespace, target, kind, name }, "rolling out: the stores of its target changed");
      } catch (error) {
        if (apiStatusOf(error) !== 404) throw error;
      }
    }
  }

  /** Writes the store's status when it changes; returns its conditions as the status has them now (times kept unless a status flips). */
  async #writeStatus(writer: KubeWriter, object: StoreObject, decision: StoreDecision, glance: { served: boolean; volumeType: string | undefined } | undefined): Promise<Condition[]> {
    const now = new Date(this.#options.clock.now());
    const current = this.#written.current(object.uid, object.generation, object.status);
    const currentConditions = current["conditions"] as Condition[] | undefined;
    const conditions = mergeConditions(currentConditions, decision.conditions, { now, observedGeneration: object.generation });
    const status: Record<string, unknown> = {
      observedGeneration: object.generation ?? null,
      storeId: object.storeId,
      volumeType: decision.volumeType?.name ?? null,
      volumeTypeId: decision.volumeType?.id ?? null,
      addDelete: decision.addDeleteEnabled ? "Enabled" : "Disabled",
      addDeleteEnabled: decision.addDeleteEnabled,
      rendered: decision.rendered,
      imageVolumes: decision.imageVolumes ?? null,
      renderedVolumeTypes: decision.volumeTypes.length === 0 ? null : decision.volumeTypes.map((type) => ({ name: type.name, ...(type.id === undefined ? {} : { id: type.id }) })),
      projectId: decision.projectId ?? null,
      credentialsRefusal: this.#refusalRecord(object, decision) ?? null,
      glance: glance === undefined ? (object.status?.glance ?? null) : { serving: glance.served, ...(glance.volumeType === undefined ? {} : { volumeType: glance.volumeType }) },
      conditions,
    };
    if (!(await this.#written.write(object.uid, object.generation, status, current, () => writer.patchStoreStatus(object.namespace, object.name, status)))) return conditions;
    await this.#emitEvents(writer, object, currentConditions, conditions);
    return conditions;
  }

  /** The refusal as a status remembers it, tied to the very Secret that was refused. */
  #refusalRecord(object: StoreObject, decision: StoreDecision): Record<string, unknown> | undefined {
    if (decision.refusal === undefined || object.spec === undefined) return undefined;
    const ref = object.spec.credentialsSecretRef;
    const secret = this.#options.caches.secrets.get(object.namespace, ref.name);
    if (secret?.metadata?.uid === undefined || secret.metadata.resourceVersion === undefined) return undefined;
    return {
      secretName: ref.name,
      ...(ref.cloud === undefined ? {} : { cloud: ref.cloud }),
      secretUID: secret.metadata.uid,
      secretResourceVersion: secret.metadata.resourceVersion,
      refusedAt: decision.refusal.refusedAt,
      retryAt: decision.refusal.retryAt,
    };
  }

  async #emitEvents(writer: KubeWriter, object: StoreObject, before: readonly Condition[] | undefined, after: readonly Condition[]): Promise<void> {
    for (const transition of conditionTransitions(before, after)) {
      if (transition.type !== "Ready" && transition.type !== "Rendered") continue;
      // A brand-new store that comes up Ready and rendered, as most do, goes without events: its status says so, and a
      // thousand new stores would otherwise cost two thousand writes. A first failure is an event (Ready's only: a first
      // Rendered=False says the same), and so is every later change.
      if (transition.from === undefined && (transition.to === "True" || transition.type === "Rendered")) continue;
      try {
        await writer.emitEvent({
          namespace: object.namespace,
          regarding: { name: object.name, uid: object.uid },
          type: transition.to === "True" ? "Normal" : "Warning",
          reason: transition.reason,
          note: transition.message,
          action: transition.type === "Rendered" ? "Render" : "Check",
        });
      } catch (error) {
        if (error instanceof NotLeadingError) throw error;
        // An event is worth less than the reconcile: log it and go on.
        this.#options.logger.warn({ store: `${object.namespace}/${object.name}`, error: describeKubeError(error) }, "could not record an event");
      }
    }
  }
}

/** Keyed with a random per-target key kept in the Secret: the hash tells when the files changed and nothing about the passwords. */
export function configHash(key: string, config: RenderedConfig): string {
  const hmac = createHmac("sha256", key).update(config.storesConf).update("\0").update(config.credentialsConf);
  for (const name of Object.keys(config.caFiles).sort()) hmac.update("\0").update(name).update("\0").update(config.caFiles[name] ?? "");
  return hmac.digest("hex");
}

/** The next re-check: the period, or sooner when a refused credential set may be tried again. */
function nextCheckInMs(decision: TargetDecision, now: number, recheckPeriodMs: number): number {
  let next = recheckPeriodMs;
  for (const store of decision.stores) {
    if (store.refusal === undefined) continue;
    const due = Date.parse(store.refusal.retryAt) - now + 1_000;
    if (Number.isFinite(due) && due > 0 && due < next) next = due;
  }
  return next;
}

/**
 * The target's ConfigMap and Secret as one writer: it remembers what it
 * wrote, so the union step and the final step of the Secret, and the
 * rollout hash, all see the latest version.
 */
class FileWriter {
  readonly #writer: KubeWriter;
  readonly #namespace: string;
  readonly #target: string;
  #configMap: V1ConfigMap | undefined;
  #secret: V1Secret | undefined;
  readonly #hashKey: string;
  readonly #owners: ReturnType<typeof ownerReferencesOf>;

  constructor(writer: KubeWriter, namespace: string, target: string, stores: readonly StoreObject[], configMap: V1ConfigMap | undefined, secret: V1Secret | undefined) {
    this.#writer = writer;
    this.#namespace = namespace;
    this.#target = target;
    this.#configMap = configMap;
    this.#secret = secret;
    this.#hashKey = secret?.metadata?.annotations?.[HASH_KEY_ANNOTATION] ?? randomBytes(32).toString("base64");
    this.#owners = ownerReferencesOf(stores.map((s) => ({ name: s.name, uid: s.uid })));
  }

  get secret(): V1Secret | undefined {
    return this.#secret;
  }

  async putSecret(credentialsConf: string, caFiles: Readonly<Record<string, string>>): Promise<void> {
    const current = this.#secret;
    const data: Record<string, string> = { [CREDENTIALS_CONF_FILE]: Buffer.from(credentialsConf, "utf8").toString("base64") };
    for (const [name, pem] of Object.entries(caFiles)) data[name] = Buffer.from(pem, "utf8").toString("base64");
    const desired: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: credentialsSecretName(this.#target),
        namespace: this.#namespace,
        labels: { ...current?.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [TARGET_LABEL]: this.#target },
        annotations: { ...current?.metadata?.annotations, [HASH_KEY_ANNOTATION]: this.#hashKey },
        ownerReferences: this.#owners,
      },
      data,
    };
    if (current !== undefined && sameObject(current, desired)) return;
    this.#secret = await this.#writer.putSecret(desired, current?.metadata?.resourceVersion);
  }

  /** Undefined when written (or already as wanted); the reason when the name belongs to someone else. */
  async putConfigMap(storesConf: string): Promise<{ reason: string; message: string } | undefined> {
    const current = this.#configMap;
    const desired: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: configMapName(this.#target),
        namespace: this.#namespace,
        labels: { ...current?.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [TARGET_LABEL]: this.#target },
        ...(current?.metadata?.annotations ? { annotations: current.metadata.annotations } : {}),
        ownerReferences: this.#owners,
      },
      data: { [STORES_CONF_FILE]: storesConf },
    };
    if (current !== undefined && sameObject(current, desired)) return undefined;
    try {
      this.#configMap = await this.#writer.putConfigMap(desired, current?.metadata?.resourceVersion);
      return undefined;
    } catch (error) {
      // Not in our (label-selected) cache, yet there: someone else's ConfigMap.
      if (current === undefined && apiStatusOf(error) === 409) return notOwned("ConfigMap", this.#namespace, configMapName(this.#target));
      throw error;
    }
  }
}

function owned<T extends V1ConfigMap | V1Secret>(object: T | undefined): T | undefined {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? object : undefined;
}

function notOwned(kind: string, namespace: string, name: string): { reason: string; message: string } {
  return {
    reason: "NameTaken",
    message: `${kind} ${namespace}/${name} exists and is not managed by glance-store-operator (no label ${MANAGED_BY_LABEL}=${MANAGED_BY}); the operator does not overwrite it: delete or rename it, or choose another spec.target`,
  };
}

/** What matters of a rendered object: data, our labels, owners and the hash key. */
export function sameObject(current: V1ConfigMap | V1Secret, desired: V1ConfigMap | V1Secret): boolean {
  const labels = (o: V1ConfigMap | V1Secret) => [o.metadata?.labels?.[MANAGED_BY_LABEL], o.metadata?.labels?.[TARGET_LABEL]];
  const owners = (o: V1ConfigMap | V1Secret) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid).sort();
  return (
    isDeepStrictEqual(current.data ?? {}, desired.data ?? {}) &&
    ("binaryData" in current ? current.binaryData === undefined || Object.keys(current.binaryData).length === 0 : true) &&
    isDeepStrictEqual(labels(current), labels(desired)) &&
    isDeepStrictEqual(owners(current), owners(desired)) &&
    current.metadata?.annotations?.[HASH_KEY_ANNOTATION] === desired.metadata?.annotations?.[HASH_KEY_ANNOTATION]
  );
}

function roundedPhases(phases: ReconcilePhases): Record<string, number> {
  return { openstackMs: Math.round(phases.openstackMs * 10) / 10, apiserverMs: Math.round(phases.apiserverMs * 10) / 10, operatorMs: Math.round(phases.operatorMs * 10) / 10 };
}

/**
 * Runs the tasks, at most `limit` at a time, and waits for every one before
 * failing with the first error: a write still in flight when another fails
 * must not be left running behind the reconcile's back.
 */
async function settleAll(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    // Once one failed, no new write starts; those in flight finish.
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++] as () => Promise<unknown>;
      try {
        await task();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
