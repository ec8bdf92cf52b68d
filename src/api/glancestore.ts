import { z } from "zod";
import { celString, celStringList, withCelRules, type CelRule, type CelTransitionRule } from "./cel.js";
import { URL_USER_INFO, URL_USER_INFO_TEXT } from "./url-parts.js";
import { RESERVED_GROUP_NAMES, RESERVED_GROUP_PREFIXES, RESERVED_STORE_ID_PREFIX, STORE_ID_PATTERN, STORE_ID_PATTERN_TEXT, storeIdProblem } from "./store-id.js";

/**
 * The GlanceStore API, v1alpha1. These zod schemas are the one source of
 * its TypeScript types and of crds/glancestore.yaml (src/api/crd.ts
 * generates the CRD from them; a test fails when the committed file
 * differs).
 */

export const GLANCE_STORE_GROUP = "glance.stores.dev";
export const GLANCE_STORE_VERSION = "v1alpha1";
export const GLANCE_STORE_API_VERSION = `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`;
export const GLANCE_STORE_KIND = "GlanceStore";
export const GLANCE_STORE_LIST_KIND = "GlanceStoreList";
export const GLANCE_STORE_PLURAL = "glancestores";
export const GLANCE_STORE_SINGULAR = "glancestore";
export const GLANCE_STORE_SHORT_NAMES = ["gst"] as const;
export const GLANCE_STORE_CRD_NAME = `${GLANCE_STORE_PLURAL}.${GLANCE_STORE_GROUP}`;

export const DEFAULT_TARGET = "glance-api";

/** glance_store's defaults (`_drivers/cinder.py`), which the CRD applies too. */
export const CINDER_DEFAULTS = {
  catalogInfo: "volumev3::publicURL",
  httpRetries: 3,
  stateTransitionTimeoutSeconds: 300,
  apiInsecure: false,
  rootwrapConfig: "/etc/glance/rootwrap.conf",
  useMultipath: false,
  enforceMultipath: false,
  mountPointBase: "/var/lib/glance/mnt",
  doExtendAttached: false,
  weight: 0,
} as const;

export const EXTRA_OPTIONS_MAX = 32;

/**
 * Every option name a GlanceStore models as a field or fills from its
 * credentials Secret: extraOptions may not set them, so there is one
 * way to set each.
 */
export const MODELLED_OPTION_NAMES = [
  "cinder_api_insecure",
  "cinder_ca_certificates_file",
  "cinder_catalog_info",
  "cinder_do_extend_attached",
  "cinder_endpoint_template",
  "cinder_enforce_multipath",
  "cinder_http_retries",
  "cinder_mount_point_base",
  "cinder_os_region_name",
  "cinder_state_transition_timeout",
  "cinder_store_application_credential_id",
  "cinder_store_application_credential_secret",
  "cinder_store_auth_address",
  "cinder_store_password",
  "cinder_store_project_domain_name",
  "cinder_store_project_name",
  "cinder_store_user_domain_name",
  "cinder_store_user_name",
  "cinder_use_multipath",
  "cinder_volume_type",
  "rootwrap_config",
  "store_description",
  "weight",
] as const;

/**
 * Older names under which glance_store still reads a modelled option
 * (oslo.config `deprecated_name` / `deprecated_opts`), with the field to set
 * instead: every such name of every modelled option in glance_store 4.1.0
 * (Debian 12) and upstream up to 5.4, where only `cinder_os_region_name`
 * has one (docs/foundations.md section 3). In extraOptions an alias would
 * change, behind the typed field the operator checks, what glance_store runs
 * with (test/render/option-aliases.test.ts shows it with the real oslo.config).
 */
export const MODELLED_OPTION_ALIASES: Readonly<Record<string, { readonly option: (typeof MODELLED_OPTION_NAMES)[number]; readonly field: string }>> = {
  os_region_name: { option: "cinder_os_region_name", field: "spec.regionName" },
};

/** Option names that look like they hold a secret; secrets live in the credentials Secret only. */
export const SECRET_LOOKING_OPTION = /(password|passwd|secret|token|credential|private|(^|_)key($|_))/;
const SECRET_LOOKING_OPTION_TEXT = "(password|passwd|secret|token|credential|private|(^|_)key($|_))";
export const OPTION_NAME_PATTERN = /^[a-z][a-z0-9_]{0,99}$/;
const OPTION_NAME_PATTERN_TEXT = "^[a-z][a-z0-9_]{0,99}$";

