import { MODELLED_OPTION_NAMES, OPTION_NAME_PATTERN, SECRET_LOOKING_OPTION } from "../api/glancestore.js";
import { OTHER_STORE_TYPES, type OtherStoreType } from "../api/glancestoretarget.js";
import { storeIdProblem } from "../api/store-id.js";
import { normalizeSectionName, pythonStrip, osloBoolean, osloDict, osloInteger, osloList, osloStringValue, type IniFile, type IniOption, type IniSection } from "./ini.js";

/**
 * What an existing glance-api.conf says about Glance's stores, as this
 * operator models them: its cinder stores (each option mapped to a
 * GlanceStore field, an extra option or a credentials Secret key), the
 * stores of other drivers, the default, and findings about every
 * store-related option it did not carry over. Pure.
 *
 * Only store-related options are read: `[DEFAULT] enabled_backends`,
 * `[glance_store]`, and the sections of the stores enabled_backends names.
 * Everything else in the file belongs to Glance itself (database,
 * keystone_authtoken, paste_deploy, Glance's own reserved stores
 * os_glance_*, ...) and stays in the main file, unread and unmentioned.
 */

/** GlanceStore spec fields that a cinder option maps to, with the option's oslo type. */
export const FIELD_OPTIONS = {
  store_description: { field: "description", kind: "string" },
  cinder_volume_type: { field: "volumeType", kind: "string" },
  cinder_catalog_info: { field: "catalogInfo", kind: "string" },
  cinder_endpoint_template: { field: "endpointTemplate", kind: "string" },
  cinder_os_region_name: { field: "regionName", kind: "string" },
  cinder_ca_certificates_file: { field: "caCertificatesFile", kind: "string" },
  cinder_http_retries: { field: "httpRetries", kind: "integer" },
  cinder_state_transition_timeout: { field: "stateTransitionTimeoutSeconds", kind: "integer" },
  cinder_api_insecure: { field: "apiInsecure", kind: "boolean" },
  rootwrap_config: { field: "rootwrapConfig", kind: "string" },
  cinder_use_multipath: { field: "useMultipath", kind: "boolean" },
  cinder_enforce_multipath: { field: "enforceMultipath", kind: "boolean" },
  cinder_mount_point_base: { field: "mountPointBase", kind: "string" },
  cinder_do_extend_attached: { field: "doExtendAttached", kind: "boolean" },
  weight: { field: "weight", kind: "integer" },
} as const;

export type FieldOption = keyof typeof FIELD_OPTIONS;
export type SpecField = (typeof FIELD_OPTIONS)[FieldOption]["field"];

/** Older names glance_store still reads for a modelled option (its deprecated_name), mapped to the option. */
const OPTION_ALIASES: Readonly<Record<string, FieldOption>> = { os_region_name: "cinder_os_region_name" };

/** The credentials Secret keys (src/api/credentials.ts) that cinder_store_* options fill. */
export const CREDENTIAL_OPTIONS = {
  cinder_store_auth_address: "authUrl",
  cinder_store_user_name: "username",
  cinder_store_password: "password",
  cinder_store_project_name: "projectName",
  cinder_store_user_domain_name: "userDomainName",
  cinder_store_project_domain_name: "projectDomainName",
  cinder_store_application_credential_id: "applicationCredentialId",
  cinder_store_application_credential_secret: "applicationCredentialSecret",
} as const;

export type CredentialOption = keyof typeof CREDENTIAL_OPTIONS;
export type CredentialKey = (typeof CREDENTIAL_OPTIONS)[CredentialOption];
export const SECRET_CREDENTIAL_KEYS: ReadonlySet<CredentialKey> = new Set(["password", "applicationCredentialSecret"]);

