import type { KubernetesObject, V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { decodeSecretData, parseCredentialsSecret } from "../api/credentials.js";
import { CINDER_DEFAULTS, DEFAULT_TARGET, GlanceStoreSchema, GlanceStoreStatusSchema, type GlanceStoreSpec, type GlanceStoreStatus } from "../api/glancestore.js";
import { fieldProblems, formatFieldProblem } from "../api/issues.js";
import type { ResolvedCredentials } from "../api/credentials.js";
import { AuthFailedError, type ImageVolumeCountRequest, type StoreChecker, type StoreCheckRequest, type StoreCheckResult } from "../openstack/index.js";
import { parseRenderedConfig, type RenderedStore } from "../render/parse.js";
import { CREDENTIALS_CONF_FILE, isCaFileName, STORES_CONF_FILE, type RenderedConfig } from "../render/render.js";
import { formatTime } from "./conditions.js";
import { NO_MEMORY, ranInGlance, type CheckOutcome, type CredentialsOutcome, type ImageVolumeCount, type ObservedStore, type PreviousConfig, type StoreMemory, type TargetObservation } from "./decide.js";
import { CONFIRM_VOLUME_TYPE_ANNOTATION, FORCE_DELETE_ANNOTATION } from "./naming.js";
import { volumeTypeHistory, withVolumeType } from "./volume-type-pin.js";

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
  /** The annotation confirming a change of volume type, if set. */
  readonly confirmVolumeType: string | undefined;
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
    confirmVolumeType: metadata.annotations?.[CONFIRM_VOLUME_TYPE_ANNOTATION],
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
 * and the stores they hold read back. `previous` is undefined only when
 * the ConfigMap is absent or its enabled_backends cannot be read; a missing
 * Secret or a broken section leaves the other stores readable.
 */
export function readPrevious(
  configMap: V1ConfigMap | undefined,
  secret: V1Secret | undefined,
): { config: RenderedConfig | undefined; previous: PreviousConfig | undefined; problem: string | undefined } {
  const storesConf = configMap?.data?.[STORES_CONF_FILE];
  if (storesConf === undefined) return { config: undefined, previous: undefined, problem: undefined };
  const files: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret?.data ?? {})) files[key] = Buffer.from(value, "base64").toString("utf8");
  const credentialsConf = files[CREDENTIALS_CONF_FILE];
  const caFiles = Object.fromEntries(Object.entries(files).filter(([key]) => isCaFileName(key)));
  const config = { storesConf, credentialsConf: credentialsConf ?? "", caFiles };
  const parsed = parseRenderedConfig(storesConf, credentialsConf, files);
  if (!parsed.ok) return { config, previous: undefined, problem: parsed.message };
  const problem = parsed.unreadable.length === 0 ? undefined : parsed.unreadable.map((store) => store.message).join("; ");
  return {
    config,
    previous: { storeIds: parsed.storeIds, otherStores: parsed.otherStores, defaultStoreId: parsed.defaultStoreId, stores: parsed.stores, unreadable: parsed.unreadable },
    problem,
  };
}

export interface CredentialsPolicy {
  /** The glance_store release the target's Glance runs: application credentials need 5.4.0. */
  readonly glanceStoreVersion: string;
}

/** The glance_store release that reads cinder_store_application_credential_id and _secret. */
export const APPLICATION_CREDENTIALS_SINCE = "5.4.0";

export function resolveCredentials(spec: GlanceStoreSpec, secret: V1Secret | undefined, namespace: string, policy: CredentialsPolicy): CredentialsOutcome {
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
  if (parsed.credentials.caCertPem !== undefined && spec.caCertificatesFile !== undefined) {
    return {
      ok: false,
      reason: "SecretInvalid",
      message: `Secret ${namespace}/${ref.name} has caCert and spec.caCertificatesFile is set too: use one. caCert is better: the operator checks Keystone and Cinder with it and renders it as the file glance_store uses`,
    };
  }
  if (parsed.credentials.auth.kind === "applicationCredential" && compareVersions(policy.glanceStoreVersion, APPLICATION_CREDENTIALS_SINCE) < 0) {
    return {
      ok: false,
      reason: "ApplicationCredentialsUnsupported",
      message: `Secret ${namespace}/${ref.name} holds an application credential, which glance_store reads only from release ${APPLICATION_CREDENTIALS_SINCE} on; this operator is told Glance runs glance_store ${policy.glanceStoreVersion} (--glance-store-version), which would ignore it and reach Cinder with each user's own token instead. Use a password, or upgrade Glance and set --glance-store-version`,
    };
  }
  return { ok: true, credentials: parsed.credentials };
}

