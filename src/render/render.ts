import type { ResolvedCredentials } from "../api/credentials.js";
import { MODELLED_OPTION_ALIASES, MODELLED_OPTION_NAMES, OPTION_NAME_PATTERN, SECRET_LOOKING_OPTION, type GlanceStoreSpec } from "../api/glancestore.js";
import { ambiguousStoreIdPrefixes, storeIdProblem } from "../api/store-id.js";
import { createHash } from "node:crypto";
import { GLANCE_CONF_DIR } from "./glance-paths.js";
import { describeUnrepresentable, encodeOsloBoolean, encodeOsloInteger, encodeOsloString, unrepresentableReason } from "./oslo-value.js";
import { groupBy } from "../util/group-by.js";

/** The ConfigMap key: enabled_backends, default_backend and each store's options, without its credentials. */
export const STORES_CONF_FILE = "glance-api-stores.conf";
/**
 * The Secret key: each store's whole credential set (cinder_store_auth_address,
 * user, domains, project and password, or the application credential), and the
 * path of its CA bundle. All of it in one object, so that a change of
 * credentials is one write and no glance-api can start with the user of one
 * version and the password of another.
 */
export const CREDENTIALS_CONF_FILE = "glance-api-stores-credentials.conf";
/** Keys of the Secret holding CA bundles from the credentials Secrets' caCert: `glance-api-stores-ca-<hash>.pem`. */
export const CA_FILE_PREFIX = "glance-api-stores-ca-";
const CA_FILE_PATTERN = /^glance-api-stores-ca-[0-9a-f]{16}\.pem$/;

/** The Secret key of a CA bundle: named by its content, so stores that share a CA share the file. oslo.config reads only *.conf from the directory. */
export function caFileName(pem: string): string {
  return `${CA_FILE_PREFIX}${createHash("sha256").update(pem).digest("hex").slice(0, 16)}.pem`;
}

export function isCaFileName(name: string): boolean {
  return CA_FILE_PATTERN.test(name);
}

/** One store of a target, as the controller decided it: its effective id, its parsed spec, its resolved credentials. */
export interface StoreToRender {
  readonly storeId: string;
  readonly spec: GlanceStoreSpec;
  readonly credentials: ResolvedCredentials;
  /** Names the object in messages and in a comment above its section, e.g. `GlanceStore openstack/fast`. */
  readonly source?: string;
  /**
   * The store is written again exactly as Glance runs it (rule 2): an option
   * an earlier release accepted (an older name of a modelled option) is kept
   * rather than refused. Secret-looking and malformed names are refused still.
   */
  readonly asRunning?: boolean;
}

/** A store glance-api's main configuration defines (rbd, file, ...), kept in enabled_backends beside the cinder stores. */
export interface OtherStoreToRender {
  readonly id: string;
  readonly type: string;
}

/** What belongs to the whole target rather than to one cinder store. */
export interface TargetToRender {
  /** Stores of glance-api's main configuration: only their `<id>:<type>` is written. */
  readonly otherStores?: readonly OtherStoreToRender[];
  /** The default store, decided for the whole target: the stores' spec.default is then not read. May name one of otherStores. */
  readonly defaultStoreId?: string;
}

export type RenderErrorCode =
  | "NoStores"
  | "DefaultNotAStore"
  | "NoDefault"
  | "SeveralDefaults"
  | "InvalidStoreId"
  | "ReservedStoreIdPrefix"
  | "ReservedGroupName"
  | "DuplicateStoreId"
  | "CaseCollidingStoreIds"
  | "AmbiguousStoreIdPrefix"
  | "InvalidOptionName"
  | "UnrepresentableValue"
  | "CredentialsNotRenderable";

/** Why a target's stores cannot be rendered. Never holds a secret value. */
export interface RenderError {
  readonly code: RenderErrorCode;
  readonly message: string;
  /** The stores concerned, sorted. */
  readonly storeIds: readonly string[];
  /** For a one-store error, the field at fault: `spec.description`, `spec.extraOptions.x`, `credentials.password`. */
  readonly field?: string;
}