// Patterns are written so that JavaScript and the apiserver's Go regexp read them alike.
const NO_CONTROL = /^[^\x00-\x1F\x7F]+$/;
const NO_CONTROL_MESSAGE = "must not contain line breaks, tabs or other control characters";
const ABSOLUTE_PATH = /^\/[^\x00-\x1F\x7F]*$/;
const HTTP_URL = /^https?:\/\/[^ \x00-\x1F\x7F]+$/;
const CATALOG_INFO = /^[A-Za-z0-9_.-]+:[^:\x00-\x1F\x7F]*:(public|internal|admin)(URL)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const text = (max: number) => z.string().min(1).max(max).regex(NO_CONTROL, { message: NO_CONTROL_MESSAGE });
const absolutePath = () => z.string().max(4096).regex(ABSOLUTE_PATH, { message: "must be an absolute path inside the glance-api container, without control characters" });

const storeIdRules: CelRule<string>[] = [
  {
    rule: `!self.startsWith(${celString(RESERVED_STORE_ID_PREFIX)})`,
    message: `must not start with "${RESERVED_STORE_ID_PREFIX}": Glance reserves that prefix for its own stores and refuses to start`,
    holds: (id) => !id.startsWith(RESERVED_STORE_ID_PREFIX),
  },
  {
    rule: `!(self in ${celStringList(RESERVED_GROUP_NAMES)}) && ${RESERVED_GROUP_PREFIXES.filter((p) => p !== RESERVED_STORE_ID_PREFIX)
      .map((prefix) => `!self.startsWith(${celString(prefix)})`)
      .join(" && ")}`,
    message: "must not be the name of an option group glance-api already uses (database, glance_store, keystone_authtoken, oslo_*, ...): the store's section would mix with it",
    holds: (id) => storeIdProblem(id)?.code !== "ReservedGroupName",
  },
];

export const StoreIdSchema = withCelRules(
  z
    .string()
    .regex(STORE_ID_PATTERN, { message: `must match ${STORE_ID_PATTERN_TEXT}: lower case letters, digits, "-" and "_", at most 63 characters` })
    .describe(
      "The store identifier: its key in [DEFAULT] enabled_backends, its config section, and the host part of its image locations (cinder://<storeId>/<volume>). " +
        "Defaults to metadata.name. Lower case letters, digits, '-' and '_', at most 63 characters; not starting with 'os_glance_' or 'oslo_' and not a group name glance-api uses. " +
        "Immutable: images stored under one id are not found under another.",
    ),
  storeIdRules,
);

export const CredentialsSecretRefSchema = z
  .strictObject({
    name: z
      .string()
      .max(253)
      .regex(DNS_SUBDOMAIN, { message: "must be the name of a Secret (a DNS subdomain)" })
      .describe("Name of a Secret in the GlanceStore's namespace."),
    cloud: text(255)
      .optional()
      .describe("For a Secret holding a clouds.yaml key: the cloud to use (else the Secret's 'cloud' key, else its only cloud)."),
  })
  .describe(
    "The Secret holding the Keystone credentials glance_store uses for this store (cinder_store_* options). Its keys: authUrl, username, password, projectName (or projectId), " +
      "userDomainName and projectDomainName (both default 'Default'), optional caCert (PEM, for the operator's own calls); or applicationCredentialId, applicationCredentialSecret and authUrl; " +
      "or clouds.yaml with a cloud name. The password goes only into the Secret the operator renders, never into a ConfigMap.",
  );

