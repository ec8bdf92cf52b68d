import { stringify } from "yaml";
import { parseCredentialsSecret, type ResolvedCredentials } from "../api/credentials.js";
import { effectiveStoreId, GLANCE_STORE_API_VERSION, GLANCE_STORE_KIND, GlanceStoreSchema, type GlanceStore } from "../api/glancestore.js";
import { GLANCE_STORE_TARGET_API_VERSION, GLANCE_STORE_TARGET_KIND, GlanceStoreTargetSchema, type GlanceStoreTarget } from "../api/glancestoretarget.js";
import { fieldProblems } from "../api/issues.js";
import { storeIdProblem } from "../api/store-id.js";
import { credentialsSecretName } from "../controller/naming.js";
import { compare, renderStoresConfig, type RenderedConfig, type StoreToRender } from "../render/render.js";
import { CREDENTIAL_OPTIONS, FIELD_OPTIONS, type CredentialKey, type Finding, type SourceCinderStore, type SourceModel } from "./glance-conf.js";

/**
 * From what a glance-api.conf says (glance-conf.ts) to the objects that
 * make this operator write the same stores: one GlanceStoreTarget, one
 * GlanceStore per cinder store, one credentials Secret per distinct
 * credential set. Every object is validated with the API's zod schemas, and
 * the set is rendered as the controller would render it. Pure.
 */

export interface MigrateSettings {
  readonly namespace: string;
  readonly target: string;
  /** The Secret of the first credential set; others get `<secretName>-<store id>`. */
  readonly secretName: string;
  /** The id of a legacy single store (--store-id). */
  readonly storeId?: string | undefined;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** A DNS-1123 name made from a store id: lower case, `_` and other characters as `-`, no `-` at either end. */
export function sanitizedName(id: string, max = 253): string {
  const name = id
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/-*\.-*/g, ".")
    .slice(0, max)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return name === "" ? "store" : name;
}

/** One credentials Secret: the distinct cinder_store_* set of one or more stores. */
export interface CredentialSet {
  readonly secretName: string;
  /** The Secret's stringData: the keys the file gives, and "" for the required ones it lacks. */
  readonly data: Readonly<Record<string, string>>;
  /** Required keys the file does not give: the Secret is a template, to fill in by hand. */
  readonly missing: readonly CredentialKey[];
  /** The credentials, when the file gives them whole. */
  readonly resolved: ResolvedCredentials | undefined;
  /** Positions (in the file) of the stores using it. */
  readonly positions: readonly number[];
}

export type CredentialSetsResult = { readonly ok: true; readonly sets: readonly CredentialSet[] } | { readonly ok: false; readonly errors: readonly string[] };

const PASSWORD_REQUIRED: readonly CredentialKey[] = ["authUrl", "username", "password", "projectName"];
const APPLICATION_CREDENTIAL_REQUIRED: readonly CredentialKey[] = ["authUrl", "applicationCredentialId", "applicationCredentialSecret"];
const KEY_ORDER: readonly CredentialKey[] = ["authUrl", "username", "password", "projectName", "userDomainName", "projectDomainName", "applicationCredentialId", "applicationCredentialSecret"];
const OPTION_OF_KEY = Object.fromEntries(Object.entries(CREDENTIAL_OPTIONS).map(([option, key]) => [key, option])) as Record<CredentialKey, string>;

/** The option that fills a credentials Secret key, for messages. */
export function credentialOption(key: CredentialKey): string {
  return OPTION_OF_KEY[key];
}

/**
 * Groups the cinder stores by credential set. The Secret of the set the
 * rendered config's first cinder store uses (ids sorted) is named
 * `secretName`; the others `<secretName>-<id of their first store>`.
 */
