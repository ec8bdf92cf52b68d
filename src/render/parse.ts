import type { ResolvedCredentials } from "../api/credentials.js";
import { ResolvedCredentialsSchema } from "../api/credentials.js";
import { GlanceStoreSpecSchema, type GlanceStoreSpec } from "../api/glancestore.js";
import { GLANCE_CONF_DIR } from "./glance-paths.js";
import { isCaFileName } from "./render.js";

/**
 * Reads back what renderStoresConfig wrote: the stores a target's ConfigMap
 * and Secret carry right now. The controller needs this memory to keep a
 * rendered store exactly as it was (rule 2, docs/foundations.md) when its
 * Secret or Keystone is broken, across operator restarts, with nothing but
 * the cluster's own objects to remember it by. It reads the format of every
 * release (credentials once sat in the stores file) by merging both files.
 *
 * It reads only the operator's own format (quoted strings, the `$`
 * escapes of oslo-value.ts); anything else is refused rather than guessed.
 */

/** A store's options as rendered; its spec lacks credentialsSecretRef and target, which the files do not hold. */
export interface RenderedStore {
  readonly storeId: string;
  readonly isDefault: boolean;
  readonly spec: Omit<GlanceStoreSpec, "credentialsSecretRef" | "target">;
  readonly credentials: ResolvedCredentials;
  /** Fields an earlier release rendered that today's rules refuse for new input: kept as they are while Glance runs the store. */
  readonly refusedToday?: readonly string[];
}

/** A store that enabled_backends names but whose sections cannot be read back whole. */
export interface UnreadableStore {
  readonly storeId: string;
  /** Why, naming options or fields but never a value. */
  readonly message: string;
}

export type ParseRenderedResult =
  | {
      readonly ok: true;
      /** Every cinder store Glance runs with these files, in enabled_backends order (the order glance_store configures them in). */
      readonly storeIds: readonly string[];
      /** The other stores enabled_backends names (their sections are in glance-api's main configuration), in its order. */
      readonly otherStores: readonly { readonly id: string; readonly type: string }[];
      readonly defaultStoreId: string | undefined;
      /** The stores that read back whole, in enabled_backends order. */
      readonly stores: readonly RenderedStore[];
      /** The others: one broken section does not discard the rest. */
      readonly unreadable: readonly UnreadableStore[];
    }
  | { readonly ok: false; readonly message: string };

type Sections = Map<string, Map<string, string>>;

/**
 * Reads both files as oslo.config merges them: per section and option, the
 * file read later wins, and glance-api reads a config directory in sorted
 * order (the credentials file sorts before the stores file). `files` are
 * the Secret's other keys, for CA bundles the options point at.
 */
export function parseRenderedConfig(storesConf: string, credentialsConf: string | undefined, files: Readonly<Record<string, string>> = {}): ParseRenderedResult {
  let options: Sections;
  try {
    options = readSections(storesConf, "stores file");
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  let secrets: Sections = new Map();
  let credentialsProblem: string | undefined;
  if (credentialsConf === undefined) {
    credentialsProblem = "the rendered Secret is missing";
  } else {
    try {
      secrets = readSections(credentialsConf, "credentials file");
    } catch (error) {
      credentialsProblem = (error as Error).message;
    }
  }
  const backends = options.get("DEFAULT")?.get("enabled_backends");
  if (backends === undefined) return { ok: false, message: "the stores file has no [DEFAULT] enabled_backends" };
  const storeIds: string[] = [];
  const otherStores: { id: string; type: string }[] = [];
  for (const entry of backends.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const [id, type, ...rest] = entry.split(":").map((part) => part.trim());
    if (!id || !type || rest.length > 0) return { ok: false, message: `enabled_backends entry ${JSON.stringify(entry)} is not <id>:<type>` };
    if (type === "cinder") storeIds.push(id);
    else otherStores.push({ id, type });
  }
  const defaultStoreId = options.get("glance_store")?.get("default_backend");
  const stores: RenderedStore[] = [];
  const unreadable: UnreadableStore[] = [];
  for (const id of storeIds) {
    try {
      const merged = new Map([...(secrets.get(id) ?? []), ...(options.get(id) ?? [])]);
      if (options.get(id) === undefined && secrets.get(id) === undefined) throw new Error(`store ${JSON.stringify(id)} is in enabled_backends but has no section`);
      stores.push(readStore(id, merged, defaultStoreId === id, files));
    } catch (error) {
      const message = (error as Error).message;
      unreadable.push({ storeId: id, message: credentialsProblem === undefined ? message : `${message} (${credentialsProblem})` });
    }
  }
  return { ok: true, storeIds, otherStores, defaultStoreId, stores, unreadable };
}

function readSections(text: string, what: string): Sections {
  const sections: Sections = new Map();
  let current: Map<string, string> | undefined;
  for (const [index, rawLine] of text.split("\n").entries()) {
    const line = rawLine.trimEnd();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([^\]]+)\]$/s.exec(line);
    if (header) {
      const name = header[1] as string;
      current = sections.get(name) ?? new Map<string, string>();
      sections.set(name, current);
      continue;
    }
    const option = /^([a-z][a-z0-9_]*) = (.*)$/s.exec(line);
    if (!option || current === undefined) throw new Error(`${what} line ${index + 1} is not an option of a section`);
    current.set(option[1] as string, decodeRenderedValue(option[2] as string));
  }
  return sections;
}