export interface RenderedConfig {
  /** Content of glance-api-stores.conf (the ConfigMap). */
  readonly storesConf: string;
  /** Content of glance-api-stores-credentials.conf (the Secret). */
  readonly credentialsConf: string;
  /** CA bundles (file name -> PEM), further keys of the Secret, mounted next to the files. */
  readonly caFiles: Readonly<Record<string, string>>;
}

export type RenderResult = { readonly ok: true; readonly config: RenderedConfig } | { readonly ok: false; readonly errors: readonly RenderError[] };

/** Every file, named as it is mounted into GLANCE_CONF_DIR (/etc/glance/glance.conf.d/, src/render/glance-paths.ts); `secret` ones come from the Secret. */
export function renderedFiles(config: RenderedConfig): readonly { readonly name: string; readonly content: string; readonly secret: boolean }[] {
  return [
    { name: STORES_CONF_FILE, content: config.storesConf, secret: false },
    { name: CREDENTIALS_CONF_FILE, content: config.credentialsConf, secret: true },
    ...Object.keys(config.caFiles)
      .sort(compare)
      .map((name) => ({ name, content: config.caFiles[name] ?? "", secret: true })),
  ];
}

type OptionValue = { readonly kind: "string"; readonly value: string } | { readonly kind: "integer"; readonly value: number } | { readonly kind: "boolean"; readonly value: boolean };

interface RenderedOption {
  readonly name: string;
  readonly value: OptionValue;
  /** The input field it comes from, for error messages. */
  readonly field: string;
  /** Written into the credentials file (the Secret) rather than the stores file. */
  readonly credential: boolean;
}

const STORES_HEADER = [
  "# Generated by glance-store-operator from GlanceStore objects: do not edit, changes are overwritten.",
  `# The Cinder stores of one Glance; their credentials (Keystone address, user, project, password) are in ${CREDENTIALS_CONF_FILE}.`,
  '# String values are quoted and a literal "$" is written "$$" ("\\$" after a backslash), as oslo.config reads them.',
];

const CREDENTIALS_HEADER = [
  "# Generated by glance-store-operator from the credentials Secrets of GlanceStore objects: do not edit, changes are overwritten.",
  `# Each store's credentials, in one file so a change of them is one write; the other options are in ${STORES_CONF_FILE}.`,
];

/**
 * Renders one target's stores into the two Glance config files, or says
 * why it must not: what would stop glance-api from starting (no or several
 * defaults, reserved, duplicate or case-colliding ids), ids of which one is
 * a prefix of another (Glance would attribute images to the wrong store),
 * and values oslo.config cannot hold. Pure: the same stores in any order
 * give the same bytes.
 */
export function renderStoresConfig(stores: readonly StoreToRender[], target: TargetToRender = {}): RenderResult {
  const sorted = [...stores].sort((a, b) => compare(a.storeId, b.storeId) || compare(a.source ?? "", b.source ?? ""));
  const others = [...(target.otherStores ?? [])].sort((a, b) => compare(a.id, b.id) || compare(a.type, b.type));
  const errors = [...targetErrors(sorted, others, target.defaultStoreId)];
  const rendered: { store: StoreToRender; options: RenderedOption[] }[] = [];
  for (const store of sorted) {
    const { options, errors: storeErrors } = storeOptions(store);
    errors.push(...storeErrors);
    rendered.push({ store, options });
  }
  if (errors.length > 0) return { ok: false, errors };

  const backends = [...sorted.map((store) => ({ id: store.storeId, type: "cinder" })), ...others].sort((a, b) => compare(a.id, b.id));
  const defaultId = target.defaultStoreId ?? sorted.find((store) => store.spec.default)?.storeId ?? "";
  const storesLines = [
    ...STORES_HEADER,
    ...(others.length === 0 ? [] : [`# ${others.map((store) => store.id).join(", ")}: stores of glance-api's main configuration, where their sections are; only named here.`]),
    "",
    "[DEFAULT]",
    `enabled_backends = ${backends.map((store) => `${store.id}:${store.type}`).join(", ")}`,
    "",
    "[glance_store]",
    `default_backend = ${defaultId}`,
  ];
  const credentialsLines = [...CREDENTIALS_HEADER];
  const caFiles: Record<string, string> = {};
  for (const { store, options } of rendered) {
    const { stores: storeLines, credentials } = sectionLines(store, options);
    storesLines.push("", ...storeLines);
    if (credentials.length > 0) credentialsLines.push("", ...credentials);
    const pem = store.credentials.caCertPem;
    if (pem !== undefined) caFiles[caFileName(pem)] = pem;
  }
  return { ok: true, config: { storesConf: `${storesLines.join("\n")}\n`, credentialsConf: `${credentialsLines.join("\n")}\n`, caFiles } };
}