export function credentialSets(model: SourceModel, settings: MigrateSettings): CredentialSetsResult {
  const byKey = new Map<string, { credentials: Partial<Record<CredentialKey, string>>; stores: SourceCinderStore[] }>();
  const ordered = [...model.cinder].sort((a, b) => compare(a.storeId ?? "", b.storeId ?? "") || a.position - b.position);
  for (const store of ordered) {
    const key = JSON.stringify(KEY_ORDER.map((k) => store.credentials[k] ?? null));
    const group = byKey.get(key) ?? { credentials: store.credentials, stores: [] as SourceCinderStore[] };
    group.stores.push(store);
    byKey.set(key, group);
  }
  const errors: string[] = [];
  const sets: CredentialSet[] = [];
  const names = new Set<string>([credentialsSecretName(settings.target)]);
  for (const [index, { credentials, stores }] of [...byKey.values()].entries()) {
    let secretName = settings.secretName;
    if (index > 0) {
      const base = `${settings.secretName}-${sanitizedName(stores[0]?.storeId ?? "store", 200)}`;
      secretName = base;
      for (let n = 2; names.has(secretName); n++) secretName = `${base}-${n}`;
    }
    names.add(secretName);
    const applicationCredential = credentials.applicationCredentialId !== undefined || credentials.applicationCredentialSecret !== undefined;
    const required = applicationCredential ? APPLICATION_CREDENTIAL_REQUIRED : PASSWORD_REQUIRED;
    const missing = required.filter((key) => credentials[key] === undefined);
    const data: Record<string, string> = {};
    for (const key of KEY_ORDER) {
      const value = credentials[key];
      if (value !== undefined) data[key] = value;
      else if (missing.includes(key)) data[key] = "";
    }
    let resolved: ResolvedCredentials | undefined;
    if (missing.length === 0) {
      const parsed = parseCredentialsSecret(data, { name: secretName });
      if (parsed.ok) resolved = parsed.credentials;
      else {
        const where = stores.map((store) => `[${store.section}]`).join(", ");
        for (const issue of parsed.issues) {
          const key = issue.key as CredentialKey;
          errors.push(`${where} ${OPTION_OF_KEY[key] ?? "cinder_store_*"}: ${issue.message}`);
        }
      }
    }
    sets.push({ secretName, data, missing, resolved, positions: stores.map((store) => store.position) });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, sets };
}

/** Cinder's default type, pinned by --check-cinder, by store position. */
export type Pins = ReadonlyMap<number, { readonly volumeType: string; readonly projectId: string }>;

export interface PlannedStore {
  readonly position: number;
  readonly storeId: string;
  readonly object: GlanceStore;
  /** The object as written out: only what the file sets (the schema's defaults are the CRD's too). */
  readonly manifest: Record<string, unknown>;
  readonly secretName: string;
  /** Where spec.volumeType comes from. */
  readonly volumeType: { readonly from: "file"; readonly name: string } | { readonly from: "pinned"; readonly name: string; readonly projectId: string } | { readonly from: "unset" };
}

export interface PlannedSecret {
  readonly set: CredentialSet;
  readonly manifest: Record<string, unknown>;
}

export type PlanResult =
  | {
      readonly ok: true;
      readonly target: { readonly object: GlanceStoreTarget; readonly manifest: Record<string, unknown> };
      readonly stores: readonly PlannedStore[];
      readonly secrets: readonly PlannedSecret[];
      readonly config: RenderedConfig;
      /** `<id>:<type>, ...` as rendered. */
      readonly enabledBackends: string;
      readonly defaultBackend: string;
      readonly findings: readonly Finding[];
    }
  | { readonly ok: false; readonly usage: boolean; readonly errors: readonly string[] };

/** Placeholder credentials, only to render a config whose Secret is a template: the stores file holds no credential. */
const PLACEHOLDER_CREDENTIALS: ResolvedCredentials = {
  auth: { kind: "password", authUrl: "https://keystone.invalid/v3", username: "placeholder", password: "placeholder", projectName: "placeholder", userDomainName: "Default", projectDomainName: "Default" },
};

const SPEC_FIELD_OPTION = Object.fromEntries(Object.entries(FIELD_OPTIONS).map(([option, { field }]) => [field, option])) as Record<string, string>;

