import type { V1ConfigMap, V1Deployment, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { CONFIG_HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, TARGET_LABEL, targetKey, WORKLOAD_TARGET_ANNOTATION } from "./naming.js";
import { readStoreObject, type GlanceStoreObject, type StoreObject } from "./observe.js";

/**
 * Which targets an informer event concerns. Pure, and deliberately picky:
 * an event that cannot change a decision (a status the operator wrote
 * itself, a Deployment's replica count) queues nothing, so the operator's
 * own writes do not keep it busy.
 */

export function targetsOfStoreChange(old: GlanceStoreObject | undefined, object: GlanceStoreObject): string[] {
  const now = readStoreObject(object);
  if (old !== undefined) {
    const before = readStoreObject(old);
    const same =
      before.generation === now.generation &&
      before.deleting === now.deleting &&
      isDeepStrictEqual(before.finalizers, now.finalizers) &&
      isDeepStrictEqual(old.metadata?.annotations ?? {}, object.metadata?.annotations ?? {});
    if (same) return [];
    if (before.target !== now.target) return [targetKey(now.namespace, before.target), targetKey(now.namespace, now.target)];
  }
  return [targetKey(now.namespace, now.target)];
}

export function targetsOfSecret(secret: V1Secret, old: V1Secret | undefined, storesIn: (namespace: string) => readonly StoreObject[]): string[] {
  const namespace = secret.metadata?.namespace ?? "";
  const name = secret.metadata?.name ?? "";
  const keys = new Set<string>();
  const ownTarget = secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? secret.metadata.labels[TARGET_LABEL] : undefined;
  if (ownTarget !== undefined) keys.add(targetKey(namespace, ownTarget));
  const contentChanged = old === undefined || !isDeepStrictEqual(old.data ?? {}, secret.data ?? {});
  if (contentChanged) {
    for (const store of storesIn(namespace)) {
      if (store.spec?.credentialsSecretRef.name === name) keys.add(targetKey(namespace, store.target));
    }
  }
  return [...keys];
}

export function targetsOfConfigMap(configMap: V1ConfigMap): string[] {
  const target = configMap.metadata?.labels?.[TARGET_LABEL];
  return target === undefined ? [] : [targetKey(configMap.metadata?.namespace ?? "", target)];
}

export function targetsOfWorkload(old: V1Deployment | V1StatefulSet | undefined, object: V1Deployment | V1StatefulSet): string[] {
  const namespace = object.metadata?.namespace ?? "";
  const target = object.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION];
  const oldTarget = old?.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION];
  if (old !== undefined) {
    const same =
      target === oldTarget &&
      old.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION] === object.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    if (same) return [];
  }
  return [...new Set([target, oldTarget].filter((t): t is string => t !== undefined))].map((t) => targetKey(namespace, t));
}