function sectionLines(store: StoreToRender, options: readonly RenderedOption[]): { stores: string[]; credentials: string[] } {
  const heading = [...(store.source === undefined ? [] : [`# ${commentText(store.source)}`]), `[${store.storeId}]`];
  const credentials = options.filter((option) => option.credential);
  return {
    stores: [...heading, ...options.filter((option) => !option.credential).map(optionLine)],
    credentials: credentials.length === 0 ? [] : [...heading, ...credentials.map(optionLine)],
  };
}

/**
 * What one store's sections would hold (both files, without the comment
 * naming its object), or undefined when it cannot be rendered: lets the
 * controller tell whether Glance already runs a store exactly as its spec
 * and Secret say.
 */
export function renderedStoreText(store: StoreToRender): string | undefined {
  const { options, errors } = storeOptions(store);
  if (errors.length > 0) return undefined;
  const { source: _source, ...unnamed } = store;
  const { stores, credentials } = sectionLines(unnamed, options);
  return [...stores, "--", ...credentials, "--", store.credentials.caCertPem ?? ""].join("\n");
}

function targetErrors(stores: readonly StoreToRender[], others: readonly OtherStoreToRender[], defaultStoreId: string | undefined): RenderError[] {
  if (stores.length === 0) {
    return [{ code: "NoStores", message: "no store to render: Glance needs at least one store in enabled_backends and a default_backend", storeIds: [] }];
  }
  const errors: RenderError[] = [];
  const label = (store: StoreToRender): string => (store.source === undefined ? JSON.stringify(store.storeId) : `${JSON.stringify(store.storeId)} (${store.source})`);

  const defaults = stores.filter((store) => store.spec.default);
  if (defaultStoreId !== undefined) {
    if (!stores.some((store) => store.storeId === defaultStoreId) && !others.some((store) => store.id === defaultStoreId)) {
      errors.push({
        code: "DefaultNotAStore",
        message: `the target's default store ${JSON.stringify(defaultStoreId)} is neither a cinder store being rendered (${stores.map(label).join(", ")}) nor one of its other stores${others.length === 0 ? "" : ` (${others.map((store) => JSON.stringify(store.id)).join(", ")})`}: glance-api refuses to start with a default_backend it does not run`,
        storeIds: [defaultStoreId],
      });
    }
  } else if (defaults.length === 0) {
    errors.push({
      code: "NoDefault",
      message: `none of the stores ${stores.map(label).join(", ")} is the default: set spec.default: true on exactly one (glance-api refuses to start without [glance_store] default_backend)`,
      storeIds: uniqueSorted(stores.map((store) => store.storeId)),
    });
  } else if (defaults.length > 1) {
    errors.push({
      code: "SeveralDefaults",
      message: `stores ${defaults.map(label).join(", ")} are all marked default: exactly one store of a Glance may be`,
      storeIds: uniqueSorted(defaults.map((store) => store.storeId)),
    });
  }

  for (const store of stores) {
    const problem = storeIdProblem(store.storeId);
    if (problem !== undefined) errors.push({ code: problem.code, message: `${label(store)}: ${problem.message}`, storeIds: [store.storeId], field: "storeId" });
  }
  for (const store of others) {
    const problem = storeIdProblem(store.id);
    if (problem !== undefined) errors.push({ code: problem.code, message: `${store.type} store ${JSON.stringify(store.id)} of glance-api's main configuration: ${problem.message}`, storeIds: [store.id] });
  }

  const everyStore = [...stores.map((store) => ({ id: store.storeId, name: store.source ?? "unnamed" })), ...others.map((store) => ({ id: store.id, name: `${store.type} store of the main configuration` }))];
  const byId = groupBy(everyStore, (store) => store.id);
  for (const [id, group] of byId) {
    if (group.length > 1) {
      errors.push({ code: "DuplicateStoreId", message: `store id ${JSON.stringify(id)} is used by ${group.length} stores (${group.map((s) => s.name).join(", ")}): ids must be unique in a Glance`, storeIds: [id] });
    }
  }
  const byLowerCase = groupBy([...byId.keys()], (id) => id.toLowerCase());
  for (const [, ids] of byLowerCase) {
    if (ids.length > 1) {
      errors.push({
        code: "CaseCollidingStoreIds",
        message: `store ids ${ids.map((id) => JSON.stringify(id)).join(", ")} differ only by case: oslo.config reads sections lower-cased, so they would share one`,
        storeIds: uniqueSorted(ids),
      });
    }
  }
  // Only cinder ids share the cinder:// scheme in which a prefix is ambiguous.
  for (const [shorter, longer] of ambiguousStoreIdPrefixes([...new Set(stores.map((store) => store.storeId))])) {
    errors.push({
      code: "AmbiguousStoreIdPrefix",
      message: `store id ${JSON.stringify(shorter)} is a prefix of ${JSON.stringify(longer)}: Glance finds an image's store by the prefix cinder://<id>, so images of ${JSON.stringify(longer)} could be taken for ${JSON.stringify(shorter)}; rename one`,
      storeIds: [shorter, longer],
    });
  }
  return errors;
}