/** Dotted release numbers, numerically; a missing part counts as 0. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => v.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface ObserveOptions {
  readonly namespace: string;
  readonly target: string;
  readonly stores: readonly StoreObject[];
  readonly secret: (name: string) => V1Secret | undefined;
  readonly previous: PreviousConfig | undefined;
  readonly checker: StoreChecker;
  readonly policy: CredentialsPolicy;
  /** Now, to tell whether a refusal recorded in a status still holds. */
  readonly now: number;
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
  const previousById = new Map((options.previous?.stores ?? []).map((store) => [store.storeId, store]));
  for (const store of options.stores) {
    if (store.spec === undefined) continue;
    const secret = options.secret(store.spec.credentialsSecretRef.name);
    const outcome = resolveCredentials(store.spec, secret, options.namespace, options.policy);
    credentials.set(store.uid, outcome);
    if (!outcome.ok) continue;
    rememberRefusal(store, secret, outcome.credentials, options);
    // A store that leaves its type unset stays on the one it was first rendered with (its pin), not on Cinder's default of the day.
    const requested = store.spec.volumeType ?? volumeTypeHistory(memoryOf(store).volumeTypes, previousById.get(store.storeId)?.spec.volumeType).at(-1)?.name;
    requests.push({ key: store.uid, ...cinderTarget(store.spec), credentials: outcome.credentials, volumeType: requested });
  }
  const results = requests.length > 0 ? await options.checker.checkStores(requests, { signal: options.signal }) : new Map();
  const checks = new Map<string, CheckOutcome>();
  for (const [key, result] of results as Map<string, StoreCheckResult>) {
    checks.set(key, checkOutcome(result));
  }

  const counts = await countImageVolumesOfDeleted(options, credentials, checks, previousById);

  const stores: ObservedStore[] = options.stores.map((store) => ({
    key: `${store.namespace}/${store.name}`,
    name: store.name,
    uid: store.uid,
    generation: store.generation,
    createdAt: metaTime(store.raw.metadata?.creationTimestamp) ?? "",
    storeId: store.storeId,
    spec: store.spec,
    ...(store.specProblem === undefined ? {} : { specProblem: store.specProblem }),
    deleting: store.deleting,
    forceDelete: store.forceDelete,
    confirmVolumeType: store.confirmVolumeType,
    memory: memoryOf(store),
    credentials: credentials.get(store.uid),
    check: checks.get(store.uid),
    imageVolumes: counts.get(store.uid),
  }));
  return { namespace: options.namespace, target: options.target, stores, previous: options.previous };
}

function checkOutcome(result: StoreCheckResult): CheckOutcome {
  if (result.ok) {
    return { ok: true, volumeType: { id: result.volumeType.id, name: result.volumeType.name }, resolvedDefault: result.resolvedDefault, projectId: result.projectId };
  }
  const refusal = result.error instanceof AuthFailedError ? result.error.refusal : undefined;
  return {
    ok: false,
    reason: result.error.reason,
    message: result.error.message,
    authenticated: result.authenticated,
    ...(refusal === undefined ? {} : { refusal: { refusedAt: formatTime(new Date(refusal.refusedAtMs)), retryAt: formatTime(new Date(refusal.retryAtMs)) } }),
  };
}

/**
 * A refusal another replica (or an earlier run) recorded in the store's
 * status holds the credentials off here too, as long as the Secret is the
 * one that was refused: same name, same object, same resourceVersion.
 */