const ExtraOptionsSchema = withCelRules(
  z
    .record(z.string(), text(4096).describe("The option's value, written so that oslo.config reads back exactly this string."))
    .refine((options) => Object.keys(options).length <= EXTRA_OPTIONS_MAX, { message: `at most ${EXTRA_OPTIONS_MAX} options` })
    .meta({ maxProperties: EXTRA_OPTIONS_MAX })
    .describe(
      "Further options of the store's section, for glance_store options this API does not model yet (name -> value). " +
        "Refused: options modelled by a field, under their name or an older one glance_store still reads (set the field), and names that look like secrets (password, secret, token, credential, key): secrets belong in the credentials Secret.",
    ),
  [
    {
      rule: `self.all(k, k.matches(${celString(OPTION_NAME_PATTERN_TEXT)}))`,
      message: "every key must be an oslo option name: a-z, 0-9 and '_', starting with a letter, at most 100 characters",
      holds: (options) => Object.keys(options).every((key) => OPTION_NAME_PATTERN.test(key)),
    },
    {
      rule: `self.all(k, !(k in ${celStringList(MODELLED_OPTION_NAMES)}))`,
      message: "a key is an option this API models as a field or fills from the credentials Secret: set that field instead (kubectl explain glancestore.spec)",
      holds: (options) => Object.keys(options).every((key) => !(MODELLED_OPTION_NAMES as readonly string[]).includes(key)),
    },
    {
      rule: `self.all(k, !(k in ${celStringList(Object.keys(MODELLED_OPTION_ALIASES))}))`,
      message: `a key is an older name of an option this API models, which glance_store reads as that option: ${Object.entries(MODELLED_OPTION_ALIASES)
        .map(([alias, { option, field }]) => `${alias} is ${option}, set ${field} instead`)
        .join("; ")}`,
      holds: (options) => Object.keys(options).every((key) => !Object.hasOwn(MODELLED_OPTION_ALIASES, key)),
    },
    {
      rule: `self.all(k, !k.matches(${celString(SECRET_LOOKING_OPTION_TEXT)}))`,
      message: "a key looks like a secret option (password, secret, token, credential, key): secrets belong in the credentials Secret, never in a GlanceStore",
      holds: (options) => Object.keys(options).every((key) => !SECRET_LOOKING_OPTION.test(key)),
    },
  ],
);

const GlanceStoreSpecObject = z.strictObject({
  storeId: StoreIdSchema.optional(),
  volumeType: text(255)
    .optional()
    .describe("cinder_volume_type: the Cinder volume type of this store's image volumes. Unset: Cinder's default type, which the operator resolves and shows in status.volumeType."),
  description: text(255)
    .optional()
    .describe("store_description: a human-readable description that Glance shows to users in GET /v2/info/stores."),
  default: z
    .boolean()
    .default(false)
    .describe("Whether this is the target's default store ([glance_store] default_backend), where images go when a request names no store. Exactly one store per target must be the default."),
  credentialsSecretRef: CredentialsSecretRefSchema,
  target: z
    .string()
    .max(63)
    .regex(DNS_LABEL, { message: "must be a DNS-1123 label: lower case letters, digits and '-', at most 63 characters" })
    .default(DEFAULT_TARGET)
    .describe(
      "The Glance deployment this store belongs to, in this namespace: the operator renders one ConfigMap <target>-stores and one Secret <target>-stores-credentials per target. " +
        "Immutable: moving a store would drop it from its Glance without the deletion safeguards.",
    ),
  catalogInfo: z
    .string()
    .max(255)
    .regex(CATALOG_INFO, { message: "must be <service_type>:<service_name>:<interface>, e.g. volumev3::publicURL (name may be empty; interface public, internal or admin, with or without URL)" })
    .default(CINDER_DEFAULTS.catalogInfo)
    .describe(
      "cinder_catalog_info: how glance_store finds Cinder in the Keystone catalog, as <service_type>:<service_name>:<interface>; the name may be empty. Default volumev3::publicURL. " +
        "With the service credentials this API always sets, glance_store reaches Cinder through the public volumev3 endpoint of regionName instead, and uses this option only to update legacy image locations; the operator checks the endpoint glance_store will really use and flags a non-default value in the OptionsEffective condition.",
    ),
  endpointTemplate: z
    .string()
    .max(2048)
    .regex(HTTP_URL, { message: "must be an http:// or https:// URL without spaces or control characters" })
    .optional()
    .describe(
      "cinder_endpoint_template: a Cinder URL to use instead of the catalog, e.g. http://cinder.example.com:8776/v3/%(tenant)s (Python %-substitution of the request context). " +
        "Like catalogInfo, glance_store uses it only to update legacy image locations when service credentials are set (always, with this API). " +
        "No user information (user:password@) and no fragment: the URL is written into the ConfigMap.",
    ),
  regionName: text(255).optional().describe("cinder_os_region_name: the Keystone region whose Cinder endpoint is used."),
  caCertificatesFile: absolutePath()
    .optional()
    .describe("cinder_ca_certificates_file: path, inside the glance-api container, of the CA bundle glance_store trusts for Cinder."),
  httpRetries: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(CINDER_DEFAULTS.httpRetries)
    .describe("cinder_http_retries: how many times a failed call to Cinder is retried. 0 to 100, default 3."),
  stateTransitionTimeoutSeconds: z
    .number()
    .int()
    .min(0)
    .max(86400)
    .default(CINDER_DEFAULTS.stateTransitionTimeoutSeconds)
    .describe("cinder_state_transition_timeout: seconds to wait for a volume to reach the next state (e.g. available after creation). 0 to 86400, default 300."),
  apiInsecure: z
    .boolean()
    .default(CINDER_DEFAULTS.apiInsecure)
    .describe("cinder_api_insecure: skip TLS verification of the Cinder API. Default false; prefer caCertificatesFile."),
  rootwrapConfig: absolutePath()
    .default(CINDER_DEFAULTS.rootwrapConfig)
    .describe("rootwrap_config: path of the rootwrap configuration glance-api uses to attach volumes. Default /etc/glance/rootwrap.conf."),
  useMultipath: z
    .boolean()
    .default(CINDER_DEFAULTS.useMultipath)
    .describe("cinder_use_multipath: attach volumes over multipath. Default false."),
  enforceMultipath: z
    .boolean()
    .default(CINDER_DEFAULTS.enforceMultipath)
    .describe("cinder_enforce_multipath: fail an attachment when multipathd is not running. Requires useMultipath. Default false."),
  mountPointBase: absolutePath()
    .default(CINDER_DEFAULTS.mountPointBase)
    .describe("cinder_mount_point_base: directory under which NFS-backed volumes are mounted. Default /var/lib/glance/mnt."),
  doExtendAttached: z
    .boolean()
    .default(CINDER_DEFAULTS.doExtendAttached)
    .describe("cinder_do_extend_attached: extend volumes while attached, when the Cinder backend supports it (newer glance_store releases than 4.1; older ones ignore it). Default false."),
  weight: z
    .number()
    .int()
    .min(-2147483648)
    .max(2147483647)
    .default(CINDER_DEFAULTS.weight)
    .describe("weight: preference of this store when Glance orders an image's locations; higher first (newer glance_store releases; older ones ignore it). Default 0."),
  extraOptions: ExtraOptionsSchema.optional(),
});