/** Which driver reads an option, by its name (glance_store 4.1 and later). */
const DRIVER_OPTION_PATTERNS: readonly [OtherStoreType | "cinder", RegExp][] = [
  ["cinder", /^(cinder_|rootwrap_config$)/],
  ["file", /^filesystem_/],
  ["http", /^(https_ca_certificates_file|https_insecure|http_proxy_information)$/],
  ["rbd", /^(rbd_|rados_connect_timeout$)/],
  ["s3", /^s3_store_/],
  ["swift", /^(swift_|default_swift_reference$)/],
  ["vmware", /^vmware_/],
];

export function driverOfOption(name: string): OtherStoreType | "cinder" | undefined {
  return DRIVER_OPTION_PATTERNS.find(([, pattern]) => pattern.test(name))?.[0];
}

/** glance_store's own options of [glance_store], read by Glance whatever its stores. */
const GENERAL_STORE_OPTIONS = new Set(["stores", "default_store", "default_backend", "store_capabilities_update_min_interval"]);

/** Names of drivers in the legacy `stores` list: glance_store's entry points, the short and the old class-path forms. */
const LEGACY_STORE_NAMES: Readonly<Record<string, OtherStoreType | "cinder">> = {
  cinder: "cinder",
  file: "file",
  http: "http",
  rbd: "rbd",
  s3: "s3",
  swift: "swift",
  vmware: "vmware",
  "glance.store.cinder.Store": "cinder",
  "glance.store.filesystem.Store": "file",
  "glance.store.http.Store": "http",
  "glance.store.rbd.Store": "rbd",
  "glance.store.s3.Store": "s3",
  "glance.store.swift.Store": "swift",
  "glance.store.vmware_datastore.Store": "vmware",
};

/** The legacy `default_store` is a URL scheme (its oslo choices), mapped to the driver that registers it. */
const LEGACY_DEFAULT_SCHEMES: Readonly<Record<string, OtherStoreType | "cinder">> = {
  file: "file",
  filesystem: "file",
  http: "http",
  https: "http",
  swift: "swift",
  "swift+http": "swift",
  "swift+https": "swift",
  "swift+config": "swift",
  rbd: "rbd",
  cinder: "cinder",
  vsphere: "vmware",
  s3: "s3",
};

/** Store ids for the legacy non-cinder stores when the driver's name cannot be one. */
const LEGACY_ID_FALLBACK: Readonly<Record<string, string>> = { file: "local" };

export type FindingKind =
  /** The file cannot be migrated (exit 1). */
  | "error"
  /** Migrated, but something changes or may go wrong. */
  | "warning"
  /** A store-related option that is not carried over. */
  | "not-migrated"
  /** Carried over as a GlanceStore extra option, unchecked by the operator. */
  | "carried"
  /** How something was migrated. */
  | "note";

export interface Finding {
  readonly kind: FindingKind;
  /** `[section] option`, when the finding is about one. */
  readonly section?: string;
  readonly option?: string;
  /** Never holds a value that could be secret. */
  readonly message: string;
}

export type SpecValues = { -readonly [F in SpecField]?: string | number | boolean };

export interface SourceCinderStore {
  /** The store id: the section's id in a multi-store config; undefined for a legacy store (decided with its volume type). */
  readonly storeId: string | undefined;
  /** The section its options were read from, as written: `glance_store` for a legacy store. */
  readonly section: string;
  readonly fields: SpecValues;
  readonly extraOptions: Readonly<Record<string, string>>;
  /** Credentials Secret keys from cinder_store_* options; values only in here. */
  readonly credentials: Readonly<Partial<Record<CredentialKey, string>>>;
  readonly isDefault: boolean;
  /** Its position among the cinder stores of the file (enabled_backends order). */
  readonly position: number;
}

export interface SourceOtherStore {
  readonly id: string;
  readonly type: OtherStoreType;
  /** Legacy: the options of [glance_store] its driver reads, which a multi-store Glance reads from the store's own section. */
  readonly moveOptions: readonly { readonly name: string; readonly value: string; readonly secret: boolean }[];
}

/** A section (whole, without `option`) or an option of the main file. */
export interface MainConfigItem {
  readonly section: string;
  readonly option?: string;
}

