import { z } from "zod";
import { stringify } from "yaml";
import { toKubernetesValidation, type KubernetesValidation } from "./cel.js";
import {
  GLANCE_STORE_API_VERSION,
  GLANCE_STORE_CRD_NAME,
  GLANCE_STORE_GROUP,
  GLANCE_STORE_KIND,
  GLANCE_STORE_LIST_KIND,
  GLANCE_STORE_PLURAL,
  GLANCE_STORE_SHORT_NAMES,
  GLANCE_STORE_SINGULAR,
  GLANCE_STORE_VERSION,
  GlanceStoreSpecSchema,
  GlanceStoreStatusSchema,
  ROOT_RULES,
  ROOT_TRANSITION_RULES,
} from "./glancestore.js";
import {
  GLANCE_STORE_TARGET_API_VERSION,
  GLANCE_STORE_TARGET_CRD_NAME,
  GLANCE_STORE_TARGET_KIND,
  GLANCE_STORE_TARGET_LIST_KIND,
  GLANCE_STORE_TARGET_PLURAL,
  GLANCE_STORE_TARGET_SHORT_NAMES,
  GLANCE_STORE_TARGET_SINGULAR,
  GlanceStoreTargetSpecSchema,
  GlanceStoreTargetStatusSchema,
  TARGET_ROOT_RULES,
} from "./glancestoretarget.js";

/** Where the generated CRD is committed, relative to the repository root. */
export const CRD_FILE = "crds/glancestore.yaml";
export const CHART_CRD_FILE = "charts/glance-store-operator/crds/glancestore.yaml";
export const TARGET_CRD_FILE = "crds/glancestoretarget.yaml";
export const CHART_TARGET_CRD_FILE = "charts/glance-store-operator/crds/glancestoretarget.yaml";

type JsonSchema = { [key: string]: unknown };

/** zod's JSON Schema for `schema`, as a Kubernetes structural schema. */
export function structuralSchema(schema: z.ZodType): JsonSchema {
  const generated = z.toJSONSchema(schema, { io: "input", target: "openapi-3.0", unrepresentable: "throw" }) as JsonSchema;
  return toStructural(generated);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function toStructural(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case "$schema":
      case "title":
        continue;
      case "additionalProperties":
        // Structural schemas prune unknown fields (and kubectl's strict field
        // validation reports them); `false` is not allowed next to properties.
        if (value === false) continue;
        out[key] = toStructural(value as JsonSchema);
        continue;
      case "properties":
        out[key] = Object.fromEntries(Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [name, toStructural(child)]));
        continue;
      case "items":
        out[key] = toStructural(value as JsonSchema);
        continue;
      case "maximum":
        if (value === MAX_SAFE) continue;
        out[key] = value;
        continue;
      case "minimum":
        if (value === -MAX_SAFE) continue;
        out[key] = value;
        continue;
      case "pattern":
        // metav1.Time is validated by its format; zod's ISO pattern adds nothing.
        if (node["format"] === "date-time") continue;
        out[key] = value;
        continue;
      default:
        out[key] = value;
    }
  }
  return out;
}

interface CrdParts {
  readonly name: string;
  readonly names: { readonly kind: string; readonly listKind: string; readonly plural: string; readonly singular: string; readonly shortNames: readonly string[] };
  readonly printerColumns: readonly Record<string, unknown>[];
  readonly description: string;
  readonly required: readonly string[];
  readonly spec: z.ZodType;
  readonly status: z.ZodType;
  readonly rules: readonly KubernetesValidation[];
}

/** A namespaced CRD of this API group, one served and stored version with a status subresource. */
function customResourceDefinition(parts: CrdParts): JsonSchema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: parts.name },
    spec: {
      group: GLANCE_STORE_GROUP,
      scope: "Namespaced",
      names: { ...parts.names, shortNames: [...parts.names.shortNames], categories: ["openstack"] },
      versions: [
        {
          name: GLANCE_STORE_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...parts.printerColumns, { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: parts.description,
              ...(parts.required.length === 0 ? {} : { required: [...parts.required] }),
              properties: {
                apiVersion: { type: "string", description: "APIVersion defines the versioned schema of this representation of an object." },
                kind: { type: "string", description: "Kind is a string value representing the REST resource this object represents." },
                metadata: { type: "object" },
                spec: structuralSchema(parts.spec),
                status: structuralSchema(parts.status),
              },
              "x-kubernetes-validations": [...parts.rules],
            },
          },
        },
      ],
    },
  };
}