type SpecOutput = z.output<typeof GlanceStoreSpecObject>;

const specRules: CelRule<SpecOutput>[] = [
  // The endpoint template is written into the ConfigMap: a password in it would be published. Rules on spec rather
  // than a tighter pattern or rules on the string, so that the apiserver says why and does not echo the value.
  {
    rule: `!has(self.endpointTemplate) || !self.endpointTemplate.matches(${celString(URL_USER_INFO_TEXT)})`,
    message:
      "endpointTemplate must not hold user information (user:password@ before the host): the URL is written into the ConfigMap and glance_store logs it when it connects to Cinder, and Cinder is reached with a Keystone token, never a password in the URL",
    fieldPath: ".endpointTemplate",
    holds: (spec) => spec.endpointTemplate === undefined || !URL_USER_INFO.test(spec.endpointTemplate),
  },
  {
    rule: "!has(self.endpointTemplate) || !self.endpointTemplate.contains('#')",
    message:
      "endpointTemplate must not have a fragment (#...): cinderclient appends its request paths to this URL, which would land inside the fragment, and the URL is written into the ConfigMap and logged by glance_store",
    fieldPath: ".endpointTemplate",
    holds: (spec) => spec.endpointTemplate === undefined || !spec.endpointTemplate.includes("#"),
  },
  {
    rule: "!(has(self.enforceMultipath) && self.enforceMultipath) || (has(self.useMultipath) && self.useMultipath)",
    message: "enforceMultipath requires useMultipath: true",
    fieldPath: ".enforceMultipath",
    holds: (spec) => !spec.enforceMultipath || spec.useMultipath,
  },
];

const specTransitionRules: CelTransitionRule<SpecOutput>[] = [
  {
    rule: "!has(oldSelf.target) || !has(self.target) || self.target == oldSelf.target",
    message: "target is immutable: moving a store to another Glance would drop it from the first without the deletion safeguards; create a new GlanceStore instead",
    fieldPath: ".target",
    holds: (previous, next) => previous.target === next.target,
  },
];

export const GlanceStoreSpecSchema = withCelRules(GlanceStoreSpecObject, specRules, specTransitionRules).describe(
  "One Cinder-backed Glance store: the options of its config section, the Secret with its Keystone credentials, and the Glance target it belongs to.",
);