/** The inverse of encodeOsloString for quoted values; unquoted values (numbers, booleans) as they are. */
export function decodeRenderedValue(text: string): string {
  if (!(text.length >= 2 && text.startsWith('"') && text.endsWith('"'))) return text;
  const inner = text.slice(1, -1);
  let out = "";
  for (let index = 0; index < inner.length; index += 1) {
    const char = inner[index];
    const next = inner[index + 1];
    if (char === "$") {
      if (next !== "$") throw new Error("a lone $ in a rendered value");
      out += "$";
      index += 1;
    } else if (char === "\\" && next === "$") {
      // The escape written for a $ that follows a backslash (the backslash itself came just before).
      out += "$";
      index += 1;
    } else {
      out += char;
    }
  }
  return out;
}

const STRING_FIELDS = {
  store_description: "description",
  cinder_volume_type: "volumeType",
  cinder_catalog_info: "catalogInfo",
  cinder_endpoint_template: "endpointTemplate",
  cinder_os_region_name: "regionName",
  cinder_ca_certificates_file: "caCertificatesFile",
  rootwrap_config: "rootwrapConfig",
  cinder_mount_point_base: "mountPointBase",
} as const;

const INTEGER_FIELDS = {
  weight: "weight",
  cinder_http_retries: "httpRetries",
  cinder_state_transition_timeout: "stateTransitionTimeoutSeconds",
} as const;

const BOOLEAN_FIELDS = {
  cinder_api_insecure: "apiInsecure",
  cinder_use_multipath: "useMultipath",
  cinder_enforce_multipath: "enforceMultipath",
  cinder_do_extend_attached: "doExtendAttached",
} as const;

const CREDENTIAL_OPTIONS = new Set([
  "cinder_store_password",
  "cinder_store_application_credential_secret",
  "cinder_store_auth_address",
  "cinder_store_user_name",
  "cinder_store_user_domain_name",
  "cinder_store_project_name",
  "cinder_store_project_domain_name",
  "cinder_store_application_credential_id",
]);

