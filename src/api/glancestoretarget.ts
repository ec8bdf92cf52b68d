import { z } from "zod";
import { celString, withCelRules, type CelRule } from "./cel.js";
import { ConditionSchema, GLANCE_STORE_GROUP, GLANCE_STORE_VERSION, ObjectMetaSchema, StoreIdSchema } from "./glancestore.js";
import { URL_USER_INFO, URL_USER_INFO_TEXT } from "./url-parts.js";

/**
 * The GlanceStoreTarget API, v1alpha1: one optional object per Glance
 * deployment (per target), named as the target its GlanceStores name in
 * spec.target. It holds what belongs to the whole Glance rather than to one
 * Cinder store: the stores glance-api's own config defines (rbd, file,
 * swift, ...) that must stay in enabled_backends, which store is the default,
 * and where to ask Glance what it serves. Without it a target works as
 * before: the default is the GlanceStore with spec.default: true.
 */

export const GLANCE_STORE_TARGET_KIND = "GlanceStoreTarget";
export const GLANCE_STORE_TARGET_LIST_KIND = "GlanceStoreTargetList";
export const GLANCE_STORE_TARGET_PLURAL = "glancestoretargets";
export const GLANCE_STORE_TARGET_SINGULAR = "glancestoretarget";
export const GLANCE_STORE_TARGET_SHORT_NAMES = ["gstt"] as const;
export const GLANCE_STORE_TARGET_CRD_NAME = `${GLANCE_STORE_TARGET_PLURAL}.${GLANCE_STORE_GROUP}`;
export const GLANCE_STORE_TARGET_API_VERSION = `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`;

/**
 * glance_store drivers other than cinder that a Glance may run beside its
 * cinder stores (glance_store's `glance_store.drivers` entry points). Their
 * options stay in the user's main glance-api.conf: the operator only keeps
 * their `<id>:<type>` in enabled_backends.
 */
export const OTHER_STORE_TYPES = ["file", "http", "rbd", "s3", "swift", "vmware"] as const;
export type OtherStoreType = (typeof OTHER_STORE_TYPES)[number];

export const OTHER_STORES_MAX = 16;

const HTTP_URL = /^https?:\/\/[^ \x00-\x1F\x7F]+$/;
const NO_CONTROL = /^[^\x00-\x1F\x7F]+$/;

export const OtherStoreSchema = z
  .strictObject({
    id: StoreIdSchema.describe(
      "The store's id: its key in enabled_backends and the name of its section in glance-api's main configuration, which the operator does not write. Same rules as a GlanceStore's id.",
    ),
    type: z
      .enum(OTHER_STORE_TYPES)
      .describe("The glance_store driver of the store: file, http, rbd, s3, swift or vmware. Cinder stores are GlanceStore objects."),
  })
  .describe("A store defined in glance-api's own configuration that must stay in enabled_backends next to the operator's cinder stores.");

export type OtherStore = z.output<typeof OtherStoreSchema>;

const GlanceEndpointSchema = withCelRules(
  z
    .strictObject({
      url: z
        .string()
        .max(2048)
        .regex(HTTP_URL, { message: "must be an http:// or https:// URL without spaces or control characters" })
        .optional()
        .describe("Glance's API root, e.g. http://glance-api.openstack.svc:9292 (without /v2). Unset: the image endpoint of the Keystone catalog, seen with the credentials of the target's first cinder store."),
      interface: z.enum(["public", "internal", "admin"]).default("internal").describe("Which catalog endpoint of the image service to use when url is unset. Default internal."),
      regionName: z.string().min(1).max(255).regex(NO_CONTROL).optional().describe("The catalog region of the image endpoint when url is unset."),
      check: z
        .boolean()
        .default(true)
        .describe("Ask Glance which stores it serves (GET /v2/info/stores/detail) at every re-check. Information only: it never holds back a configuration."),
    })
    .describe("Where the operator asks Glance what it serves, to tell a configuration written from one Glance has loaded."),
  [
    {
      rule: `!has(self.url) || !self.url.matches(${celString(URL_USER_INFO_TEXT)})`,
      message: "url must not hold user information (user:password@): the operator reaches Glance with a Keystone token",
      fieldPath: ".url",
      holds: (endpoint) => endpoint.url === undefined || !URL_USER_INFO.test(endpoint.url),
    },
  ],
);

