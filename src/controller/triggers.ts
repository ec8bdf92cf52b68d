import type { KubernetesObject, V1ConfigMap, V1Deployment, V1ObjectMeta, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { CONFIG_HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, TARGET_LABEL, targetKey, WORKLOAD_TARGET_ANNOTATION } from "./naming.js";
import { targetOf, type GlanceStoreObject } from "./observe.js";

/**
 * Which targets an informer event concerns. Pure, and deliberately picky:
 * an event that cannot change a decision (a status the operator wrote
 * itself, a Deployment's replica count) queues nothing, so the operator's
 * own writes do not keep it busy.
 */

export function targetsOfStoreChange(old: GlanceStoreObject | undefined, object: GlanceStoreObject): string[] {
  // Read straight from the objects: this runs for every event, and needs no validation to route one.
  const namespace = object.metadata?.namespace ?? "";
  const target = targetOf(object);
  if (old !== undefined) {
    const same =
      old.metadata?.generation === object.metadata?.generation &&
      Boolean(old.metadata?.deletionTimestamp) === Boolean(object.metadata?.deletionTimestamp) &&
      isDeepStrictEqual(old.metadata?.finalizers ?? [], object.metadata?.finalizers ?? []) &&
      isDeepStrictEqual(old.metadata?.annotations ?? {}, object.metadata?.annotations ?? {});
    if (same) return [];
    if (targetOf(old) !== target) return [targetKey(namespace, targetOf(old)), targetKey(namespace, target)];
  }
  return [targetKey(namespace, target)];
}

/**
 * A credentials Secret, as the metadata-only informer sees it (no data): the
 * targets of the stores that reference it, whenever it may have changed
 * (added, deleted, or a new resourceVersion).
 */
export function targetsOfSecret(
  secret: { readonly metadata?: V1ObjectMeta },
  old: { readonly metadata?: V1ObjectMeta } | undefined,
  storesReferencing: (namespace: string, name: string) => readonly GlanceStoreObject[],
): string[] {
  const namespace = secret.metadata?.namespace ?? "";
  if (old !== undefined && old.metadata?.resourceVersion === secret.metadata?.resourceVersion && old.metadata?.resourceVersion !== undefined) return [];
  return [...new Set(storesReferencing(namespace, secret.metadata?.name ?? "").map((store) => targetKey(namespace, targetOf(store))))];
}

/** The operator's own rendered Secret: its target, on any change (a hand edit is put back). */
export function targetsOfOwnSecret(secret: V1Secret): string[] {
  const target = secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? secret.metadata.labels[TARGET_LABEL] : undefined;
  return target === undefined ? [] : [targetKey(secret.metadata?.namespace ?? "", target)];
}

export function targetsOfConfigMap(configMap: V1ConfigMap): string[] {
  const target = configMap.metadata?.labels?.[TARGET_LABEL];
  return target === undefined ? [] : [targetKey(configMap.metadata?.namespace ?? "", target)];
}

/** What a GlanceStoreTarget's RolloutComplete condition reads of a workload: its replicas' progress, not their every heartbeat. */
function rolloutProgress(object: V1Deployment | V1StatefulSet): unknown[] {
  const status = object.status as Record<string, unknown> | undefined;
  // The scale alone is not read: the replicas it adds or removes show in the status, which is.
  return [
    status?.["observedGeneration"],
    status?.["replicas"],
    status?.["updatedReplicas"],
    status?.["availableReplicas"],
    status?.["readyReplicas"],
    status?.["currentRevision"],
    status?.["updateRevision"],
  ];
}

export function targetsOfWorkload(old: V1Deployment | V1StatefulSet | undefined, object: V1Deployment | V1StatefulSet): string[] {
  const namespace = object.metadata?.namespace ?? "";
  const target = object.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION];
  const oldTarget = old?.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION];
  if (old !== undefined) {
    const same =
      target === oldTarget &&
      old.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] === object.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] &&
      isDeepStrictEqual(rolloutProgress(old), rolloutProgress(object));
    if (same) return [];
  }
  return [...new Set([target, oldTarget].filter((t): t is string => t !== undefined))].map((t) => targetKey(namespace, t));
}

/** A GlanceStoreTarget concerns the target of its name; its status (written by the operator) does not. */
export function targetsOfTargetObject(old: KubernetesObject | undefined, object: KubernetesObject): string[] {
  if (old !== undefined && old.metadata?.generation === object.metadata?.generation && Boolean(old.metadata?.deletionTimestamp) === Boolean(object.metadata?.deletionTimestamp)) return [];
  return [targetKey(object.metadata?.namespace ?? "", object.metadata?.name ?? "")];
}