export interface SourceModel {
  readonly mode: "legacy" | "multi";
  /** In the file's order (enabled_backends; the one legacy store). */
  readonly cinder: readonly SourceCinderStore[];
  readonly others: readonly SourceOtherStore[];
  /** The default store's id when it is not a cinder store (a cinder default is `isDefault` on the store). */
  readonly otherDefault: string | undefined;
  /** What the file says about stores, for the report: `stores = cinder, file`, `enabled_backends = ...`. */
  readonly summary: string;
  readonly findings: readonly Finding[];
  /** The store sections and options a user removes from glance-api.conf once the operator's files are mounted. */
  readonly removeFromMain: readonly MainConfigItem[];
  /** Every secret value of the file (passwords, secrets, secret-looking options): scrubbed from every message as a second line of defence. */
  readonly secretValues: readonly string[];
}

export type ReadResult = { readonly ok: true; readonly model: SourceModel } | { readonly ok: false; readonly errors: readonly Finding[]; readonly findings: readonly Finding[] };

function isSecretOption(name: string): boolean {
  return SECRET_LOOKING_OPTION.test(name) || (name in CREDENTIAL_OPTIONS && SECRET_CREDENTIAL_KEYS.has(CREDENTIAL_OPTIONS[name as CredentialOption]));
}

/** Reads the store configuration of a parsed glance-api.conf. */
export function readGlanceConfig(file: IniFile): ReadResult {
  const findings: Finding[] = [];
  const secretValues: string[] = [];
  for (const section of file.sections.values()) {
    for (const option of section.options.values()) {
      if (!isSecretOption(option.name) || option.raw === "") continue;
      const value = osloStringValue(option.raw);
      secretValues.push(option.raw, ...(value.ok ? [value.value] : []));
    }
  }
  const defaults = file.sections.get("DEFAULT");
  let enabledBackends = defaults?.options.get("enabled_backends");
  if (enabledBackends !== undefined && pythonStrip(enabledBackends.raw) === "" && !enabledBackends.continued) {
    // An empty dict: Glance runs single-store, as without the option.
    findings.push({ kind: "note", section: defaults?.name ?? "DEFAULT", option: "enabled_backends", message: "empty, so Glance runs a single store from [glance_store]: read as such" });
    enabledBackends = undefined;
  }
  const read = enabledBackends !== undefined ? readMulti(file, enabledBackends, findings) : readLegacy(file, findings);
  const errors = findings.filter((finding) => finding.kind === "error");
  if (read === undefined || errors.length > 0) return { ok: false, errors, findings };
  if (defaults !== undefined) {
    for (const option of defaults.options.values()) {
      if (driverOfOption(option.name) === "cinder" || option.name === "stores" || option.name === "default_store") {
        findings.push({
          kind: "not-migrated",
          section: defaults.name,
          option: option.name,
          message: "glance_store does not read store options from [DEFAULT] (they belong in [glance_store], or a multi-store config's store section): not migrated",
        });
      }
    }
  }
  return { ok: true, model: { ...read, findings, secretValues: [...new Set(secretValues)] } };
}

type ModelCore = Omit<SourceModel, "findings" | "secretValues">;

