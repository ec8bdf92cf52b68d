import { decodeSecretData, parseCredentialsSecret, type ResolvedCredentials } from "../api/credentials.js";
import { effectiveStoreId, GLANCE_STORE_API_VERSION, GLANCE_STORE_GROUP, GLANCE_STORE_KIND, GlanceStoreSchema, type GlanceStore } from "../api/glancestore.js";
import { fieldProblems, formatFieldProblem } from "../api/issues.js";
import { renderStoresConfig, type RenderedConfig, type StoreToRender } from "./render.js";

/**
 * The offline preview (`glance-store-operator render`): GlanceStore and
 * Secret manifests in, one rendered config per target out, with the same
 * schemas, credentials parser and renderer as the operator. Pure; the CLI
 * reads the files and writes the result.
 */

export interface ManifestDocument {
  /** Where the document came from, for messages: `stores.yaml`, `stores.yaml#2`. */
  readonly origin: string;
  readonly object: unknown;
}

export interface OfflineTarget {
  readonly namespace: string;
  readonly target: string;
  /** The stores rendered, sorted by id; the default marked. */
  readonly stores: readonly { readonly storeId: string; readonly default: boolean; readonly object: string }[];
  readonly config: RenderedConfig;
}

export type OfflinePlan =
  | { readonly ok: true; readonly targets: readonly OfflineTarget[]; readonly ignored: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

interface Located {
  readonly origin: string;
  readonly object: Record<string, unknown>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

export function planOfflineRender(documents: readonly ManifestDocument[], options: { readonly defaultNamespace: string }): OfflinePlan {
  const errors: string[] = [];
  const ignored: string[] = [];
  const stores: { origin: string; store: GlanceStore; namespace: string }[] = [];
  const secrets = new Map<string, Located>();
  const seen = new Map<string, string>();

  for (const { origin, object } of expandLists(documents)) {
    const kind = typeof object["kind"] === "string" ? object["kind"] : undefined;
    const apiVersion = typeof object["apiVersion"] === "string" ? object["apiVersion"] : undefined;
    const metadata = isRecord(object["metadata"]) ? object["metadata"] : {};
    const name = typeof metadata["name"] === "string" ? metadata["name"] : undefined;
    const namespace = typeof metadata["namespace"] === "string" && metadata["namespace"] !== "" ? metadata["namespace"] : options.defaultNamespace;
    const label = `${kind ?? "object"} ${namespace}/${name ?? "(no name)"} (${origin})`;

    const isGlanceStore = kind === GLANCE_STORE_KIND && (apiVersion ?? "").startsWith(`${GLANCE_STORE_GROUP}/`);
    const isSecret = kind === "Secret" && apiVersion === "v1";
    if (!isGlanceStore && !isSecret) {
      ignored.push(label);
      continue;
    }
    const identity = `${kind}/${namespace}/${name ?? ""}`;
    const earlier = seen.get(identity);
    if (earlier !== undefined && name !== undefined) {
      errors.push(`${label}: metadata.name: ${kind} ${namespace}/${name} is given twice (also in ${earlier})`);
      continue;
    }
    seen.set(identity, origin);

    if (isSecret) {
      if (name === undefined) errors.push(`${label}: metadata.name: a Secret needs a name`);
      else secrets.set(`${namespace}/${name}`, { origin, object });
      continue;
    }
    if (apiVersion !== GLANCE_STORE_API_VERSION) {
      errors.push(`${label}: apiVersion: ${JSON.stringify(apiVersion)} is not served; this version of the operator knows ${GLANCE_STORE_API_VERSION}`);
      continue;
    }
    const parsed = GlanceStoreSchema.safeParse(object);
    if (!parsed.success) {
      for (const problem of fieldProblems(parsed.error.issues)) errors.push(`${label}: ${formatFieldProblem(problem)}`);
      continue;
    }
    stores.push({ origin, store: parsed.data, namespace });
  }

  const targets = new Map<string, { namespace: string; target: string; stores: StoreToRender[] }>();
  for (const { origin, store, namespace } of stores) {
    const objectName = `GlanceStore ${namespace}/${store.metadata.name}`;
    const credentials = resolveCredentials(store, namespace, secrets, `${objectName} (${origin})`, errors);
    if (credentials === undefined) continue;
    const key = `${namespace}/${store.spec.target}`;
    let group = targets.get(key);
    if (group === undefined) {
      group = { namespace, target: store.spec.target, stores: [] };
      targets.set(key, group);
    }
    group.stores.push({ storeId: effectiveStoreId(store), spec: store.spec, credentials, source: objectName });
  }
  if (stores.length === 0 && errors.length === 0) {
    errors.push(`no GlanceStore among the ${documents.length} document(s) given${ignored.length > 0 ? ` (ignored: ${ignored.join(", ")})` : ""}`);
  }

  const rendered: OfflineTarget[] = [];
  for (const [key, group] of [...targets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const result = renderStoresConfig(group.stores);
    if (!result.ok) {
      for (const error of result.errors) errors.push(`target ${key}: ${error.message}`);
      continue;
    }
    rendered.push({
      namespace: group.namespace,
      target: group.target,
      stores: group.stores
        .map((s) => ({ storeId: s.storeId, default: s.spec.default, object: s.source ?? "" }))
        .sort((a, b) => (a.storeId < b.storeId ? -1 : a.storeId > b.storeId ? 1 : 0)),
      config: result.config,
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, targets: rendered, ignored };
}

function resolveCredentials(store: GlanceStore, namespace: string, secrets: ReadonlyMap<string, Located>, label: string, errors: string[]): ResolvedCredentials | undefined {
  const ref = store.spec.credentialsSecretRef;
  const secret = secrets.get(`${namespace}/${ref.name}`);
  if (secret === undefined) {
    errors.push(`${label}: spec.credentialsSecretRef.name: Secret ${namespace}/${ref.name} is not among the manifests given`);
    return undefined;
  }
  const decoded = decodeSecretData({ data: secret.object["data"], stringData: secret.object["stringData"] }, ref.name);
  if (!decoded.ok) {
    for (const issue of decoded.issues) errors.push(`${label}: spec.credentialsSecretRef: ${issue.message} (${secret.origin})`);
    return undefined;
  }
  const parsed = parseCredentialsSecret(decoded.data, ref);
  if (!parsed.ok) {
    for (const issue of parsed.issues) errors.push(`${label}: spec.credentialsSecretRef: ${issue.message} (${secret.origin})`);
    return undefined;
  }
  return parsed.credentials;
}

/** `kind: List` (what `kubectl get -o yaml` prints) stands for its items. */
function expandLists(documents: readonly ManifestDocument[]): Located[] {
  const out: Located[] = [];
  for (const { origin, object } of documents) {
    if (object === null || object === undefined) continue;
    if (!isRecord(object)) {
      out.push({ origin, object: {} });
      continue;
    }
    if (typeof object["kind"] === "string" && object["kind"].endsWith("List") && Array.isArray(object["items"])) {
      object["items"].forEach((item, index) => out.push(...expandLists([{ origin: `${origin} items[${index}]`, object: item }])));
      continue;
    }
    out.push({ origin, object });
  }
  return out;
}
