/**
 * The one table of GlanceStore objects that both sides of the API judge:
 * test/api/schema.test.ts runs it through the zod schemas, and
 * test/api/apiserver.test.ts applies it to a real kube-apiserver with the
 * generated CRD. Each invalid object has exactly one thing wrong, and the
 * field its error must name.
 */
import { GLANCE_STORE_API_VERSION, GLANCE_STORE_KIND } from "../../src/api/glancestore.js";

export type Manifest = Record<string, unknown> & { metadata: { name: string } };

export interface ValidCase {
  readonly name: string;
  readonly object: Manifest;
}

export interface InvalidCase {
  readonly name: string;
  readonly object: Manifest;
  /** The field the error must name, e.g. `spec.httpRetries`. */
  readonly field: string;
}

export interface InvalidUpdateCase {
  readonly name: string;
  readonly before: Manifest;
  readonly after: Manifest;
  readonly field: string;
}

const SECRET_REF = { name: "glance-cinder" };

/** A GlanceStore named `name` whose spec is `spec` plus a credentials reference unless `spec` says otherwise. */
export function glanceStore(name: string, spec: Record<string, unknown> = {}): Manifest {
  return { apiVersion: GLANCE_STORE_API_VERSION, kind: GLANCE_STORE_KIND, metadata: { name }, spec: { credentialsSecretRef: SECRET_REF, ...spec } };
}

function without(spec: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...spec };
  delete copy[key];
  return copy;
}

const long = (length: number, char = "a"): string => char.repeat(length);

export const VALID_CASES: readonly ValidCase[] = [
  { name: "only the credentials reference: every default applies", object: glanceStore("minimal") },
  {
    name: "every field set",
    object: glanceStore("everything", {
      storeId: "fast_ssd-2",
      volumeType: "glance fast #1",
      description: 'Really "fast" $tier; not # a comment ünïcødé',
      default: true,
      credentialsSecretRef: { name: "glance-cinder.v2", cloud: "prod" },
      target: "glance-api-internal",
      catalogInfo: "block-storage:cinderv3:internalURL",
      endpointTemplate: "https://cinder.example.com:8776/v3/%(tenant)s",
      regionName: "Region One",
      caCertificatesFile: "/etc/ssl/certs/ca-bundle.pem",
      httpRetries: 0,
      stateTransitionTimeoutSeconds: 86400,
      apiInsecure: true,
      rootwrapConfig: "/etc/glance/rootwrap.conf",
      useMultipath: true,
      enforceMultipath: true,
      mountPointBase: "/var/lib/glance/mnt",
      doExtendAttached: true,
      weight: -5,
      extraOptions: { cinder_volume_format: "raw", some_new_option: "  spaced $value  " },
    }),
  },
  { name: "a dotted metadata.name with an explicit storeId", object: glanceStore("fast.ssd", { storeId: "fast-ssd" }) },
  { name: "a reserved group name as metadata.name with an explicit storeId", object: glanceStore("database", { storeId: "db-images" }) },
  { name: "a one-character id", object: glanceStore("a") },
  { name: "a 63-character id", object: glanceStore(long(63, "b")) },
  { name: "catalogInfo with an empty service name and the public interface", object: glanceStore("catalog", { catalogInfo: "volumev3::public" }) },
  { name: "a description of 255 characters", object: glanceStore("long-description", { description: long(255, "d") }) },
  { name: "httpRetries at its maximum", object: glanceStore("retries", { httpRetries: 100 }) },
  { name: "useMultipath alone", object: glanceStore("multipath", { useMultipath: true }) },
  { name: "32 extra options", object: glanceStore("extras", { extraOptions: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`option_${i}`, `value ${i}`])) }) },
  { name: "an id with a digit first and underscores", object: glanceStore("ids", { storeId: "1st_store" }) },
  { name: "endpointTemplate with an @ in its path and a query", object: glanceStore("endpoint-at", { endpointTemplate: "https://cinder.example.com/v3/%(tenant)s/x@y?z=1" }) },
  { name: "an extra option whose name only ends like an alias", object: glanceStore("alias-like", { extraOptions: { glance_os_region_name: "x" } }) },
];

