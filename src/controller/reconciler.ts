import { createHmac, randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { V1ConfigMap, V1Deployment, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { GlanceStoreStatus } from "../api/glancestore.js";
import type { StoreChecker } from "../openstack/index.js";
import { CREDENTIALS_CONF_FILE, STORES_CONF_FILE, type RenderedConfig } from "../render/render.js";
import type { Clock } from "../runtime/clock.js";
import { apiStatusOf, describeKubeError } from "../runtime/kube-request-options.js";
import { conditionTransitions, mergeConditions, type Condition } from "./conditions.js";
import { decideTarget, type StoreDecision, type TargetDecision } from "./decide.js";
import { ownerReferencesOf, type KubeWriter } from "./kube-writer.js";
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
  WORKLOAD_TARGET_ANNOTATION,
} from "./naming.js";
import { observeTarget, readPrevious, readStoreObject, targetOf, type GlanceStoreObject, type StoreObject } from "./observe.js";
import { Outcome, type ReconcileOutcome } from "./outcome.js";

/** Read access to the informers' caches: a reconcile reads the cluster only from them. */
export interface ReconcilerCaches {
  readonly stores: { list(namespace?: string): readonly GlanceStoreObject[] };
  readonly secrets: { get(namespace: string, name: string): V1Secret | undefined };
  readonly configMaps: { get(namespace: string, name: string): V1ConfigMap | undefined };
  readonly deployments: { list(namespace?: string): readonly V1Deployment[] };
  readonly statefulSets: { list(namespace?: string): readonly V1StatefulSet[] };
}

export type StoreState = "ready" | "degraded" | "pending" | "deleting";

export interface ReconcilerMetrics {
  setStoreStates(target: string, states: Readonly<Record<StoreState, number>>): void;
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
}

/**
 * Reconciles one target (namespace + target name): reads its stores from
 * the caches, asks OpenStack once, decides (decideTarget), then writes
 * what differs: finalizers, the ConfigMap and Secret, the rollout hash,
 * finalizer releases, statuses and events, in that order. Safe to run any
 * number of times; every write is skipped when nothing would change.
 */
export class TargetReconciler {
  readonly #options: ReconcilerOptions;
  /** Conditions last written per store uid: the cache may lag behind our own writes, and events must not repeat. */
  readonly #written = new Map<string, { generation: number | undefined; status: Record<string, unknown> }>();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
  }

  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const { caches, writer, checker, logger } = this.#options;
    const { namespace, target } = parseTargetKey(key);
    const log = logger.child({ namespace, target });
    const objects = caches.stores
      .list(namespace)
      .filter((raw) => targetOf(raw) === target)
      .map(readStoreObject);
    const configMap = owned(caches.configMaps.get(namespace, configMapName(target)));
    const secret = caches.secrets.get(namespace, credentialsSecretName(target));
    const ownSecret = owned(secret);

    if (objects.length === 0) {
      // The last store is gone (its finalizer was released): nothing is left for Glance.
      if (configMap) await writer.deleteConfigMap(namespace, configMapName(target));
      if (ownSecret) await writer.deleteSecret(namespace, credentialsSecretName(target));
      this.#options.metrics?.removeTarget(key);
      return Outcome.done();
    }

    const previous = readPrevious(configMap, ownSecret);
    if (previous.problem !== undefined) {
      log.warn({ problem: previous.problem }, "the target's rendered ConfigMap and Secret cannot be read back; they are rewritten from the stores");
    }
    const observation = await observeTarget({
      namespace,
      target,
      stores: objects,
      secret: (name) => caches.secrets.get(namespace, name),
      previous: previous.stores,
      checker,
      ...(signal === undefined ? {} : { signal }),
    });
    let decision = decideTarget(observation);
    const byKey = new Map(objects.map((store) => [`${store.namespace}/${store.name}`, store]));

    // 1. A store gets its finalizer before Glance may run it, so its deletion can be held (rule 4).
    for (const store of decision.stores) {
      const object = byKey.get(store.key);
      if (object && store.needsFinalizer && !object.finalizers.includes(FINALIZER)) {
        await writer.setStoreFinalizers(namespace, object.name, [...object.finalizers, FINALIZER], object.resourceVersion);
      }
    }

    // 2. The files.
    let config: RenderedConfig | undefined;
    let secretForHash: V1Secret | undefined = ownSecret;
    if (decision.action.kind === "write") {
      const written = await this.#writeFiles(namespace, target, decision.action.config, objects, configMap, secret, {
        before: previous.stores?.map((s) => s.storeId) ?? [],
        after: decision.renderedStoreIds,
      });
      if (written.ok) {
        config = decision.action.config;
        secretForHash = written.secret;
      } else {
        decision = decideTarget(observation, { writeBlocked: written.message });
        log.warn({ reason: written.reason }, written.message);
      }
    } else if (decision.action.kind === "remove") {
      if (configMap) await writer.deleteConfigMap(namespace, configMapName(target));
      if (ownSecret) await writer.deleteSecret(namespace, credentialsSecretName(target));
    } else {
      log.debug({ reason: decision.action.reason }, "keeping the target's current files");
      config = previous.config;
    }

    // 3. Workloads that opted in roll when, and only when, the files change.
    if (config !== undefined && secretForHash !== undefined) await this.#rollOut(namespace, target, config, secretForHash);

    // 4. Glance no longer runs these stores: let them go.
    const released = new Set<string>();
    for (const store of decision.stores) {
      const object = byKey.get(store.key);
      if (object && store.releaseFinalizer && object.finalizers.includes(FINALIZER)) {
        try {
          await writer.setStoreFinalizers(namespace, object.name, object.finalizers.filter((f) => f !== FINALIZER), undefined);
        } catch (error) {
          if (apiStatusOf(error) !== 404) throw error;
        }
        released.add(object.uid);
        log.info({ store: object.name }, "store removed from Glance; finalizer released");
      }
    }

    // 5. Statuses and events.
    for (const store of decision.stores) {
      const object = byKey.get(store.key);
      if (object && !released.has(object.uid)) await this.#writeStatus(object, store);
    }
    for (const uid of [...this.#written.keys()]) {
      if (!objects.some((o) => o.uid === uid) || released.has(uid)) this.#written.delete(uid);
    }

    this.#options.metrics?.setStoreStates(key, countStates(decision));
    log.debug({ action: decision.action.kind, rendered: decision.renderedStoreIds }, "reconciled");
    return Outcome.recheckAfter(this.#options.recheckPeriodMs);
  }

  /**
   * Writes the Secret and the ConfigMap, in the order that keeps every
   * intermediate state startable: a store's password is in place before
   * the ConfigMap names the store, and a store leaves the ConfigMap before
   * its password leaves the Secret.
   */
  async #writeFiles(
    namespace: string,
    target: string,
    config: RenderedConfig,
    stores: readonly StoreObject[],
    configMap: V1ConfigMap | undefined,
    secret: V1Secret | undefined,
    storeIds: { readonly before: readonly string[]; readonly after: readonly string[] },
  ): Promise<{ ok: true; secret: V1Secret } | { ok: false; reason: string; message: string }> {
    const { writer } = this.#options;
    if (secret !== undefined && owned(secret) === undefined) {
      return notOwned("Secret", namespace, credentialsSecretName(target));
    }
    const owners = ownerReferencesOf(stores.map((s) => ({ name: s.name, uid: s.uid })));
    const hashKey = secret?.metadata?.annotations?.[HASH_KEY_ANNOTATION] ?? randomBytes(32).toString("base64");
    const desiredSecret: V1Secret = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: credentialsSecretName(target),
        namespace,
        labels: { ...secret?.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [TARGET_LABEL]: target },
        annotations: { ...secret?.metadata?.annotations, [HASH_KEY_ANNOTATION]: hashKey },
        ownerReferences: owners,
      },
      data: { [CREDENTIALS_CONF_FILE]: Buffer.from(config.credentialsConf, "utf8").toString("base64") },
    };
    const desiredConfigMap: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: configMapName(target),
        namespace,
        labels: { ...configMap?.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [TARGET_LABEL]: target },
        ...(configMap?.metadata?.annotations ? { annotations: configMap.metadata.annotations } : {}),
        ownerReferences: owners,
      },
      data: { [STORES_CONF_FILE]: config.storesConf },
    };
    const removesStores = storeIds.before.some((id) => !storeIds.after.includes(id));
    const addsStores = storeIds.after.some((id) => !storeIds.before.includes(id));

    let storedSecret = secret;
    const putSecret = async (): Promise<void> => {
      if (secret !== undefined && sameObject(secret, desiredSecret)) return;
      storedSecret = await writer.putSecret(desiredSecret, secret?.metadata?.resourceVersion);
    };
    const putConfigMap = async (): Promise<{ ok: false; reason: string; message: string } | undefined> => {
      if (configMap !== undefined && sameObject(configMap, desiredConfigMap)) return undefined;
      try {
        await writer.putConfigMap(desiredConfigMap, configMap?.metadata?.resourceVersion);
        return undefined;
      } catch (error) {
        // Not in our (label-selected) cache, yet there: someone else's ConfigMap.
        if (configMap === undefined && apiStatusOf(error) === 409) return notOwned("ConfigMap", namespace, configMapName(target));
        throw error;
      }
    };
    if (removesStores && !addsStores) {
      const problem = await putConfigMap();
      if (problem) return problem;
      await putSecret();
    } else {
      await putSecret();
      const problem = await putConfigMap();
      if (problem) return problem;
    }
    return { ok: true, secret: storedSecret ?? desiredSecret };
  }

  async #rollOut(namespace: string, target: string, config: RenderedConfig, secret: V1Secret): Promise<void> {
    const key = secret.metadata?.annotations?.[HASH_KEY_ANNOTATION];
    if (key === undefined) return;
    // Keyed with a random per-target key kept in the Secret: the hash tells when the files changed and nothing about the passwords.
    const hash = createHmac("sha256", key).update(config.storesConf).update("\0").update(config.credentialsConf).digest("hex");
    const { caches, writer, logger } = this.#options;
    const workloads: { kind: "Deployment" | "StatefulSet"; object: V1Deployment | V1StatefulSet }[] = [
      ...caches.deployments.list(namespace).map((object) => ({ kind: "Deployment" as const, object })),
      ...caches.statefulSets.list(namespace).map((object) => ({ kind: "StatefulSet" as const, object })),
    ];
    for (const { kind, object } of workloads) {
      if (object.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION] !== target) continue;
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

  async #writeStatus(object: StoreObject, decision: StoreDecision): Promise<void> {
    const now = new Date(this.#options.clock.now());
    const last = this.#written.get(object.uid);
    const lastStatus = last !== undefined && last.generation === object.generation ? last.status : undefined;
    const currentConditions = ((lastStatus?.["conditions"] as Condition[] | undefined) ?? object.status?.conditions) as Condition[] | undefined;
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
      conditions,
    };
    const current = lastStatus ?? normalizeStatus(object.status);
    if (isDeepStrictEqual(withoutNulls(status), withoutNulls(current))) return;
    try {
      await this.#options.writer.patchStoreStatus(object.namespace, object.name, status);
    } catch (error) {
      if (apiStatusOf(error) === 404) return;
      throw error;
    }
    this.#written.set(object.uid, { generation: object.generation, status: withoutNulls(status) });
    await this.#emitEvents(object, currentConditions, conditions);
  }

  async #emitEvents(object: StoreObject, before: readonly Condition[] | undefined, after: readonly Condition[]): Promise<void> {
    for (const transition of conditionTransitions(before, after)) {
      if (transition.type !== "Ready" && transition.type !== "Rendered") continue;
      // A first Rendered=False on a brand-new store is said by its Ready event already.
      if (transition.type === "Rendered" && transition.from === undefined && transition.to !== "True") continue;
      try {
        await this.#options.writer.emitEvent({
          namespace: object.namespace,
          regarding: { name: object.name, uid: object.uid },
          type: transition.to === "True" ? "Normal" : "Warning",
          reason: transition.reason,
          note: transition.message,
          action: transition.type === "Rendered" ? "Render" : "Check",
        });
      } catch (error) {
        // An event is worth less than the reconcile: log it and go on.
        this.#options.logger.warn({ store: `${object.namespace}/${object.name}`, error: describeKubeError(error) }, "could not record an event");
      }
    }
  }
}