export function planMigration(model: SourceModel, sets: readonly CredentialSet[], settings: MigrateSettings, pins: Pins = new Map()): PlanResult {
  const findings: Finding[] = [];
  const errors: string[] = [];
  if (settings.storeId !== undefined && model.mode === "multi") {
    return { ok: false, usage: true, errors: ["--store-id is for a single-store (legacy) config: in a multi-store config each store keeps the id enabled_backends gives it"] };
  }
  const setOf = new Map<number, CredentialSet>();
  for (const set of sets) for (const position of set.positions) setOf.set(position, set);

  const planned: PlannedStore[] = [];
  const usedNames = new Set<string>();
  for (const store of model.cinder) {
    const fileType = typeof store.fields.volumeType === "string" ? store.fields.volumeType : undefined;
    const pin = fileType === undefined ? pins.get(store.position) : undefined;
    const volumeType: PlannedStore["volumeType"] =
      fileType !== undefined ? { from: "file", name: fileType } : pin !== undefined ? { from: "pinned", name: pin.volumeType, projectId: pin.projectId } : { from: "unset" };
    let storeId = store.storeId;
    if (storeId === undefined) {
      // The legacy store: --store-id, else its volume type's name.
      if (settings.storeId !== undefined) storeId = settings.storeId;
      else if (volumeType.from === "unset") {
        return {
          ok: false,
          usage: true,
          errors: [
            "the legacy cinder store needs a store id, which this migration takes from its volume type's name, and cinder_volume_type is unset: give --store-id ID, or --check-cinder to take the name of Cinder's default type for the project Glance uses (and pin that type)",
          ],
        };
      } else {
        const problem = storeIdProblem(volumeType.name);
        if (problem !== undefined) {
          return {
            ok: false,
            usage: true,
            errors: [`the legacy cinder store's id would be its volume type's name, but ${problem.message.replace(/; choose another id$/, "")}: give --store-id ID`],
          };
        }
        if (model.others.some((other) => other.id === volumeType.name)) {
          return { ok: false, usage: true, errors: [`the legacy cinder store's id would be its volume type's name, ${JSON.stringify(volumeType.name)}, which is also the id of the legacy ${model.others.find((other) => other.id === volumeType.name)?.type} store: give --store-id ID`] };
        }
        storeId = volumeType.name;
        findings.push({ kind: "note", section: store.section, message: `the legacy cinder store gets the id ${JSON.stringify(storeId)}, its volume type's name (--store-id to choose another)` });
      }
    }
    let name = isDnsSubdomain(storeId) ? storeId : sanitizedName(storeId);
    for (let n = 2; usedNames.has(name); n++) name = `${sanitizedName(storeId, 240)}-${n}`;
    usedNames.add(name);
    if (name !== storeId) findings.push({ kind: "note", message: `store ${JSON.stringify(storeId)} is the GlanceStore ${name} (an object name cannot be the id) with spec.storeId ${JSON.stringify(storeId)}` });
    const set = setOf.get(store.position);
    if (set === undefined) throw new Error("programming error: a store without a credential set");
    const spec: Record<string, unknown> = {
      ...(name === storeId ? {} : { storeId }),
      ...(volumeType.from === "unset" ? {} : { volumeType: volumeType.name }),
      ...(typeof store.fields.description === "string" ? { description: store.fields.description } : {}),
      ...(store.isDefault ? { default: true } : {}),
      credentialsSecretRef: { name: set.secretName },
      target: settings.target,
    };
    for (const [field, value] of Object.entries(store.fields)) {
      if (field === "volumeType" || field === "description") continue;
      spec[field] = value;
    }
    if (Object.keys(store.extraOptions).length > 0) spec["extraOptions"] = { ...store.extraOptions };
    const manifest = { apiVersion: GLANCE_STORE_API_VERSION, kind: GLANCE_STORE_KIND, metadata: { name, namespace: settings.namespace }, spec };
    const parsed = GlanceStoreSchema.safeParse(manifest);
    if (!parsed.success) {
      for (const problem of fieldProblems(parsed.error.issues)) errors.push(`${describeStore(store, storeId)}: ${optionOfField(problem.field)}${problem.message}`);
      continue;
    }
    planned.push({ position: store.position, storeId: effectiveStoreId(parsed.data), object: parsed.data, manifest, secretName: set.secretName, volumeType });
  }

  const otherStores = model.others.map((store) => ({ id: store.id, type: store.type }));
  const targetManifest = {
    apiVersion: GLANCE_STORE_TARGET_API_VERSION,
    kind: GLANCE_STORE_TARGET_KIND,
    metadata: { name: settings.target, namespace: settings.namespace },
    spec: { ...(model.otherDefault === undefined ? {} : { defaultStore: model.otherDefault }), ...(otherStores.length === 0 ? {} : { otherStores }) },
  };
  const target = GlanceStoreTargetSchema.safeParse(targetManifest);
  if (!target.success) {
    for (const problem of fieldProblems(target.error.issues)) errors.push(`GlanceStoreTarget ${settings.target}: ${problem.field}: ${problem.message}`);
  }
  if (errors.length > 0 || !target.success) return { ok: false, usage: false, errors };

  // Rendered as the controller renders a target: the cinder stores with their credentials, the target's other stores and default.
  const toRender: StoreToRender[] = planned.map((store) => ({
    storeId: store.storeId,
    spec: store.object.spec,
    credentials: setOf.get(store.position)?.resolved ?? PLACEHOLDER_CREDENTIALS,
    source: `GlanceStore ${settings.namespace}/${store.object.metadata.name}`,
  }));
  const rendered = renderStoresConfig(toRender, { otherStores: target.data.spec.otherStores ?? [], ...(target.data.spec.defaultStore === undefined ? {} : { defaultStoreId: target.data.spec.defaultStore }) });
  if (!rendered.ok) {
    return { ok: false, usage: false, errors: rendered.errors.map((error) => `the migrated stores would not render (${error.code}): ${error.message}`) };
  }
  const backends = /^enabled_backends = (.*)$/m.exec(rendered.config.storesConf)?.[1] ?? "";
  const defaultBackend = /^default_backend = (.*)$/m.exec(rendered.config.storesConf)?.[1] ?? "";

  const secrets = sets.map((set) => ({
    set,
    manifest: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: set.secretName,
        namespace: settings.namespace,
        ...(set.missing.length === 0 ? {} : { annotations: { [TEMPLATE_ANNOTATION]: `fill in ${set.missing.join(", ")} before applying` } }),
      },
      type: "Opaque",
      stringData: { ...set.data },
    },
  }));
  findings.push(...sharedFindings(model, planned, sets));
  return {
    ok: true,
    target: { object: target.data, manifest: targetManifest },
    stores: [...planned].sort((a, b) => compare(a.storeId, b.storeId)),
    secrets,
    config: rendered.config,
    enabledBackends: backends,
    defaultBackend,
    findings,
  };
}

