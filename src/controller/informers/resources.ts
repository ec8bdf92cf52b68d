import type { KubernetesObject, V1ConfigMap, V1Deployment, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
// The generated serializer turns the apiserver's JSON into the same model
// classes (Dates for timestamps) the typed API clients return; the package
// has no export map and the version is pinned, so the deep import is stable.
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";

/**
 * A kind of object an informer can list and watch: where it lives in the API
 * and how its JSON becomes a `T`.
 */
export interface ResourceType<T extends KubernetesObject> {
  /** API group; "" for the core group (Secrets, ConfigMaps). */
  readonly group: string;
  readonly version: string;
  /** Lower-case plural, as in the URL: `secrets`, `glancestores`. */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /**
   * Turns one object's JSON, as the apiserver sent it, into a `T`. It runs
   * for every listed and watched object. If it throws, the object is logged
   * and left out of the cache, so a decoder for user-written objects should
   * return an object that carries its own validation result instead.
   */
  readonly decode: (raw: KubernetesObject) => T;
}

/** `v1` or `apps/v1`, as in an object's `apiVersion`. */
export function apiVersionOf(type: ResourceType<KubernetesObject>): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** The collection URL path: all namespaces when `namespace` is omitted (or the type is cluster-scoped). */
export function collectionPath(type: ResourceType<KubernetesObject>, namespace?: string): string {
  const prefix = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  if (type.namespaced && namespace !== undefined && namespace !== "") {
    return `${prefix}/namespaces/${encodeURIComponent(namespace)}/${type.plural}`;
  }
  return `${prefix}/${type.plural}`;
}

/** A short name for logs and metric labels: `secrets`, `glancestores.glance.stores.dev`. */
export function resourceName(type: ResourceType<KubernetesObject>): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

function builtIn<T extends KubernetesObject>(group: string, version: string, plural: string, kind: string, model: string): ResourceType<T> {
  return {
    group,
    version,
    plural,
    kind,
    namespaced: true,
    decode: (raw) => ObjectSerializer.deserialize(raw, model, "") as T,
  };
}

export const SECRETS: ResourceType<V1Secret> = builtIn("", "v1", "secrets", "Secret", "V1Secret");
export const CONFIG_MAPS: ResourceType<V1ConfigMap> = builtIn("", "v1", "configmaps", "ConfigMap", "V1ConfigMap");
export const DEPLOYMENTS: ResourceType<V1Deployment> = builtIn("apps", "v1", "deployments", "Deployment", "V1Deployment");
export const STATEFUL_SETS: ResourceType<V1StatefulSet> = builtIn("apps", "v1", "statefulsets", "StatefulSet", "V1StatefulSet");

/**
 * A custom resource, e.g. GlanceStores:
 * `customResourceType({ group: "glance.stores.dev", version: "v1alpha1", plural: "glancestores", kind: "GlanceStore", decode })`.
 * Without `decode` the cache holds the JSON as sent (timestamps are strings).
 */
export function customResourceType<T extends KubernetesObject = KubernetesObject>(spec: {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced?: boolean;
  readonly decode?: (raw: KubernetesObject) => T;
}): ResourceType<T> {
  if (spec.group === "") throw new Error(`custom resource ${spec.plural} needs an API group`);
  return {
    group: spec.group,
    version: spec.version,
    plural: spec.plural,
    kind: spec.kind,
    namespaced: spec.namespaced ?? true,
    decode: spec.decode ?? ((raw) => raw as T),
  };
}