function storeOptions(store: StoreToRender): { options: RenderedOption[]; errors: RenderError[] } {
  const spec = store.spec;
  const errors: RenderError[] = [];
  const options: RenderedOption[] = [];
  const where = store.source === undefined ? `store ${JSON.stringify(store.storeId)}` : `store ${JSON.stringify(store.storeId)} (${store.source})`;
  const string = (name: string, field: string, value: string | undefined, credential = false): void => {
    if (value !== undefined) options.push({ name, field, credential, value: { kind: "string", value } });
  };
  const integer = (name: string, field: string, value: number): void => {
    options.push({ name, field, credential: false, value: { kind: "integer", value } });
  };
  const boolean = (name: string, field: string, value: boolean): void => {
    options.push({ name, field, credential: false, value: { kind: "boolean", value } });
  };

  string("store_description", "spec.description", spec.description);
  string("cinder_volume_type", "spec.volumeType", spec.volumeType);
  integer("weight", "spec.weight", spec.weight);
  string("cinder_catalog_info", "spec.catalogInfo", spec.catalogInfo);
  string("cinder_endpoint_template", "spec.endpointTemplate", spec.endpointTemplate);
  string("cinder_os_region_name", "spec.regionName", spec.regionName);
  const pem = store.credentials.caCertPem;
  if (pem !== undefined && spec.caCertificatesFile !== undefined) {
    errors.push({
      code: "CredentialsNotRenderable",
      message: `${where}: both spec.caCertificatesFile and the credentials Secret's caCert name a CA bundle; set only one (caCert is what the operator checks with and renders for Glance)`,
      storeIds: [store.storeId],
      field: "spec.caCertificatesFile",
    });
  }
  // The CA the operator checked Keystone and Cinder with is the one Glance gets: a file of the Secret, next to this one.
  if (pem !== undefined) string("cinder_ca_certificates_file", "credentials.caCert", `${GLANCE_CONF_DIR}/${caFileName(pem)}`, true);
  else string("cinder_ca_certificates_file", "spec.caCertificatesFile", spec.caCertificatesFile);
  boolean("cinder_api_insecure", "spec.apiInsecure", spec.apiInsecure);
  integer("cinder_http_retries", "spec.httpRetries", spec.httpRetries);
  integer("cinder_state_transition_timeout", "spec.stateTransitionTimeoutSeconds", spec.stateTransitionTimeoutSeconds);

  const auth = store.credentials.auth;
  string("cinder_store_auth_address", "credentials.authUrl", auth.authUrl, true);
  if (auth.kind === "password") {
    // glance_store authenticates by names only (cinder_store_user_domain_name, ...): an id alone cannot be passed on.
    const byName = (key: "userDomainName" | "projectName" | "projectDomainName", idKey: "userDomainId" | "projectId" | "projectDomainId", option: string): void => {
      const name = auth[key];
      if (name === undefined) {
        const only = auth[idKey] === undefined ? "" : ` (only ${idKey})`;
        errors.push({
          code: "CredentialsNotRenderable",
          message: `${where}: the credentials have no ${key}${only}, and glance_store takes it by name only (${option}): add ${key} to the credentials Secret`,
          storeIds: [store.storeId],
          field: `credentials.${key}`,
        });
      }
      string(option, `credentials.${key}`, name, true);
    };
    string("cinder_store_user_name", "credentials.username", auth.username, true);
    byName("userDomainName", "userDomainId", "cinder_store_user_domain_name");
    byName("projectName", "projectId", "cinder_store_project_name");
    byName("projectDomainName", "projectDomainId", "cinder_store_project_domain_name");
    string("cinder_store_password", "credentials.password", auth.password, true);
  } else {
    string("cinder_store_application_credential_id", "credentials.applicationCredentialId", auth.applicationCredentialId, true);
    string("cinder_store_application_credential_secret", "credentials.applicationCredentialSecret", auth.applicationCredentialSecret, true);
  }

  string("rootwrap_config", "spec.rootwrapConfig", spec.rootwrapConfig);
  boolean("cinder_use_multipath", "spec.useMultipath", spec.useMultipath);
  boolean("cinder_enforce_multipath", "spec.enforceMultipath", spec.enforceMultipath);
  string("cinder_mount_point_base", "spec.mountPointBase", spec.mountPointBase);
  boolean("cinder_do_extend_attached", "spec.doExtendAttached", spec.doExtendAttached);

  const modelled: ReadonlySet<string> = new Set([...MODELLED_OPTION_NAMES, ...(store.asRunning === true ? [] : Object.keys(MODELLED_OPTION_ALIASES))]);
  for (const name of Object.keys(spec.extraOptions ?? {}).sort(compare)) {
    const field = `spec.extraOptions.${name}`;
    // The zod schema refuses these too; checked again because this file must never carry a secret or a broken line.
    if (!OPTION_NAME_PATTERN.test(name) || modelled.has(name) || SECRET_LOOKING_OPTION.test(name)) {
      errors.push({
        code: "InvalidOptionName",
        message: `${where}: ${field} is not allowed: extra options must be oslo option names that no field models and that do not look like secrets`,
        storeIds: [store.storeId],
        field,
      });
      continue;
    }
    string(name, field, spec.extraOptions?.[name]);
  }

  for (const option of options) {
    if (option.value.kind !== "string") continue;
    const reason = unrepresentableReason(option.value.value);
    if (reason !== undefined) {
      errors.push({
        code: "UnrepresentableValue",
        message: `${where}: ${option.field} ${describeUnrepresentable(reason)}; it cannot be written as ${option.name} without changing it`,
        storeIds: [store.storeId],
        field: option.field,
      });
    }
  }
  return { options, errors };
}

function optionLine(option: RenderedOption): string {
  const value = option.value;
  const text = value.kind === "string" ? encodeOsloString(value.value) : value.kind === "integer" ? encodeOsloInteger(value.value) : encodeOsloBoolean(value.value);
  return `${option.name} = ${text}`;
}

/** A comment stays one line whatever the source name holds. */
function commentText(text: string): string {
  return text.replace(/[\x00-\x1F\x7F]/g, "?");
}

/** Code-unit order, the same on every machine (localeCompare is not): the order of enabled_backends. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function uniqueSorted(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compare);
}