/** On a credentials Secret the file did not fill: what to fill in. */
export const TEMPLATE_ANNOTATION = "glance.stores.dev/migrate-template";

function describeStore(store: SourceCinderStore, storeId: string): string {
  return store.section === "glance_store" || store.storeId === undefined ? `[${store.section}] (store ${JSON.stringify(storeId)})` : `[${store.section}]`;
}

/** `spec.httpRetries` -> `cinder_http_retries (spec.httpRetries): `. */
function optionOfField(field: string): string {
  const path = field.replace(/^spec\./, "");
  if (path.startsWith("extraOptions")) return `${field}: `;
  const option = SPEC_FIELD_OPTION[path];
  return option === undefined ? (field === "" ? "" : `${field}: `) : `${option} (${field}): `;
}

/** What concerns several stores at once: credentials glance_store does not use, types two stores share. */
function sharedFindings(model: SourceModel, stores: readonly PlannedStore[], sets: readonly CredentialSet[]): Finding[] {
  const findings: Finding[] = [];
  const byId = [...stores].sort((a, b) => compare(a.storeId, b.storeId));
  if (sets.length > 1) {
    const first = byId[0];
    const originalFirst = [...stores].sort((a, b) => a.position - b.position)[0];
    const before =
      model.mode === "multi" && originalFirst !== undefined && first !== undefined && originalFirst.secretName !== first.secretName
        ? ` Your enabled_backends lists ${JSON.stringify(originalFirst.storeId)} first, so Glance has used the credentials of Secret ${originalFirst.secretName} so far; the operator sorts enabled_backends by id, so Glance will use those of Secret ${first.secretName}.`
        : "";
    findings.push({
      kind: "warning",
      message:
        `the cinder stores use ${sets.length} different credential sets (Secrets ${sets.map((set) => set.secretName).join(", ")}): glance_store makes one Cinder session per glance-api process, with the credentials of the first cinder store of enabled_backends (${JSON.stringify(first?.storeId)}, Secret ${first?.secretName}), and uses it for every cinder store; the others' credentials are not used, and their image volumes are created in that project.` +
        before,
    });
  }
  const byType = new Map<string, string[]>();
  for (const store of byId) {
    if (store.volumeType.from === "unset") continue;
    byType.set(store.volumeType.name, [...(byType.get(store.volumeType.name) ?? []), store.storeId]);
  }
  for (const [type, ids] of byType) {
    if (ids.length < 2) continue;
    findings.push({
      kind: "warning",
      message: `stores ${ids.map((id) => JSON.stringify(id)).join(", ")} share the volume type ${JSON.stringify(type)}: Glance maps a legacy cinder://<volume> location to the first store of the volume's type in enabled_backends, which is ${JSON.stringify(ids[0])} once the operator (sorting by id) writes it`,
    });
  }
  for (const set of sets) {
    if (set.resolved?.auth.kind === "applicationCredential") {
      findings.push({
        kind: "note",
        message: `Secret ${set.secretName} holds an application credential: glance_store reads cinder_store_application_credential_* from release 5.4.0 on; tell the operator which release Glance runs (--glance-store-version)`,
      });
    }
  }
  return findings;
}