function readMulti(file: IniFile, enabledBackends: IniOption, findings: Finding[]): ModelCore | undefined {
  const where = { section: "DEFAULT", option: "enabled_backends" };
  const text = stringValue(enabledBackends, "DEFAULT", findings);
  if (text === undefined) return undefined;
  const dict = osloDict(text);
  if (!dict.ok) {
    findings.push({ kind: "error", ...where, message: `enabled_backends cannot be read: ${dict.message} (oslo.config refuses it too)` });
    return undefined;
  }
  if (dict.entries.length === 0) {
    findings.push({ kind: "error", ...where, message: "enabled_backends is empty: there is no store to migrate" });
    return undefined;
  }
  const glanceStore = file.sections.get("glance_store");
  const cinder: SourceCinderStore[] = [];
  const others: SourceOtherStore[] = [];
  const removeFromMain: MainConfigItem[] = [{ section: file.sections.get("DEFAULT")?.name ?? "DEFAULT", option: "enabled_backends" }];
  if (glanceStore?.options.has("default_backend")) removeFromMain.push({ section: glanceStore.name, option: "default_backend" });
  for (const [id, type] of dict.entries) {
    if (type === "cinder") {
      const section = file.sections.get(normalizeSectionName(id));
      const store = readCinderSection(section, section?.name ?? id, id, cinder.length, findings, "multi");
      cinder.push(store);
      if (section !== undefined) removeFromMain.push({ section: section.name });
    } else if ((OTHER_STORE_TYPES as readonly string[]).includes(type)) {
      others.push({ id, type: type as OtherStoreType, moveOptions: [] });
    } else {
      findings.push({ kind: "error", ...where, message: `store ${JSON.stringify(id)} has the type ${JSON.stringify(type)}, which is neither cinder nor one this operator keeps beside its stores (${OTHER_STORE_TYPES.join(", ")})` });
    }
  }
  for (const store of [...cinder.map((s) => s.storeId ?? ""), ...others.map((s) => s.id)]) {
    const problem = storeIdProblem(store);
    if (problem !== undefined) findings.push({ kind: "error", ...where, message: `${problem.message}: this operator cannot run a store with that id, and images recorded under it (cinder://${store}/...) would not be found under another` });
  }
  if (cinder.length === 0) {
    findings.push({ kind: "error", ...where, message: "enabled_backends names no cinder store: there is nothing for this operator to run (it runs cinder stores; others stay in the main file)" });
  }

  const defaultOption = glanceStore?.options.get("default_backend");
  const defaultId = defaultOption === undefined ? undefined : stringValue(defaultOption, "glance_store", findings);
  let otherDefault: string | undefined;
  if (defaultId === undefined || defaultId === "") {
    findings.push({ kind: "error", section: "glance_store", option: "default_backend", message: "[glance_store] default_backend is unset: glance-api does not start without it, so this file cannot be what Glance runs; set it and migrate again" });
  } else if (cinder.some((store) => store.storeId === defaultId)) {
    const index = cinder.findIndex((store) => store.storeId === defaultId);
    cinder[index] = { ...(cinder[index] as SourceCinderStore), isDefault: true };
  } else if (others.some((store) => store.id === defaultId)) {
    otherDefault = defaultId;
  } else {
    findings.push({ kind: "error", section: "glance_store", option: "default_backend", message: `default_backend ${JSON.stringify(defaultId)} is not a store of enabled_backends: glance-api does not start with it` });
  }

  // Legacy store options next to enabled_backends: a multi-store Glance does not read them.
  for (const option of glanceStore?.options.values() ?? []) {
    if (GENERAL_STORE_OPTIONS.has(option.name) && option.name !== "stores" && option.name !== "default_store") continue;
    const driver = driverOfOption(option.name);
    if (option.name === "stores" || option.name === "default_store" || driver === "cinder" || option.name in OPTION_ALIASES) {
      findings.push({ kind: "not-migrated", section: glanceStore?.name ?? "glance_store", option: option.name, message: "a single-store option, which a multi-store Glance (enabled_backends set) does not read: not migrated; remove it from the main file" });
      removeFromMain.push({ section: glanceStore?.name ?? "glance_store", option: option.name });
    }
  }
  // Sections with cinder options that enabled_backends does not name: Glance ignores them.
  const named = new Set(dict.entries.map(([id]) => normalizeSectionName(id)));
  for (const [key, section] of file.sections) {
    if (key === "DEFAULT" || key === "glance_store" || named.has(key) || key.startsWith("os_glance_")) continue;
    const cinderOptions = [...section.options.keys()].filter((name) => name.startsWith("cinder_store_") || name === "cinder_volume_type");
    if (cinderOptions.length > 0) {
      findings.push({ kind: "not-migrated", section: section.name, message: `has cinder store options (${cinderOptions.join(", ")}) but enabled_backends does not name it: Glance does not run it; not migrated` });
    }
  }
  const summary = `multi-store: enabled_backends = ${dict.entries.map(([id, type]) => `${id}:${type}`).join(", ")}; default_backend = ${defaultId ?? "(unset)"}`;
  return { mode: "multi", cinder, others, otherDefault, summary, removeFromMain };
}