const CONDITION_TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** The condition types the controller maintains (docs/controller.md, Conditions). */
export const GLANCE_STORE_CONDITION_TYPES = ["CredentialsValid", "VolumeTypeAvailable", "Rendered", "Ready"] as const;

/** metav1.Condition. */
export const ConditionSchema = z
  .object({
    type: z.string().max(316).regex(CONDITION_TYPE).describe("Type of condition in CamelCase: CredentialsValid, VolumeTypeAvailable, Rendered, Ready."),
    status: z.enum(["True", "False", "Unknown"]).describe("True, False or Unknown."),
    observedGeneration: z.number().int().min(0).optional().describe("The .metadata.generation this condition was set for."),
    lastTransitionTime: z.string().meta({ format: "date-time" }).describe("When the condition last changed status (RFC 3339)."),
    reason: z.string().min(1).max(1024).regex(CONDITION_REASON).describe("Why, in CamelCase, for programs."),
    message: z.string().max(32768).describe("Why, for people. Never holds a secret value."),
  })
  .describe("A condition of the store, in the shape of metav1.Condition.");

export const GlanceStoreStatusSchema = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe("The .metadata.generation the status describes."),
    storeId: z.string().optional().describe("The effective store id: spec.storeId, else metadata.name."),
    volumeType: z.string().optional().describe("The name of the volume type the store uses: spec.volumeType, or Cinder's default type when unset."),
    volumeTypeId: z.string().optional().describe("The id of that volume type in Cinder."),
    addDelete: z.enum(["Enabled", "Disabled"]).optional().describe("Enabled when images can be added to and deleted from the store; Disabled when the operator keeps it only readable (see conditions)."),
    addDeleteEnabled: z.boolean().optional().describe("addDelete as a boolean."),
    rendered: z.boolean().optional().describe("Whether the store is in the rendered Glance configuration of its target."),
    imageVolumes: z.number().int().min(0).optional().describe("While deletion is held: how many image volumes of this store are left in Cinder."),
    renderedVolumeTypes: z
      .array(
        z
          .object({
            name: z.string().max(255).describe("The volume type's name, as rendered into cinder_volume_type."),
            id: z.string().max(255).optional().describe("Its id in Cinder."),
          })
          .describe("A volume type the store has been rendered with."),
      )
      .max(32)
      .optional()
      .describe(
        "Every volume type the store has been rendered with, oldest first; the last one is what Glance runs. Images stay on the type they were written to, so deletion counts image volumes of all of them; a change of type is applied only when confirmed with the annotation glance.stores.dev/confirm-volume-type.",
      ),
    projectId: z.string().max(255).optional().describe("The Keystone project of the credentials the store was last rendered with: where glance_store creates its image volumes."),
    credentialsRefusal: z
      .object({
        secretName: z.string().max(253).describe("The credentials Secret Keystone refused."),
        cloud: z.string().max(255).optional().describe("The clouds.yaml cloud, when the Secret holds one."),
        secretUID: z.string().max(255).describe("The Secret's uid at the refusal."),
        secretResourceVersion: z.string().max(255).describe("The Secret's resourceVersion at the refusal: a change of the Secret is tried at once."),
        refusedAt: z.string().meta({ format: "date-time" }).describe("When Keystone refused the credentials."),
        retryAt: z.string().meta({ format: "date-time" }).describe("When the operator sends them to Keystone again, unless the Secret changes first."),
      })
      .optional()
      .describe(
        "Set while Keystone's refusal of the store's credentials holds them off: Keystone locks a user out after a few refused passwords, so the operator sends refused credentials at most once per --auth-refusal-backoff. Kept in the status so that a restarted or new leader holds them off too.",
      ),
    glance: z
      .object({
        serving: z.boolean().describe("Whether Glance lists this store among those it serves."),
        volumeType: z.string().max(255).optional().describe("The volume type Glance reports for it (only when Glance lets the operator read /v2/info/stores/detail)."),
      })
      .optional()
      .describe(
        "What the target's Glance said of this store when last asked: only for a target with a GlanceStoreTarget whose spec.glance.check is on. Serving lags the Rendered condition until glance-api restarts with the new configuration.",
      ),
    conditions: z
      .array(ConditionSchema)
      .max(32)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
      .describe("CredentialsValid, VolumeTypeAvailable, Rendered and Ready."),
  })
  .describe("What the operator observed and did, written by the operator only.");