const GlanceStoreTargetSpecObject = z.strictObject({
  defaultStore: StoreIdSchema.optional().describe(
    "The id of the default store ([glance_store] default_backend): a GlanceStore of this target or one of otherStores. When set it decides alone, and the GlanceStores' spec.default is not read: " +
      "changing it moves the default in one step. Unset: the GlanceStore with spec.default: true.",
  ),
  otherStores: z
    .array(OtherStoreSchema)
    .max(OTHER_STORES_MAX)
    // The apiserver refuses a repeated id through the list's map keys; zod must too.
    .superRefine((stores, context) => {
      const seen = new Set<string>();
      stores.forEach((store, index) => {
        if (seen.has(store.id)) context.addIssue({ code: "custom", message: `Duplicate value: id ${JSON.stringify(store.id)} is listed twice`, path: [index] });
        seen.add(store.id);
      });
    })
    .optional()
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"] })
    .describe(
      "Stores glance-api's main configuration defines (rbd, file, swift, ...): the operator's enabled_backends replaces the main file's, so these are written into it too. Their sections stay in the main file.",
    ),
  glance: GlanceEndpointSchema.optional(),
});

export const GlanceStoreTargetSpecSchema = GlanceStoreTargetSpecObject.describe(
  "What belongs to a whole Glance deployment rather than to one of its Cinder stores.",
);

const StoreServedSchema = z
  .object({
    id: z.string().max(255).describe("The store id."),
    type: z.string().max(64).optional().describe("Its glance_store driver, when Glance said (GET /v2/info/stores/detail)."),
    volumeType: z.string().max(255).optional().describe("For a cinder store: the volume type Glance reports."),
    default: z.boolean().optional().describe("Whether Glance reports it as the default."),
  })
  .describe("A store Glance serves.");