export const INVALID_CASES: readonly InvalidCase[] = [
  { name: "storeId in upper case (oslo.config lower-cases sections)", object: glanceStore("bad-01", { storeId: "Fast" }), field: "spec.storeId" },
  { name: "storeId with a colon (enabled_backends separator)", object: glanceStore("bad-02", { storeId: "fast:ssd" }), field: "spec.storeId" },
  { name: "storeId with a comma (enabled_backends separator)", object: glanceStore("bad-03", { storeId: "fast,ssd" }), field: "spec.storeId" },
  { name: "storeId with a space", object: glanceStore("bad-04", { storeId: "fast ssd" }), field: "spec.storeId" },
  { name: "storeId of 64 characters", object: glanceStore("bad-05", { storeId: long(64) }), field: "spec.storeId" },
  { name: "storeId starting with a dash", object: glanceStore("bad-06", { storeId: "-fast" }), field: "spec.storeId" },
  { name: "storeId with a dot (part of a URL host)", object: glanceStore("bad-07", { storeId: "fast.ssd" }), field: "spec.storeId" },
  { name: "storeId with the reserved os_glance_ prefix", object: glanceStore("bad-08", { storeId: "os_glance_staging_store" }), field: "spec.storeId" },
  { name: "storeId glance_store (a glance group)", object: glanceStore("bad-09", { storeId: "glance_store" }), field: "spec.storeId" },
  { name: "storeId keystone_authtoken (a glance group)", object: glanceStore("bad-10", { storeId: "keystone_authtoken" }), field: "spec.storeId" },
  { name: "storeId with the oslo_ prefix", object: glanceStore("bad-11", { storeId: "oslo_concurrency" }), field: "spec.storeId" },
  { name: "storeId default (the DEFAULT section)", object: glanceStore("bad-12", { storeId: "default" }), field: "spec.storeId" },
  { name: "storeId empty", object: glanceStore("bad-13", { storeId: "" }), field: "spec.storeId" },
  { name: "storeId not a string", object: glanceStore("bad-14", { storeId: 7 }), field: "spec.storeId" },
  { name: "a dotted metadata.name and no storeId", object: glanceStore("bad.15"), field: "spec.storeId" },
  { name: "metadata.name a glance group name and no storeId", object: glanceStore("profiler"), field: "spec.storeId" },
  { name: "no credentialsSecretRef", object: { ...glanceStore("bad-17"), spec: without({ credentialsSecretRef: SECRET_REF }, "credentialsSecretRef") }, field: "spec.credentialsSecretRef" },
  { name: "credentialsSecretRef without a name", object: glanceStore("bad-18", { credentialsSecretRef: { cloud: "prod" } }), field: "spec.credentialsSecretRef.name" },
  { name: "credentialsSecretRef.name not a Secret name", object: glanceStore("bad-19", { credentialsSecretRef: { name: "Glance_Cinder" } }), field: "spec.credentialsSecretRef.name" },
  { name: "credentialsSecretRef.cloud empty", object: glanceStore("bad-20", { credentialsSecretRef: { name: "s", cloud: "" } }), field: "spec.credentialsSecretRef.cloud" },
  { name: "credentialsSecretRef to another namespace", object: glanceStore("bad-21", { credentialsSecretRef: { name: "s", namespace: "other" } }), field: "spec.credentialsSecretRef.namespace" },
  { name: "target not a DNS label", object: glanceStore("bad-22", { target: "Glance_API" }), field: "spec.target" },
  { name: "target of 64 characters", object: glanceStore("bad-23", { target: long(64, "t") }), field: "spec.target" },
  { name: "catalogInfo with two parts", object: glanceStore("bad-24", { catalogInfo: "volumev3:publicURL" }), field: "spec.catalogInfo" },
  { name: "catalogInfo with an unknown interface", object: glanceStore("bad-25", { catalogInfo: "volumev3::public-url" }), field: "spec.catalogInfo" },
  { name: "catalogInfo with an empty service type", object: glanceStore("bad-26", { catalogInfo: ":cinderv3:publicURL" }), field: "spec.catalogInfo" },
  { name: "endpointTemplate not http(s)", object: glanceStore("bad-27", { endpointTemplate: "ftp://cinder.example.com/v3/%(tenant)s" }), field: "spec.endpointTemplate" },
  { name: "endpointTemplate with a space", object: glanceStore("bad-28", { endpointTemplate: "http://cinder example/v3" }), field: "spec.endpointTemplate" },
  { name: "caCertificatesFile relative", object: glanceStore("bad-29", { caCertificatesFile: "certs/ca.pem" }), field: "spec.caCertificatesFile" },
  { name: "rootwrapConfig relative", object: glanceStore("bad-30", { rootwrapConfig: "rootwrap.conf" }), field: "spec.rootwrapConfig" },
  { name: "mountPointBase with a line break", object: glanceStore("bad-31", { mountPointBase: "/var/lib/glance\n/mnt" }), field: "spec.mountPointBase" },
  { name: "httpRetries negative", object: glanceStore("bad-32", { httpRetries: -1 }), field: "spec.httpRetries" },
  { name: "httpRetries above 100", object: glanceStore("bad-33", { httpRetries: 101 }), field: "spec.httpRetries" },
  { name: "httpRetries not an integer", object: glanceStore("bad-34", { httpRetries: 2.5 }), field: "spec.httpRetries" },
  { name: "httpRetries a string", object: glanceStore("bad-35", { httpRetries: "3" }), field: "spec.httpRetries" },
  { name: "stateTransitionTimeoutSeconds above a day", object: glanceStore("bad-36", { stateTransitionTimeoutSeconds: 86401 }), field: "spec.stateTransitionTimeoutSeconds" },
  { name: "weight beyond int32", object: glanceStore("bad-37", { weight: 2147483648 }), field: "spec.weight" },
  { name: "apiInsecure a string", object: glanceStore("bad-38", { apiInsecure: "yes" }), field: "spec.apiInsecure" },
  { name: "default a string", object: glanceStore("bad-39", { default: "true" }), field: "spec.default" },
  { name: "enforceMultipath without useMultipath", object: glanceStore("bad-40", { enforceMultipath: true }), field: "spec.enforceMultipath" },
  { name: "volumeType empty", object: glanceStore("bad-41", { volumeType: "" }), field: "spec.volumeType" },
  { name: "volumeType with a line break", object: glanceStore("bad-42", { volumeType: "fast\nssd" }), field: "spec.volumeType" },
  { name: "volumeType of 256 characters", object: glanceStore("bad-43", { volumeType: long(256, "v") }), field: "spec.volumeType" },
  { name: "description with a tab", object: glanceStore("bad-44", { description: "fast\tstore" }), field: "spec.description" },
  { name: "description of 256 characters", object: glanceStore("bad-45", { description: long(256, "d") }), field: "spec.description" },
  { name: "regionName empty", object: glanceStore("bad-46", { regionName: "" }), field: "spec.regionName" },
  { name: "extraOptions setting a modelled option", object: glanceStore("bad-47", { extraOptions: { cinder_volume_type: "x" } }), field: "spec.extraOptions" },
  { name: "extraOptions setting the password", object: glanceStore("bad-48", { extraOptions: { cinder_store_password: "x" } }), field: "spec.extraOptions" },
  { name: "extraOptions with a token-like key", object: glanceStore("bad-49", { extraOptions: { cinder_api_token: "x" } }), field: "spec.extraOptions" },
  { name: "extraOptions with a key-like key", object: glanceStore("bad-50", { extraOptions: { ssl_key_file: "/k.pem" } }), field: "spec.extraOptions" },
  { name: "extraOptions with a key that is no option name", object: glanceStore("bad-51", { extraOptions: { "Bad-Key": "x" } }), field: "spec.extraOptions" },
  { name: "extraOptions value with a line break", object: glanceStore("bad-52", { extraOptions: { cinder_volume_format: "raw\n[x]" } }), field: "spec.extraOptions" },
  { name: "33 extra options", object: glanceStore("bad-53", { extraOptions: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`option_${i}`, "v"])) }), field: "spec.extraOptions" },
  { name: "an unknown spec field (a typo)", object: glanceStore("bad-54", { volumeTyp: "fast" }), field: "spec.volumeTyp" },
  { name: "no spec at all", object: { apiVersion: GLANCE_STORE_API_VERSION, kind: GLANCE_STORE_KIND, metadata: { name: "bad-55" } }, field: "spec" },
  { name: "endpointTemplate with user and password", object: glanceStore("bad-56", { endpointTemplate: "https://cinder:hunter2@cinder.example.com:8776/v3/%(tenant)s" }), field: "spec.endpointTemplate" },
  { name: "endpointTemplate with a user only", object: glanceStore("bad-57", { endpointTemplate: "http://hunter2@cinder.example.com/v3/%(tenant)s" }), field: "spec.endpointTemplate" },
  { name: "endpointTemplate with a fragment", object: glanceStore("bad-58", { endpointTemplate: "https://cinder.example.com/v3/%(tenant)s#hunter2" }), field: "spec.endpointTemplate" },
  { name: "extraOptions setting os_region_name, the older name of cinder_os_region_name", object: glanceStore("bad-59", { extraOptions: { os_region_name: "RegionTwo" } }), field: "spec.extraOptions" },
  { name: "extraOptions setting os_region_name next to regionName", object: glanceStore("bad-60", { regionName: "RegionOne", extraOptions: { os_region_name: "RegionTwo" } }), field: "spec.extraOptions" },
];

export const INVALID_UPDATE_CASES: readonly InvalidUpdateCase[] = [
  { name: "changing storeId", before: glanceStore("upd-1", { storeId: "one" }), after: glanceStore("upd-1", { storeId: "two" }), field: "spec.storeId" },
  { name: "setting a storeId other than the name it defaulted to", before: glanceStore("upd-2"), after: glanceStore("upd-2", { storeId: "other" }), field: "spec.storeId" },
  { name: "removing a storeId that differs from the name", before: glanceStore("upd-3", { storeId: "kept" }), after: glanceStore("upd-3"), field: "spec.storeId" },
  { name: "changing target", before: glanceStore("upd-4"), after: glanceStore("upd-4", { target: "other-glance" }), field: "spec.target" },
];

export const VALID_UPDATE_CASES: readonly { readonly name: string; readonly before: Manifest; readonly after: Manifest }[] = [
  { name: "spelling out the storeId the name gave", before: glanceStore("upd-5"), after: glanceStore("upd-5", { storeId: "upd-5" }) },
  { name: "changing volumeType, description and default", before: glanceStore("upd-6", { volumeType: "a" }), after: glanceStore("upd-6", { volumeType: "b", description: "now B", default: true }) },
];