export interface ManifestOptions {
  /** Secret values as `<redacted>` (--dry-run). */
  readonly redact: boolean;
  /** Named in the header comment. */
  readonly from: string;
}

/** The manifests as one multi-document YAML: the target, the GlanceStores (by id), the Secrets. */
export function manifestsYaml(plan: Extract<PlanResult, { ok: true }>, options: ManifestOptions): string {
  const documents: string[] = [];
  documents.push(
    `# Generated by glance-store-operator migrate from ${oneLine(options.from)}.\n# kubectl apply -f creates them all; a GlanceStore is checked as soon as its Secret exists.\n${stringify(plan.target.manifest)}`,
  );
  for (const store of plan.stores) documents.push(stringify(store.manifest));
  for (const secret of plan.secrets) {
    const manifest = options.redact
      ? { ...secret.manifest, stringData: Object.fromEntries(Object.entries(secret.set.data).map(([key, value]) => [key, value === "" ? "" : "<redacted>"])) }
      : secret.manifest;
    const header =
      secret.set.missing.length === 0
        ? ""
        : `# TEMPLATE: the file has no ${secret.set.missing.map((key) => credentialOption(key)).join(", ")}. Fill in ${secret.set.missing.join(", ")}\n# (the Keystone credentials glance_store will use for Cinder) before applying: the operator does not render\n# stores whose Secret is incomplete.\n`;
    documents.push(`${header}${stringify(manifest)}`);
  }
  return documents.map((document) => `---\n${document}`).join("");
}

function oneLine(text: string): string {
  return text.replace(/[\x00-\x1F\x7F]/g, "?");
}