export const GlanceStoreTargetStatusSchema = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe("The .metadata.generation the status describes."),
    summary: z.string().max(4096).optional().describe("One line for people: what Glance runs, the default, whether the last configuration was written, legacy image volumes left uncovered, the config hash."),
    enabledBackends: z.string().max(4096).optional().describe("The rendered [DEFAULT] enabled_backends: every store of the configuration, cinder and others, as <id>:<type>."),
    storeIds: z.array(z.string().max(255).describe("A store id.")).max(1024).optional().describe("The ids of every store of the configuration."),
    defaultStore: z.string().max(255).optional().describe("The rendered [glance_store] default_backend."),
    config: z
      .object({
        state: z.enum(["Written", "Kept", "Removed"]).describe("Written: the files hold what the stores ask for. Kept: the files were left as they are (see reason). Removed: no store is left."),
        reason: z.string().max(1024).optional().describe("Why, in CamelCase."),
        message: z.string().max(32768).optional().describe("Why, for people."),
      })
      .optional()
      .describe("What the last reconcile did with the rendered ConfigMap and Secret."),
    configHash: z.string().max(255).optional().describe("The hash of the rendered files (keyed, so it reveals nothing of the passwords): the pod-template annotation a rolled workload carries."),
    uncoveredImageVolumes: z
      .array(
        z
          .object({
            volumeType: z.string().max(255).describe("The volume type, or '' for volumes without one."),
            count: z.number().int().min(0).describe("How many image-<uuid> volumes of that type are in the project Glance keeps images in."),
          })
          .describe("Image volumes of a volume type no cinder store of the target covers."),
      )
      .max(256)
      .optional()
      .describe(
        "Image volumes (image-<uuid>) in the project Glance keeps its images in whose volume type no cinder store of this target has: Glance maps a legacy cinder://<volume> location to the first store of the volume's type, so those images would stay unmapped. Empty when every type is covered.",
      ),
    uncoveredImageVolumeCount: z.number().int().min(0).optional().describe("The sum of uncoveredImageVolumes' counts."),
    imageVolumesCheckedAt: z.string().meta({ format: "date-time" }).optional().describe("When the image volumes were last listed."),
    glance: z
      .object({
        url: z.string().max(2048).optional().describe("The Glance endpoint asked."),
        detail: z.boolean().optional().describe("Whether Glance answered /v2/info/stores/detail (false: only /v2/info/stores, so types are unknown)."),
        stores: z.array(StoreServedSchema).max(1024).optional().describe("The stores Glance serves."),
        checkedAt: z.string().meta({ format: "date-time" }).optional().describe("When Glance was last asked."),
      })
      .optional()
      .describe("What Glance said it serves when last asked."),
    rollout: z
      .array(
        z
          .object({
            kind: z.enum(["Deployment", "StatefulSet"]).describe("The workload kind."),
            name: z.string().max(253).describe("The workload name."),
            complete: z.boolean().describe("Every replica runs the pod template with the current config hash."),
            message: z.string().max(1024).optional().describe("Where the rollout stands, for people."),
          })
          .describe("A workload annotated glance.stores.dev/target with this target."),
      )
      .max(64)
      .optional()
      .describe("The rollout of the opted-in workloads (only with --rollout-workloads)."),
    conditions: z
      .array(ConditionSchema)
      .max(32)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
      .describe("ConfigWritten, ImageVolumesCovered, CredentialsShared, GlanceServesConfig, RolloutComplete and Serving."),
  })
  .describe("What the operator observed of the whole target, written by the operator only.");

/** The condition types the controller maintains on a GlanceStoreTarget (docs/api.md). */
export const GLANCE_STORE_TARGET_CONDITION_TYPES = ["ConfigWritten", "ImageVolumesCovered", "CredentialsShared", "GlanceServesConfig", "RolloutComplete", "Serving"] as const;

const GlanceStoreTargetObject = z.object({
  apiVersion: z.literal(GLANCE_STORE_TARGET_API_VERSION),
  kind: z.literal(GLANCE_STORE_TARGET_KIND),
  metadata: ObjectMetaSchema,
  spec: GlanceStoreTargetSpecSchema,
  status: GlanceStoreTargetStatusSchema.optional(),
});

type TargetObjectOutput = z.output<typeof GlanceStoreTargetObject>;

const DNS_LABEL_TEXT = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/** The object's name is the target's name, which GlanceStores name in spec.target: a DNS label. */
export const TARGET_ROOT_RULES: readonly CelRule<TargetObjectOutput>[] = [
  {
    rule: `self.metadata.name.size() <= 63 && self.metadata.name.matches(${celString(DNS_LABEL_TEXT)})`,
    message: "metadata.name is the target's name (the spec.target of its GlanceStores): a DNS-1123 label, lower case letters, digits and '-', at most 63 characters",
    holds: (target) => target.metadata.name.length <= 63 && new RegExp(DNS_LABEL_TEXT).test(target.metadata.name),
  },
];

export const GlanceStoreTargetSchema = withCelRules(GlanceStoreTargetObject, TARGET_ROOT_RULES);

export type GlanceStoreTarget = z.output<typeof GlanceStoreTargetSchema>;
export type GlanceStoreTargetInput = z.input<typeof GlanceStoreTargetSchema>;
export type GlanceStoreTargetSpec = z.output<typeof GlanceStoreTargetSpecSchema>;
export type GlanceStoreTargetStatus = z.output<typeof GlanceStoreTargetStatusSchema>;