function readLegacy(file: IniFile, findings: Finding[]): ModelCore | undefined {
  const glanceStore = file.sections.get("glance_store");
  const sectionName = glanceStore?.name ?? "glance_store";
  if (glanceStore === undefined) {
    findings.push({ kind: "error", message: "neither [DEFAULT] enabled_backends nor a [glance_store] section: this file configures no store (glance_store's defaults, file and http, have no cinder store to migrate)" });
    return undefined;
  }
  const storesOption = glanceStore.options.get("stores");
  const defaultOption = glanceStore.options.get("default_store");
  const defaultText = defaultOption === undefined ? undefined : stringValue(defaultOption, sectionName, findings);
  const defaultDriver = defaultText === undefined ? undefined : LEGACY_DEFAULT_SCHEMES[defaultText];
  if (defaultText !== undefined && defaultDriver === undefined) {
    findings.push({ kind: "error", section: sectionName, option: "default_store", message: `default_store ${JSON.stringify(defaultText)} is not one of its choices (${Object.keys(LEGACY_DEFAULT_SCHEMES).join(", ")}): oslo.config refuses it` });
    return undefined;
  }

  const drivers: (OtherStoreType | "cinder")[] = [];
  if (storesOption === undefined) {
    if (defaultDriver === undefined) {
      findings.push({ kind: "error", section: sectionName, message: "neither stores nor default_store is set: glance_store then runs its defaults, file and http, and no cinder store" });
      return undefined;
    }
    drivers.push(defaultDriver);
    findings.push({
      kind: "note",
      section: sectionName,
      option: "stores",
      message: `stores is unset, so glance_store's default (file, http) applies, which does not register the default store's scheme: migrated the default store (${defaultDriver}) alone; if Glance also serves other stores, list them in stores and migrate again`,
    });
  } else {
    const text = stringValue(storesOption, sectionName, findings);
    if (text === undefined) return undefined;
    for (const name of osloList(text)) {
      const driver = LEGACY_STORE_NAMES[name];
      if (driver === undefined) {
        findings.push({ kind: "error", section: sectionName, option: "stores", message: `the store ${JSON.stringify(name)} is not a glance_store driver this migration knows (${Object.keys(LEGACY_STORE_NAMES).join(", ")})` });
        continue;
      }
      if (!drivers.includes(driver)) drivers.push(driver);
    }
  }
  if (!drivers.includes("cinder")) {
    findings.push({ kind: "error", section: sectionName, option: "stores", message: "there is no cinder store among stores: there is nothing for this operator to run" });
    return undefined;
  }
  let defaultStore = defaultDriver;
  if (defaultStore === undefined) {
    if (drivers.includes("file")) {
      defaultStore = "file";
      findings.push({ kind: "note", section: sectionName, option: "default_store", message: "default_store is unset: glance_store's default, file, is the default store, and stays so" });
    } else {
      findings.push({ kind: "error", section: sectionName, option: "default_store", message: "default_store is unset and glance_store's default, file, is not among stores: glance-api could not start with this file; set default_store and migrate again" });
      return undefined;
    }
  } else if (!drivers.includes(defaultStore)) {
    findings.push({ kind: "error", section: sectionName, option: "default_store", message: `default_store names a ${defaultStore} store, which is not among stores: glance-api could not start with this file` });
    return undefined;
  }

  const cinder = readCinderSection(glanceStore, sectionName, undefined, 0, findings, "legacy");
  const others: SourceOtherStore[] = [];
  let otherDefault: string | undefined;
  for (const driver of drivers) {
    if (driver === "cinder") continue;
    const id = storeIdProblem(driver) === undefined ? driver : (LEGACY_ID_FALLBACK[driver] ?? `${driver}_store`);
    if (id !== driver) {
      findings.push({
        kind: "note",
        section: sectionName,
        option: "stores",
        message: `the legacy ${driver} store becomes the store ${JSON.stringify(id)}: ${JSON.stringify(driver)} is the name of an option group glance-api already uses, so it cannot be a store id`,
      });
    }
    const moveOptions = [...glanceStore.options.values()]
      .filter((option) => driverOfOption(option.name) === driver)
      .map((option) => ({ name: option.name, value: option.raw, secret: isSecretOption(option.name) }));
    others.push({ id, type: driver, moveOptions });
    if (driver === defaultStore) otherDefault = id;
  }
  for (const option of glanceStore.options.values()) {
    const driver = driverOfOption(option.name);
    if (driver === undefined || driver === "cinder" || drivers.includes(driver)) continue;
    findings.push({ kind: "not-migrated", section: sectionName, option: option.name, message: `an option of the ${driver} driver, which is not among stores: Glance does not use it; not migrated` });
  }
  const removeFromMain: MainConfigItem[] = [
    ...["stores", "default_store"].filter((name) => glanceStore.options.has(name)).map((option) => ({ section: sectionName, option })),
    ...[...glanceStore.options.keys()].filter((name) => driverOfOption(name) === "cinder" || name in OPTION_ALIASES).map((option) => ({ section: sectionName, option })),
    ...others.flatMap((store) => store.moveOptions.map((option) => ({ section: sectionName, option: `${option.name} (moved to [${store.id}])` }))),
  ];
  const summary = `single store (legacy): stores = ${drivers.join(", ")}; default_store = ${defaultText ?? "(unset: file)"}`;
  return { mode: "legacy", cinder: [{ ...cinder, isDefault: defaultStore === "cinder" }], others, otherDefault, summary, removeFromMain };
}

