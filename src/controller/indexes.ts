import type { V1Deployment, V1StatefulSet } from "@kubernetes/client-node";
import type { Informer } from "./informers/informer.js";
import { targetKey, WORKLOAD_TARGET_ANNOTATION } from "./naming.js";
import { credentialsSecretNameOf, targetOf, type GlanceStoreObject } from "./observe.js";

/**
 * Indexes of the informers' caches, so that what concerns one target (or one
 * Secret) is looked up, not scanned for.
 */

/**
 * The GlanceStore cache as the controller asks it: by target and by the
 * credentials Secret a store references, each an index of the informer, so
 * neither a reconcile nor a Secret event scans every store of a namespace.
 */
export interface StoreLookup {
  /** The stores of one target. */
  byTarget(namespace: string, target: string): readonly GlanceStoreObject[];
  /** The stores whose spec.credentialsSecretRef names this Secret. */
  referencing(namespace: string, secretName: string): readonly GlanceStoreObject[];
  /** Every target (as a work queue key, `namespace/target`) that has a store. */
  targetKeys(): readonly string[];
}

const BY_TARGET = "target";
const BY_SECRET = "credentialsSecret";

/** `namespace/name` of a Secret, as the by-Secret index files it. */
export function secretKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Adds the two indexes to the GlanceStore informer, and reads them. */
export function indexStores(informer: Informer<GlanceStoreObject>): StoreLookup {
  informer.addIndex(BY_TARGET, (store) => [targetKey(store.metadata?.namespace ?? "", targetOf(store))]);
  informer.addIndex(BY_SECRET, (store) => {
    const name = credentialsSecretNameOf(store);
    return name === undefined ? [] : [secretKey(store.metadata?.namespace ?? "", name)];
  });
  return {
    byTarget: (namespace, target) => informer.byIndex(BY_TARGET, targetKey(namespace, target)),
    referencing: (namespace, secretName) => informer.byIndex(BY_SECRET, secretKey(namespace, secretName)),
    targetKeys: () => informer.indexValues(BY_TARGET),
  };
}

/** The workloads opted in to one target (annotated glance.stores.dev/target), from an index of their informer. */
export interface WorkloadLookup<T> {
  byTarget(namespace: string, target: string): readonly T[];
}

/** Adds the by-target index to a Deployment or StatefulSet informer, and reads it. */
export function indexWorkloads<T extends V1Deployment | V1StatefulSet>(informer: Informer<T>): WorkloadLookup<T> {
  informer.addIndex(BY_TARGET, (object) => {
    const target = object.metadata?.annotations?.[WORKLOAD_TARGET_ANNOTATION];
    return target === undefined ? [] : [targetKey(object.metadata?.namespace ?? "", target)];
  });
  return { byTarget: (namespace, target) => informer.byIndex(BY_TARGET, targetKey(namespace, target)) };
}