function owned<T extends V1ConfigMap | V1Secret>(object: T | undefined): T | undefined {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? object : undefined;
}

function notOwned(kind: string, namespace: string, name: string): { ok: false; reason: string; message: string } {
  return {
    ok: false,
    reason: "NameTaken",
    message: `${kind} ${namespace}/${name} exists and is not managed by glance-store-operator (no label ${MANAGED_BY_LABEL}=${MANAGED_BY}); the operator does not overwrite it: delete or rename it, or choose another spec.target`,
  };
}

/** What matters of a rendered object: data, our labels, owners and the hash key. */
function sameObject(current: V1ConfigMap | V1Secret, desired: V1ConfigMap | V1Secret): boolean {
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

function normalizeStatus(status: GlanceStoreStatus | undefined): Record<string, unknown> {
  return withoutNulls((status ?? {}) as Record<string, unknown>);
}

function withoutNulls(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined));
}

function countStates(decision: TargetDecision): Record<StoreState, number> {
  const counts: Record<StoreState, number> = { ready: 0, degraded: 0, pending: 0, deleting: 0 };
  for (const store of decision.stores) {
    const ready = store.conditions.find((c) => c.type === "Ready");
    const deleting = ready?.reason === "DeletionBlocked" || ready?.reason === "Deleting";
    if (deleting) counts.deleting += 1;
    else if (store.addDeleteEnabled) counts.ready += 1;
    else if (store.rendered) counts.degraded += 1;
    else counts.pending += 1;
  }
  return counts;
}