/**
 * The options of one cinder store: a multi-store store's section, or the
 * cinder options of a legacy [glance_store].
 */
function readCinderSection(section: IniSection | undefined, sectionName: string, storeId: string | undefined, position: number, findings: Finding[], mode: "legacy" | "multi"): SourceCinderStore {
  const fields: SpecValues = {};
  const extraOptions: Record<string, string> = {};
  const credentials: Partial<Record<CredentialKey, string>> = {};
  const modelled: ReadonlySet<string> = new Set(MODELLED_OPTION_NAMES);
  if (section === undefined) {
    findings.push({ kind: "note", section: sectionName, message: `enabled_backends names the cinder store ${JSON.stringify(storeId)} but the file has no [${sectionName}] section: migrated with glance_store's defaults` });
  }
  const options = [...(section?.options.values() ?? [])];
  const aliasTargets = new Set(options.map((option) => option.name));
  for (const option of options) {
    const name = option.name;
    const at = { section: sectionName, option: name };
    if (section?.repeated.has(name)) findings.push({ kind: "note", ...at, message: "given more than once in the section: the last one counts, as in oslo.config" });
    if (mode === "legacy") {
      // [glance_store] holds every driver's options and glance_store's general ones: only the cinder store's are read here.
      if (GENERAL_STORE_OPTIONS.has(name)) continue;
      const driver = driverOfOption(name);
      if (driver !== undefined && driver !== "cinder") continue;
      if (driver === undefined && !(name in OPTION_ALIASES) && !(name in FIELD_OPTIONS)) {
        findings.push({ kind: "not-migrated", ...at, message: "not a glance_store option this migration knows: not migrated (it stays in the main file)" });
        continue;
      }
      if (name === "store_description" || name === "weight") {
        findings.push({ kind: "not-migrated", ...at, message: "a multi-store option, which a single-store Glance does not read: not migrated" });
        continue;
      }
    }
    if (option.continued) {
      findings.push({ kind: "error", ...at, message: `its value goes on over indented continuation lines (from line ${option.line}), which this migration does not read: put it on one line` });
      continue;
    }
    const aliasOf = OPTION_ALIASES[name];
    if (aliasOf !== undefined) {
      if (aliasTargets.has(aliasOf)) {
        findings.push({ kind: "not-migrated", ...at, message: `an older name of ${aliasOf}, which is also set and wins: not migrated` });
        continue;
      }
      findings.push({ kind: "note", ...at, message: `an older name of ${aliasOf}: migrated as spec.${FIELD_OPTIONS[aliasOf].field}` });
    }
    const optionName = aliasOf ?? name;
    if (optionName in CREDENTIAL_OPTIONS) {
      const value = stringValue(option, sectionName, findings);
      if (value === undefined) continue;
      const key = CREDENTIAL_OPTIONS[optionName as CredentialOption];
      if (value === "") {
        findings.push({ kind: "note", ...at, message: "empty: treated as unset, as glance_store does" });
        continue;
      }
      credentials[key] = value;
      continue;
    }
    if (optionName in FIELD_OPTIONS) {
      const { field, kind } = FIELD_OPTIONS[optionName as FieldOption];
      const value = stringValue(option, sectionName, findings);
      if (value === undefined) continue;
      if (kind === "string") {
        if (value === "") {
          findings.push({ kind: "note", ...at, message: "empty: treated as unset, as glance_store does" });
          continue;
        }
        fields[field] = value;
      } else if (kind === "integer") {
        const number = osloInteger(value);
        if (number === undefined) findings.push({ kind: "error", ...at, message: "is not an integer: oslo.config refuses it" });
        else fields[field] = number;
      } else {
        const flag = osloBoolean(value);
        if (flag === undefined) findings.push({ kind: "error", ...at, message: "is not a boolean (true/false, yes/no, on/off, 1/0): oslo.config refuses it" });
        else fields[field] = flag;
      }
      continue;
    }
    if (modelled.has(optionName)) continue;
    const driver = driverOfOption(name);
    if (driver !== undefined && driver !== "cinder") {
      findings.push({ kind: "not-migrated", ...at, message: `an option of the ${driver} driver, which a cinder store does not read: not migrated` });
      continue;
    }
    if (!OPTION_NAME_PATTERN.test(name)) {
      findings.push({ kind: "not-migrated", ...at, message: "not an option name a GlanceStore can carry (a-z, 0-9 and _, starting with a letter): not migrated" });
      continue;
    }
    if (SECRET_LOOKING_OPTION.test(name)) {
      findings.push({ kind: "not-migrated", ...at, message: "looks like a secret, which a GlanceStore never carries (secrets go only into the credentials Secret, which has no key for it): not migrated" });
      continue;
    }
    const value = stringValue(option, sectionName, findings);
    if (value === undefined) continue;
    if (value === "") {
      findings.push({ kind: "not-migrated", ...at, message: "empty, which a GlanceStore extra option cannot be: not migrated" });
      continue;
    }
    extraOptions[name] = value;
    findings.push({ kind: "carried", ...at, message: "not an option this operator models: carried as spec.extraOptions, passed on to Glance unchecked" });
  }
  return { storeId, section: sectionName, fields, extraOptions, credentials, isDefault: false, position };
}

/** The value oslo.config would hand on, or undefined (with an error finding) when it interpolates another option. */
function stringValue(option: IniOption, section: string, findings: Finding[]): string | undefined {
  const value = osloStringValue(option.raw);
  if (value.ok) return value.value;
  // The name after the $ is part of the value: not repeated for a credential, whose value may be a password or hold one.
  const named = isSecretOption(option.name) || option.name in CREDENTIAL_OPTIONS ? "another option" : `the option ${JSON.stringify(value.interpolates)}`;
  findings.push({
    kind: "error",
    section,
    option: option.name,
    message: `its value interpolates ${named} (oslo.config reads $name and \${name} so), which this migration does not resolve: write the value itself (a literal $ as $$) and migrate again`,
  });
  return undefined;
}