function readStore(id: string, options: Map<string, string>, isDefault: boolean, files: Readonly<Record<string, string>>): RenderedStore {
  const spec: Record<string, unknown> = { default: isDefault };
  let caCertPem: string | undefined;
  const caPath = options.get("cinder_ca_certificates_file");
  if (caPath !== undefined && caPath.startsWith(`${GLANCE_CONF_DIR}/`) && isCaFileName(caPath.slice(GLANCE_CONF_DIR.length + 1))) {
    caCertPem = files[caPath.slice(GLANCE_CONF_DIR.length + 1)];
    if (caCertPem === undefined) throw new Error(`store ${JSON.stringify(id)} names the CA bundle ${caPath}, which the rendered Secret lacks`);
  }
  const extraOptions: Record<string, string> = {};
  for (const [name, value] of options) {
    if (name === "cinder_ca_certificates_file" && caCertPem !== undefined) continue;
    if (name in STRING_FIELDS) spec[STRING_FIELDS[name as keyof typeof STRING_FIELDS]] = value;
    else if (name in INTEGER_FIELDS) spec[INTEGER_FIELDS[name as keyof typeof INTEGER_FIELDS]] = integer(id, name, value);
    else if (name in BOOLEAN_FIELDS) spec[BOOLEAN_FIELDS[name as keyof typeof BOOLEAN_FIELDS]] = boolean(id, name, value);
    else if (!CREDENTIAL_OPTIONS.has(name)) extraOptions[name] = value;
  }
  if (Object.keys(extraOptions).length > 0) spec["extraOptions"] = extraOptions;

  const authUrl = options.get("cinder_store_auth_address");
  const applicationCredentialId = options.get("cinder_store_application_credential_id");
  const auth =
    applicationCredentialId !== undefined
      ? { kind: "applicationCredential", authUrl, applicationCredentialId, applicationCredentialSecret: options.get("cinder_store_application_credential_secret") }
      : {
          kind: "password",
          authUrl,
          username: options.get("cinder_store_user_name"),
          password: options.get("cinder_store_password"),
          userDomainName: options.get("cinder_store_user_domain_name"),
          projectName: options.get("cinder_store_project_name"),
          projectDomainName: options.get("cinder_store_project_domain_name"),
        };
  const credentials = ResolvedCredentialsSchema.safeParse({ auth: dropUndefined(auth), ...(caCertPem === undefined ? {} : { caCertPem }) });
  if (!credentials.success) {
    // The issue names fields only, never values: the password may be among them.
    const fields = [...new Set(credentials.error.issues.map((issue) => issue.path.join(".")))].join(", ");
    throw new Error(`store ${JSON.stringify(id)} has incomplete rendered credentials (${fields})`);
  }
  // Validated as a spec would be, so a hand edit that broke a value is refused here, not rendered again.
  const parsed = GlanceStoreSpecSchema.safeParse({ ...spec, credentialsSecretRef: { name: "rendered" } });
  if (parsed.success) {
    const { credentialsSecretRef: _ref, target: _target, ...options_ } = parsed.data;
    return { storeId: id, isDefault, spec: options_, credentials: credentials.data };
  }
  // Rules added for new input since the store was rendered (an older option name in extraOptions, user
  // information in endpointTemplate) must not make the operator forget a store Glance runs: it is kept as it was.
  const paths = parsed.error.issues.map((issue) => String(issue.path[0] ?? ""));
  if (paths.every((field) => (NEWER_RULES as readonly string[]).includes(field))) {
    const { extraOptions, endpointTemplate, ...checked } = spec;
    const rest = GlanceStoreSpecSchema.safeParse({ ...checked, credentialsSecretRef: { name: "rendered" } });
    if (rest.success) {
      const { credentialsSecretRef: _ref, target: _target, ...options_ } = rest.data;
      return {
        storeId: id,
        isDefault,
        spec: { ...options_, ...(extraOptions === undefined ? {} : { extraOptions: extraOptions as Record<string, string> }), ...(endpointTemplate === undefined ? {} : { endpointTemplate: endpointTemplate as string }) },
        credentials: credentials.data,
        refusedToday: [...new Set(paths)],
      };
    }
  }
  const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".")))].join(", ");
  throw new Error(`store ${JSON.stringify(id)} has rendered options that are not valid (${fields})`);
}

/** Fields whose admission rules are stricter than those of earlier releases. */
const NEWER_RULES = ["extraOptions", "endpointTemplate"] as const;

function integer(id: string, name: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new Error(`store ${JSON.stringify(id)}: ${name} is not an integer`);
  return Number(value);
}

function boolean(id: string, name: string, value: string): boolean {
  if (value !== "true" && value !== "false") throw new Error(`store ${JSON.stringify(id)}: ${name} is not true or false`);
  return value === "true";
}

function dropUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
