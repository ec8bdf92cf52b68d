import type { KubernetesObject, V1ConfigMap, V1Deployment, V1ObjectMeta, V1Secret, V1StatefulSet } from "@kubernetes/client-node";

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
   * List and watch only the objects' metadata (`PartialObjectMetadata`, as
   * client-go's metadata informers do): the apiserver leaves out everything
   * but `metadata`, e.g. a Secret's data. `decode` then gets
   * PartialObjectMetadata objects.
   */
  readonly metadataOnly?: boolean;
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

/** A short name for logs and metric labels: `secrets`, `glancestores.glance.stores.dev`, `secrets (metadata)`. */
export function resourceName(type: ResourceType<KubernetesObject>): string {
  const name = type.group === "" ? type.plural : `${type.plural}.${type.group}`;
  return type.metadataOnly === true ? `${name} (metadata)` : name;
}

/** The `Accept` header of a list or watch: JSON, or only the objects' metadata (with JSON as the fallback an old apiserver answers). */
export function acceptHeader(type: ResourceType<KubernetesObject>, request: "list" | "watch"): string {
  if (type.metadataOnly !== true) return "application/json";
  return `application/json;as=${request === "list" ? "PartialObjectMetadataList" : "PartialObjectMetadata"};g=meta.k8s.io;v=v1,application/json`;
}

/**
 * An object of which only the metadata is known: what a metadata-only list
 * or watch sends (client-node has no model for it).
 */
export interface PartialObjectMetadata extends KubernetesObject {
  apiVersion: "meta.k8s.io/v1";
  kind: "PartialObjectMetadata";
  metadata: V1ObjectMeta;
}

/**
 * The raw JSON without `metadata.managedFields`: the server-side apply
 * bookkeeping, often the largest part of an object's metadata, which the
 * operator never reads. Writes are unaffected: an update (PUT) that carries
 * no managedFields keeps the stored ones, and patches never send them.
 */
export function withoutManagedFields<T extends KubernetesObject>(raw: T): T {
  const metadata = raw.metadata as (V1ObjectMeta & { managedFields?: unknown }) | undefined;
  if (metadata?.managedFields === undefined) return raw;
  const { managedFields: _dropped, ...kept } = metadata;
  return { ...raw, metadata: kept };
}

/**
 * A built-in kind, cached as the JSON the apiserver sent (less managedFields
 * and what `trim` leaves out). client-node's types are used for its shape,
 * but its timestamps stay RFC 3339 strings where those types say `Date`:
 * client-node's model classes, which would convert them, cost the process
 * about 70 MB to load, and nothing of the operator reads a built-in
 * object's timestamps but to test whether one is set.
 */
function builtIn<T extends KubernetesObject>(group: string, version: string, plural: string, kind: string, trim: (raw: KubernetesObject) => KubernetesObject = (raw) => raw): ResourceType<T> {
  return {
    group,
    version,
    plural,
    kind,
    namespaced: true,
    decode: (raw) => trim(withoutManagedFields(raw)) as T,
  };
}

/**
 * What the operator reads of a Deployment or StatefulSet (the rollout, in
 * reconciler.ts and target-status.ts, and the triggers): its metadata, the
 * replicas it wants, its pod template's annotations and the progress fields
 * of its status. The pod spec, often most of the object, is not kept.
 */
function workloadRolloutView(raw: KubernetesObject): KubernetesObject {
  const { spec, status } = raw as KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
  const template = spec?.["template"] as { metadata?: { annotations?: unknown } } | undefined;
  const pick = (from: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> =>
    Object.fromEntries(keys.filter((key) => from?.[key] !== undefined).map((key) => [key, from?.[key]]));
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: raw.metadata,
    ...(spec === undefined
      ? {}
      : { spec: { ...pick(spec, ["replicas"]), template: { metadata: template?.metadata?.annotations === undefined ? {} : { annotations: template.metadata.annotations } } } }),
    ...(status === undefined
      ? {}
      : { status: pick(status, ["observedGeneration", "replicas", "updatedReplicas", "availableReplicas", "readyReplicas", "currentRevision", "updateRevision"]) }),
  } as KubernetesObject;
}

/** Full Secrets: the operator's own rendered ones, with a label selector (OWNED_SELECTOR). */
export const SECRETS: ResourceType<V1Secret> = builtIn("", "v1", "secrets", "Secret");
/** Every Secret's metadata, never its data: which Secrets exist, with their uid and resourceVersion. */
export const SECRET_METADATA: ResourceType<PartialObjectMetadata> = {
  group: "",
  version: "v1",
  plural: "secrets",
  kind: "Secret",
  namespaced: true,
  metadataOnly: true,
  // Only `metadata` is kept, even from an apiserver that answered with whole objects.
  decode: (raw) => ({ apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: withoutManagedFields(raw).metadata ?? {} }),
};
export const CONFIG_MAPS: ResourceType<V1ConfigMap> = builtIn("", "v1", "configmaps", "ConfigMap");
/** Trimmed to what a rollout reads (workloadRolloutView). */
export const DEPLOYMENTS: ResourceType<V1Deployment> = builtIn("apps", "v1", "deployments", "Deployment", workloadRolloutView);
export const STATEFUL_SETS: ResourceType<V1StatefulSet> = builtIn("apps", "v1", "statefulsets", "StatefulSet", workloadRolloutView);

/**
 * A custom resource, e.g. GlanceStores:
 * `customResourceType({ group: "glance.stores.dev", version: "v1alpha1", plural: "glancestores", kind: "GlanceStore", decode })`.
 * Without `decode` the cache holds the JSON as sent (timestamps are strings),
 * but for `metadata.managedFields`, which is left out as for every type.
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
    decode: (raw) => (spec.decode ?? ((object: KubernetesObject) => object as T))(withoutManagedFields(raw)),
  };
}