/** The parts of ObjectMeta this API reads; everything else passes through. */
export const ObjectMetaSchema = z.looseObject({
  name: z.string().min(1).max(253).regex(DNS_SUBDOMAIN, { message: "must be a DNS subdomain: lower case letters, digits, '-' and '.'" }),
  namespace: z.string().min(1).max(63).regex(DNS_LABEL).optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});

const GlanceStoreObject = z.object({
  apiVersion: z.literal(GLANCE_STORE_API_VERSION),
  kind: z.literal(GLANCE_STORE_KIND),
  metadata: ObjectMetaSchema,
  spec: GlanceStoreSpecSchema,
  status: GlanceStoreStatusSchema.optional(),
});

type ObjectOutput = z.output<typeof GlanceStoreObject>;

/**
 * Rules over the whole object, for what needs metadata.name: the store id
 * defaults to it. They are the root-level x-kubernetes-validations of the
 * CRD, where CEL may read metadata.name.
 */
export const ROOT_RULES: readonly CelRule<ObjectOutput>[] = [
  {
    rule: `has(self.spec.storeId) || self.metadata.name.matches(${celString(STORE_ID_PATTERN_TEXT)})`,
    message: "metadata.name cannot be the store id (it has '.' or more than 63 characters): set spec.storeId",
    fieldPath: ".spec.storeId",
    reason: "FieldValueRequired",
    holds: (store) => store.spec.storeId !== undefined || STORE_ID_PATTERN.test(store.metadata.name),
  },
  {
    rule: `has(self.spec.storeId) || !(self.metadata.name in ${celStringList(RESERVED_GROUP_NAMES)})`,
    message: "metadata.name is the name of an option group glance-api already uses, so it cannot be the store id: set spec.storeId",
    fieldPath: ".spec.storeId",
    reason: "FieldValueRequired",
    holds: (store) => store.spec.storeId !== undefined || !(RESERVED_GROUP_NAMES as readonly string[]).includes(store.metadata.name),
  },
];

export const ROOT_TRANSITION_RULES: readonly CelTransitionRule<ObjectOutput>[] = [
  {
    rule: "(has(self.spec.storeId) ? self.spec.storeId : self.metadata.name) == (has(oldSelf.spec.storeId) ? oldSelf.spec.storeId : oldSelf.metadata.name)",
    message: "the store id (spec.storeId, else metadata.name) is immutable: images stored under one id are not found under another",
    fieldPath: ".spec.storeId",
    holds: (previous, next) => effectiveStoreId(previous) === effectiveStoreId(next),
  },
];

export const GlanceStoreSchema = withCelRules(GlanceStoreObject, ROOT_RULES, ROOT_TRANSITION_RULES);

export type GlanceStore = z.output<typeof GlanceStoreSchema>;
/** A GlanceStore as a person writes it: defaulted fields may be left out. */
export type GlanceStoreInput = z.input<typeof GlanceStoreSchema>;
export type GlanceStoreSpec = z.output<typeof GlanceStoreSpecSchema>;
export type GlanceStoreSpecInput = z.input<typeof GlanceStoreSpecSchema>;
export type GlanceStoreStatus = z.output<typeof GlanceStoreStatusSchema>;
export type GlanceStoreCondition = z.output<typeof ConditionSchema>;
export type CredentialsSecretRef = z.output<typeof CredentialsSecretRefSchema>;

/** spec.storeId, else metadata.name. */
export function effectiveStoreId(store: { readonly metadata: { readonly name: string }; readonly spec: { readonly storeId?: string | undefined } }): string {
  return store.spec.storeId ?? store.metadata.name;
}

export interface FieldProblem {
  /** Dotted path of the field at fault, e.g. `spec.storeId`. */
  readonly field: string;
  readonly message: string;
}

/**
 * What the apiserver's transition rules refuse when `next` replaces
 * `previous`: the TypeScript side of the CRD's oldSelf rules.
 */
export function updateProblems(previous: GlanceStore, next: GlanceStore): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const rule of ROOT_TRANSITION_RULES) {
    if (!rule.holds(previous, next)) problems.push({ field: `${(rule.fieldPath ?? "").replace(/^\./, "")}`, message: rule.message });
  }
  for (const rule of specTransitionRules) {
    if (!rule.holds(previous.spec, next.spec)) problems.push({ field: `spec${rule.fieldPath ?? ""}`, message: rule.message });
  }
  return problems;
}