/** The GlanceStore CustomResourceDefinition, generated from the zod schemas. */
export function glanceStoreCrd(): JsonSchema {
  return customResourceDefinition({
    name: GLANCE_STORE_CRD_NAME,
    names: { kind: GLANCE_STORE_KIND, listKind: GLANCE_STORE_LIST_KIND, plural: GLANCE_STORE_PLURAL, singular: GLANCE_STORE_SINGULAR, shortNames: GLANCE_STORE_SHORT_NAMES },
    printerColumns: [
      { name: "Store ID", type: "string", jsonPath: ".status.storeId", description: "The effective store id." },
      { name: "Volume Type", type: "string", jsonPath: ".status.volumeType", description: "The Cinder volume type in use." },
      { name: "Default", type: "boolean", jsonPath: ".spec.default", description: "Whether this is the target's default store." },
      { name: "Add/Delete", type: "string", jsonPath: ".status.addDelete", description: "Enabled, or Disabled while the store is kept only readable." },
      { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: "The Ready condition." },
      { name: "Target", type: "string", jsonPath: ".spec.target", priority: 1, description: "The Glance deployment the store belongs to." },
      { name: "Reason", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1, description: "Why the store is or is not ready." },
      { name: "Serving", type: "boolean", jsonPath: ".status.glance.serving", priority: 1, description: "Whether Glance serves the store (with a GlanceStoreTarget)." },
    ],
    description:
      `A Cinder-backed store of a Glance deployment (${GLANCE_STORE_API_VERSION}). The operator checks it against Keystone and Cinder, renders it into the Glance configuration of its target, ` +
      "and reports in status whether images can be added to and read from it.",
    required: ["spec"],
    spec: GlanceStoreSpecSchema,
    status: GlanceStoreStatusSchema,
    rules: [...ROOT_RULES, ...ROOT_TRANSITION_RULES].map(toKubernetesValidation),
  });
}

/** The GlanceStoreTarget CustomResourceDefinition, generated from the zod schemas. */
export function glanceStoreTargetCrd(): JsonSchema {
  return customResourceDefinition({
    name: GLANCE_STORE_TARGET_CRD_NAME,
    names: {
      kind: GLANCE_STORE_TARGET_KIND,
      listKind: GLANCE_STORE_TARGET_LIST_KIND,
      plural: GLANCE_STORE_TARGET_PLURAL,
      singular: GLANCE_STORE_TARGET_SINGULAR,
      shortNames: GLANCE_STORE_TARGET_SHORT_NAMES,
    },
    printerColumns: [
      { name: "Default", type: "string", jsonPath: ".status.defaultStore", description: "The default store Glance's configuration names." },
      { name: "Stores", type: "string", jsonPath: ".status.enabledBackends", description: "enabled_backends as rendered." },
      { name: "Config", type: "string", jsonPath: ".status.config.state", description: "Written, or Kept (see the ConfigWritten condition)." },
      { name: "Uncovered", type: "integer", jsonPath: ".status.uncoveredImageVolumeCount", description: "Image volumes of a volume type no cinder store covers." },
      { name: "Serving", type: "string", jsonPath: '.status.conditions[?(@.type=="Serving")].status', description: "Glance serves the configuration and the rollout is complete." },
      { name: "Summary", type: "string", jsonPath: ".status.summary", priority: 1, description: "One line on the whole target." },
      { name: "Hash", type: "string", jsonPath: ".status.configHash", priority: 1, description: "The rendered files' hash." },
    ],
    description:
      `One Glance deployment whose cinder stores are GlanceStores (${GLANCE_STORE_TARGET_API_VERSION}); its name is the spec.target of those stores. Optional: it keeps glance-api's other stores in enabled_backends, ` +
      "sets the default store in one place, and reports whether Glance serves what was rendered.",
    required: [],
    spec: GlanceStoreTargetSpecSchema,
    status: GlanceStoreTargetStatusSchema,
    rules: TARGET_ROOT_RULES.map(toKubernetesValidation),
  });
}

export const CRD_HEADER = [
  "# Generated from src/api/glancestore.ts by `node dist/src/api/generate-crd.js`: do not edit.",
  "# test/api/crd.test.ts fails when this file and the zod schemas disagree.",
].join("\n");

export const TARGET_CRD_HEADER = [
  "# Generated from src/api/glancestoretarget.ts by `node dist/src/api/generate-crd.js`: do not edit.",
  "# test/api/crd.test.ts fails when this file and the zod schemas disagree.",
].join("\n");

export function glanceStoreCrdYaml(): string {
  return `${CRD_HEADER}\n${stringify(glanceStoreCrd(), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

export function glanceStoreTargetCrdYaml(): string {
  return `${TARGET_CRD_HEADER}\n${stringify(glanceStoreTargetCrd(), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/** Both CRDs, as one multi-document YAML stream (what `kubectl apply -f crds/` installs). */
export function allCrdsYaml(): string {
  return `${glanceStoreCrdYaml()}---\n${glanceStoreTargetCrdYaml()}`;
}