function rememberRefusal(store: StoreObject, secret: V1Secret | undefined, resolved: ResolvedCredentials, options: ObserveOptions): void {
  const record = store.status?.credentialsRefusal;
  if (record === undefined || secret === undefined || store.spec === undefined) return;
  const ref = store.spec.credentialsSecretRef;
  const same =
    record.secretName === ref.name &&
    (record.cloud ?? undefined) === (ref.cloud ?? undefined) &&
    record.secretUID === secret.metadata?.uid &&
    record.secretResourceVersion === secret.metadata?.resourceVersion;
  const refusedAtMs = Date.parse(record.refusedAt);
  const retryAtMs = Date.parse(record.retryAt);
  if (!same || Number.isNaN(refusedAtMs) || Number.isNaN(retryAtMs) || retryAtMs <= options.now) return;
  options.checker.rememberRefusal(resolved, { refusedAtMs, retryAtMs });
}

function memoryOf(store: StoreObject): StoreMemory {
  const status = store.status;
  if (status === undefined) return NO_MEMORY;
  return {
    rendered: status.rendered === true,
    volumeTypes: (status.renderedVolumeTypes ?? []).map((type) => ({ name: type.name, ...(type.id === undefined ? {} : { id: type.id }) })),
    projectId: status.projectId,
  };
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
 * Rule 4 needs, for a store being deleted that Glance runs or ran, the
 * number of image volumes left of every type it was rendered with, in the
 * project where Glance really keeps them: glance_store creates every
 * store's volumes through one Cinder session, opened with the credentials
 * of the first store in enabled_backends order. So the count uses that
 * store's credentials (its current ones when they check out, else the
 * rendered ones), and falls back to the deleting store's own.
 */
async function countImageVolumesOfDeleted(
  options: ObserveOptions,
  credentials: Map<string, CredentialsOutcome>,
  checks: Map<string, CheckOutcome>,
  previousById: Map<string, RenderedStore>,
): Promise<Map<string, ImageVolumeCount>> {
  const counts = new Map<string, ImageVolumeCount>();
  const requests: ImageVolumeCountRequest[] = [];
  const running = new Set(options.previous?.storeIds ?? []);
  const usable = (store: StoreObject | undefined): ResolvedCredentials | undefined => {
    if (store === undefined) return undefined;
    const current = credentials.get(store.uid);
    if (current?.ok === true && checks.get(store.uid)?.ok === true) return current.credentials;
    const rendered = previousById.get(store.storeId)?.credentials;
    if (rendered !== undefined) return rendered;
    return current?.ok === true ? current.credentials : undefined;
  };
  const sessionId = options.previous?.storeIds[0];
  const sessionStore = options.stores.find((store) => store.storeId === sessionId);
  const sessionCredentials = usable(sessionStore) ?? (sessionId === undefined ? undefined : previousById.get(sessionId)?.credentials);
  for (const store of options.stores) {
    const guarded = running.has(store.storeId) || ranInGlance(memoryOf(store));
    if (!store.deleting || store.forceDelete || !guarded) continue;
    const check = checks.get(store.uid);
    const history = volumeTypeHistory(memoryOf(store).volumeTypes, previousById.get(store.storeId)?.spec.volumeType);
    const types = check?.ok ? withVolumeType(history, check.volumeType) : history;
    if (types.length === 0) {
      counts.set(store.uid, { ok: false, reason: "VolumeTypeUnknown", message: "no volume type of this store is known (its status and the rendered files lost it, and Cinder's default type could not be resolved)" });
      continue;
    }
    const countWith = sessionCredentials ?? usable(store);
    if (countWith === undefined) {
      counts.set(store.uid, { ok: false, reason: "NoCredentials", message: "neither the rendered files nor a credentials Secret holds credentials of the project Glance keeps its image volumes in" });
      continue;
    }
    const spec = store.spec ?? previousById.get(store.storeId)?.spec;
    requests.push({ key: store.uid, ...(spec === undefined ? { catalogInfo: CINDER_DEFAULTS.catalogInfo } : cinderTarget(spec)), credentials: countWith, volumeTypes: types });
  }
  if (requests.length === 0) return counts;
  const results = await options.checker.countImageVolumes(requests, { signal: options.signal });
  for (const [key, result] of results) {
    counts.set(key, result.ok ? { ok: true, count: result.count } : { ok: false, reason: result.error.reason, message: result.error.message });
  }
  return counts;
}

/** metav1.Time as the cache holds it: a string, or a Date once client-node has parsed it. */
export function metaTime(value: unknown): string | undefined {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : undefined;
}
