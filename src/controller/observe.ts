import type { KubernetesObject, V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { decodeSecretData, parseCredentialsSecret } from "../api/credentials.js";
import { CINDER_DEFAULTS, DEFAULT_TARGET, GlanceStoreSchema, GlanceStoreStatusSchema, type GlanceStoreSpec, type GlanceStoreStatus } from "../api/glancestore.js";
import { fieldProblems, formatFieldProblem } from "../api/issues.js";
import type { StoreChecker, StoreCheckRequest } from "../openstack/index.js";
import { parseRenderedConfig, type RenderedStore } from "../render/parse.js";
import { CREDENTIALS_CONF_FILE, STORES_CONF_FILE, type RenderedConfig } from "../render/render.js";
import type { CheckOutcome, CredentialsOutcome, ImageVolumeCount, ObservedStore, TargetObservation } from "./decide.js";
import { FORCE_DELETE_ANNOTATION } from "./naming.js";

/** A GlanceStore as the informer holds it: the apiserver's JSON, not yet validated. */
export interface GlanceStoreObject extends KubernetesObject {
  spec?: unknown;
  status?: unknown;
}

/** What the reconcile needs to know about one object beyond the decision's input. */
export interface StoreObject {
  readonly raw: GlanceStoreObject;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string | undefined;
  readonly generation: number | undefined;
  readonly target: string;
  readonly storeId: string;
  readonly spec: GlanceStoreSpec | undefined;
  readonly specProblem: string | undefined;
  readonly status: GlanceStoreStatus | undefined;
  readonly finalizers: readonly string[];
  readonly deleting: boolean;
  readonly forceDelete: boolean;
}

/**
 * Reads an object from the cache. The apiserver validated it against the
 * CRD, but an object written before a CRD upgrade may not pass today's
 * schema: then its spec is undefined and the problem says which field.
 */
export function readStoreObject(raw: GlanceStoreObject): StoreObject {
  const metadata = raw.metadata ?? {};
  const name = metadata.name ?? "";
  const namespace = metadata.namespace ?? "";
  const parsed = GlanceStoreSchema.safeParse(raw);
  const spec = parsed.success ? parsed.data.spec : undefined;
  const status = GlanceStoreStatusSchema.safeParse(raw.status ?? {});
  const rawStoreId = rawSpecField(raw, "storeId") ?? name;
  return {
    raw,
    namespace,
    name,
    uid: metadata.uid ?? "",
    resourceVersion: metadata.resourceVersion,
    generation: metadata.generation,
    target: targetOf(raw),
    storeId: spec?.storeId ?? rawStoreId,
    spec,
    specProblem: parsed.success ? undefined : fieldProblems(parsed.error.issues).map(formatFieldProblem).join("; "),
    status: status.success ? status.data : undefined,
    finalizers: metadata.finalizers ?? [],
    deleting: metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    forceDelete: metadata.annotations?.[FORCE_DELETE_ANNOTATION] === "true",
  };
}

/** The store's target, read without validating the object: enough to route an event. */
export function targetOf(raw: GlanceStoreObject): string {
  return rawSpecField(raw, "target") ?? DEFAULT_TARGET;
}

/** The Secret the store reads its credentials from, read without validating the object. */
export function credentialsSecretNameOf(raw: GlanceStoreObject): string | undefined {
  const ref = typeof raw.spec === "object" && raw.spec !== null ? (raw.spec as Record<string, unknown>)["credentialsSecretRef"] : undefined;
  const name = typeof ref === "object" && ref !== null ? (ref as Record<string, unknown>)["name"] : undefined;
  return typeof name === "string" ? name : undefined;
}

function rawSpecField(raw: GlanceStoreObject, field: string): string | undefined {
  const value = typeof raw.spec === "object" && raw.spec !== null ? (raw.spec as Record<string, unknown>)[field] : undefined;
  return typeof value === "string" ? value : undefined;
}

/**
 * The target's ConfigMap and Secret as Glance sees them now: their files,
 * and the stores they hold read back; undefined when absent or unreadable.
 */
export function readPrevious(
  configMap: V1ConfigMap | undefined,
  secret: V1Secret | undefined,
): { config: RenderedConfig | undefined; stores: readonly RenderedStore[] | undefined; problem: string | undefined } {
  const storesConf = configMap?.data?.[STORES_CONF_FILE];
  if (storesConf === undefined) return { config: undefined, stores: undefined, problem: undefined };
  const encoded = secret?.data?.[CREDENTIALS_CONF_FILE];
  const credentialsConf = encoded === undefined ? "" : Buffer.from(encoded, "base64").toString("utf8");
  const config = { storesConf, credentialsConf };
  const parsed = parseRenderedConfig(storesConf, credentialsConf);
  if (!parsed.ok) return { config, stores: undefined, problem: parsed.message };
  return { config, stores: parsed.stores, problem: undefined };
}

export function resolveCredentials(spec: GlanceStoreSpec, secret: V1Secret | undefined, namespace: string): CredentialsOutcome {
  const ref = spec.credentialsSecretRef;
  if (secret === undefined) {
    return {
      ok: false,
      reason: "SecretNotFound",
      message: `Secret ${namespace}/${ref.name} (spec.credentialsSecretRef) does not exist: create it with the store's Keystone credentials`,
    };
  }
  const decoded = decodeSecretData(secret, ref.name);
  const parsed = decoded.ok ? parseCredentialsSecret(decoded.data, { name: ref.name, cloud: ref.cloud }) : decoded;
  if (!parsed.ok) {
    return { ok: false, reason: "SecretInvalid", message: parsed.issues.map((issue) => issue.message).join("; ") };
  }
  return { ok: true, credentials: parsed.credentials };
}

export interface ObserveOptions {
  readonly namespace: string;
  readonly target: string;
  readonly stores: readonly StoreObject[];
  readonly secret: (name: string) => V1Secret | undefined;
  readonly previous: readonly RenderedStore[] | undefined;
  readonly checker: StoreChecker;
  readonly signal?: AbortSignal;
}

/**
 * Everything decideTarget needs, gathered with one OpenStack round for the
 * whole target: the client groups the stores by credential set and
 * endpoint, so stores sharing credentials cost one token and one type list.
 */
export async function observeTarget(options: ObserveOptions): Promise<TargetObservation> {
  const credentials = new Map<string, CredentialsOutcome>();
  const requests: StoreCheckRequest[] = [];
  for (const store of options.stores) {
    if (store.spec === undefined) continue;
    const outcome = resolveCredentials(store.spec, options.secret(store.spec.credentialsSecretRef.name), options.namespace);
    credentials.set(store.uid, outcome);
    if (outcome.ok) requests.push({ key: store.uid, ...cinderTarget(store.spec), credentials: outcome.credentials, volumeType: store.spec.volumeType });
  }
  const results = requests.length > 0 ? await options.checker.checkStores(requests, { signal: options.signal }) : new Map();
  const checks = new Map<string, CheckOutcome>();
  for (const [key, result] of results) {
    checks.set(
      key,
      result.ok
        ? { ok: true, volumeType: { id: result.volumeType.id, name: result.volumeType.name }, resolvedDefault: result.resolvedDefault }
        : { ok: false, reason: result.error.reason, message: result.error.message, authenticated: result.authenticated },
    );
  }

  const previousById = new Map((options.previous ?? []).map((store) => [store.storeId, store]));
  const counts = await countImageVolumesOfDeleted(options, credentials, checks, previousById);

  const stores: ObservedStore[] = options.stores.map((store) => ({
    key: `${store.namespace}/${store.name}`,
    name: store.name,
    uid: store.uid,
    generation: store.generation,
    createdAt: creationTime(store.raw),
    storeId: store.storeId,
    spec: store.spec,
    ...(store.specProblem === undefined ? {} : { specProblem: store.specProblem }),
    deleting: store.deleting,
    forceDelete: store.forceDelete,
    statusSaysRendered: store.status?.rendered === true,
    credentials: credentials.get(store.uid),
    check: checks.get(store.uid),
    imageVolumes: counts.get(store.uid),
  }));
  return { namespace: options.namespace, target: options.target, stores, previous: options.previous };
}

/**
 * Where the operator looks for Cinder: where glance_store will. With
 * cinder_store_* credentials (always, with this API) glance_store hands its
 * Keystone session to cinderclient, which takes the public volumev3
 * endpoint of cinder_os_region_name; cinder_catalog_info and
 * cinder_endpoint_template only serve legacy location updates
 * (glance_store/_drivers/cinder.py, get_cinderclient).
 */
function cinderTarget(spec: Omit<GlanceStoreSpec, "credentialsSecretRef" | "target">) {
  return {
    catalogInfo: CINDER_DEFAULTS.catalogInfo,
    regionName: spec.regionName,
    endpointTemplate: undefined,
    httpRetries: spec.httpRetries,
    apiInsecure: spec.apiInsecure,
  };
}

/**
 * Rule 4 needs, for a store being deleted that Glance still runs, the
 * number of image volumes of its type left in its project. The count uses
 * the credentials and options Glance runs with (the rendered ones), so a
 * store whose Secret is already gone can still be counted.
 */
async function countImageVolumesOfDeleted(
  options: ObserveOptions,
  credentials: Map<string, CredentialsOutcome>,
  checks: Map<string, CheckOutcome>,
  previousById: Map<string, RenderedStore>,
): Promise<Map<string, ImageVolumeCount>> {
  const counts = new Map<string, ImageVolumeCount>();
  const requests = [];
  for (const store of options.stores) {
    const rendered = previousById.get(store.storeId);
    if (!store.deleting || store.forceDelete || rendered === undefined) continue;
    const check = checks.get(store.uid);
    const typeName = check?.ok ? check.volumeType.name : rendered.spec.volumeType;
    if (typeName === undefined) {
      counts.set(store.uid, { ok: false, reason: "VolumeTypeUnknown", message: "the store names no volume type and Cinder's default type could not be resolved" });
      continue;
    }
    const current = credentials.get(store.uid);
    requests.push({
      key: store.uid,
      ...cinderTarget(rendered.spec),
      credentials: current?.ok ? current.credentials : rendered.credentials,
      volumeType: { name: typeName, ...(check?.ok ? { id: check.volumeType.id } : {}) },
    });
  }
  if (requests.length === 0) return counts;
  const results = await options.checker.countImageVolumes(requests, { signal: options.signal });
  for (const [key, result] of results) {
    counts.set(key, result.ok ? { ok: true, count: result.count } : { ok: false, reason: result.error.reason, message: result.error.message });
  }
  return counts;
}

function creationTime(raw: GlanceStoreObject): string {
  const value = raw.metadata?.creationTimestamp as unknown;
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : "";
}
