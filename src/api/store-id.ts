/**
 * What a Glance store identifier may be. The id is at once a key of
 * `[DEFAULT] enabled_backends`, the name of a config section, and the host
 * part of `cinder://<id>/<volume>` location URLs, so it inherits the rules
 * of all three (docs/foundations.md sections 1 and 2).
 */

export const STORE_ID_MAX_LENGTH = 63;

/**
 * Lower case because oslo.config lower-cases section names (ids differing by
 * case would share one section); no `,` `:` or whitespace because
 * enabled_backends is a dict option; no `.` or `/` because the id is part of
 * a URL.
 */
export const STORE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const STORE_ID_PATTERN_TEXT = "^[a-z0-9][a-z0-9_-]{0,62}$";

/** glance-api refuses to start on an id with this prefix (glance/common/wsgi_app.py). */
export const RESERVED_STORE_ID_PREFIX = "os_glance_";

/**
 * Prefixes of option groups that libraries loaded by glance-api register
 * (oslo.concurrency, oslo.messaging, oslo.policy, oslo.limit, ...): a store
 * with such an id would share its section with them.
 */
export const RESERVED_GROUP_PREFIXES = [RESERVED_STORE_ID_PREFIX, "oslo_"] as const;

/**
 * Option groups glance-api 25 registers, collected from its oslo-config
 * generator namespaces and from importing its WSGI application
 * (test/api/reserved-groups.test.ts re-collects them from the installed
 * Glance and fails when one is missing here), plus `default` (the DEFAULT
 * section) and `backend_defaults` (glance_store >= 5.0). Sorted.
 */
export const RESERVED_GROUP_NAMES = [
  "audit_middleware_notifications",
  "backend_defaults",
  "barbican",
  "barbican_service_user",
  "cache",
  "castellan_source",
  "cinder",
  "cors",
  "database",
  "default",
  "file",
  "glance_download_opts",
  "glance_download_properties",
  "glance_store",
  "healthcheck",
  "image_conversion",
  "image_format",
  "image_import_opts",
  "import_filtering_opts",
  "inject_metadata_properties",
  "key_manager",
  "keystone_authtoken",
  "os_brick",
  "paste_deploy",
  "privsep",
  "privsep_osbrick",
  "profiler",
  "ssl",
  "store_type_location_strategy",
  "task",
  "taskflow_executor",
  "vault",
  "wsgi",
] as const;

const reservedNames: ReadonlySet<string> = new Set(RESERVED_GROUP_NAMES);

export type StoreIdProblem =
  | { readonly code: "InvalidStoreId"; readonly message: string }
  | { readonly code: "ReservedStoreIdPrefix"; readonly message: string }
  | { readonly code: "ReservedGroupName"; readonly message: string };

/** Why `id` cannot be a store id, or undefined when it can. */
export function storeIdProblem(id: string): StoreIdProblem | undefined {
  // Checked first: `os_glance_x` also fails the shape rule's length, but the
  // reserved prefix is the more useful explanation.
  const lower = id.toLowerCase();
  for (const prefix of RESERVED_GROUP_PREFIXES) {
    if (lower.startsWith(prefix)) {
      return {
        code: prefix === RESERVED_STORE_ID_PREFIX ? "ReservedStoreIdPrefix" : "ReservedGroupName",
        message:
          prefix === RESERVED_STORE_ID_PREFIX
            ? `store id ${JSON.stringify(id)} starts with the reserved prefix "${RESERVED_STORE_ID_PREFIX}": glance-api refuses to start with it; choose another id`
            : `store id ${JSON.stringify(id)} starts with "${prefix}", the prefix of oslo library option groups: its section would mix with theirs; choose another id`,
      };
    }
  }
  if (!STORE_ID_PATTERN.test(id)) {
    return {
      code: "InvalidStoreId",
      message: `store id ${JSON.stringify(id)} is not 1 to ${STORE_ID_MAX_LENGTH} characters of a-z, 0-9, "-" and "_" starting with a letter or digit`,
    };
  }
  if (reservedNames.has(lower)) {
    return {
      code: "ReservedGroupName",
      message: `store id ${JSON.stringify(id)} is the name of an option group glance-api already uses: its section would mix with that group; choose another id`,
    };
  }
  return undefined;
}

/**
 * Pairs of ids where one is a prefix of the other. Glance finds the store of
 * a location URL with a plain `startswith("cinder://<id>")`, so with `fast`
 * and `fast2` the images of `fast2` may be attributed to `fast`.
 */
export function ambiguousStoreIdPrefixes(ids: readonly string[]): [shorter: string, longer: string][] {
  const sorted = [...new Set(ids)].sort();
  const pairs: [string, string][] = [];
  for (const shorter of sorted) {
    for (const longer of sorted) {
      if (longer !== shorter && longer.startsWith(shorter)) pairs.push([shorter, longer]);
    }
  }
  return pairs;
}
