import { z } from "zod";

/**
 * Finding Cinder in a Keystone v3 catalog the way glance_store does: it
 * splits `cinder_catalog_info` into `service_type:service_name:interface`
 * and asks keystoneauth's `ServiceCatalog.url_for(region_name, service_type,
 * service_name, interface)`, or formats `cinder_endpoint_template` with the
 * request context. The rules below are keystoneauth1's
 * (`access/service_catalog.py` `get_endpoints_data`, `_endpoints_by_type`) and
 * os-service-types' alias matching, restricted to what a Cinder lookup needs.
 */

export const CatalogEndpointSchema = z.object({
  id: z.string().optional(),
  interface: z.string(),
  region: z.string().nullable().optional(),
  region_id: z.string().nullable().optional(),
  url: z.string().nullable().optional(),
});

export const CatalogServiceSchema = z.object({
  type: z.string(),
  name: z.string().nullable().optional(),
  id: z.string().optional(),
  endpoints: z.array(CatalogEndpointSchema).default([]),
});

export const CatalogSchema = z.array(CatalogServiceSchema);

export type CatalogEndpoint = z.infer<typeof CatalogEndpointSchema>;
export type CatalogService = z.infer<typeof CatalogServiceSchema>;
export type Catalog = z.infer<typeof CatalogSchema>;

/** glance_store's default `cinder_catalog_info`. */
export const DEFAULT_CATALOG_INFO = "volumev3::publicURL";

export type EndpointInterface = "public" | "internal" | "admin";

export interface CatalogInfo {
  readonly serviceType: string;
  /** Empty: any service name. */
  readonly serviceName: string;
  /** Undefined: any interface (keystoneauth does not filter on an empty one). */
  readonly interface: EndpointInterface | undefined;
}

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * Parses `service_type:service_name:interface`. glance_store does
 * `info.split(':')` into exactly three names, so anything else makes
 * glance-api fail on its first Cinder call: refused here with the reason.
 */
export function parseCatalogInfo(info: string): ParseResult<CatalogInfo> {
  const parts = info.split(":");
  if (parts.length !== 3) {
    return {
      ok: false,
      message: `catalogInfo "${info}" must have exactly three parts "service_type:service_name:interface" (e.g. "${DEFAULT_CATALOG_INFO}"); it has ${parts.length}`,
    };
  }
  const [serviceType = "", serviceName = "", rawInterface = ""] = parts;
  if (serviceType.trim() === "") {
    return { ok: false, message: `catalogInfo "${info}" names no service type; use e.g. "${DEFAULT_CATALOG_INFO}"` };
  }
  if (rawInterface === "") return { ok: true, value: { serviceType, serviceName, interface: undefined } };
  const normalized = normalizeInterface(rawInterface);
  if (normalized === undefined) {
    return {
      ok: false,
      message: `catalogInfo "${info}" has interface "${rawInterface}"; use one of public, publicURL, internal, internalURL, admin, adminURL`,
    };
  }
  return { ok: true, value: { serviceType, serviceName, interface: normalized } };
}

/** `publicURL` (the v2 catalog's spelling) and `public` mean the same, as in keystoneauth. */
export function normalizeInterface(value: string): EndpointInterface | undefined {
  const bare = value.endsWith("URL") ? value.slice(0, -3) : value;
  return bare === "public" || bare === "internal" || bare === "admin" ? bare : undefined;
}

/**
 * The block-storage entry of os-service-types (`service-types.json`): the
 * official type first, then its historical aliases, in the order
 * keystoneauth prefers them when several match.
 */
const BLOCK_STORAGE_TYPES: readonly string[] = ["block-storage", "volumev3", "volumev2", "volume", "block-store"];
const OFFICIAL_BLOCK_STORAGE = "block-storage";

/**
 * os-service-types `is_match`: equal types match; an official type matches
 * its aliases and an alias matches its official type; two different aliases
 * never match (their versions differ). So `volumev3` finds `volumev3` and
 * `block-storage`, not `volumev2`.
 */
export function serviceTypeMatches(requested: string, found: string): boolean {
  if (requested === found) return true;
  if (requested === OFFICIAL_BLOCK_STORAGE) return BLOCK_STORAGE_TYPES.includes(found);
  if (found === OFFICIAL_BLOCK_STORAGE) return BLOCK_STORAGE_TYPES.includes(requested);
  return false;
}

/** All service types that can answer a request for `requested`, in keystoneauth's order of preference. */
export function acceptedServiceTypes(requested: string): readonly string[] {
  if (BLOCK_STORAGE_TYPES.includes(requested)) return BLOCK_STORAGE_TYPES.filter((type) => serviceTypeMatches(requested, type));
  return [requested];
}

export interface EndpointQuery {
  readonly catalogInfo: CatalogInfo;
  /** Undefined or empty: any region, as when `cinder_os_region_name` is unset. */
  readonly region: string | undefined;
}

export interface FoundEndpoint {
  readonly url: string;
  readonly serviceType: string;
  readonly serviceName: string | undefined;
  readonly interface: string;
  readonly region: string | undefined;
}

export type EndpointLookup = { readonly ok: true; readonly endpoint: FoundEndpoint } | { readonly ok: false; readonly message: string };

function endpointRegion(endpoint: CatalogEndpoint): string | undefined {
  return endpoint.region_id || endpoint.region || undefined;
}

/**
 * keystoneauth's `url_for` for one service type, name, interface and region:
 * services match by type (with aliases) and by name when the catalog names
 * the service; endpoints by interface and region (`region_id`, else
 * `region`); endpoints without a URL are skipped. When services of several
 * matching types have endpoints, the exact requested type wins, else the
 * first in os-service-types order. The first endpoint of the winner is it.
 */
/** How a miss is worded: which service was looked for and what to change. */
export interface MissWording {
  /** e.g. "Cinder". */
  readonly service: string;
  /** The sentence that says what to fix. */
  readonly fix: string;
}

const CINDER_MISS: MissWording = {
  service: "Cinder",
  fix: "Fix catalogInfo (cinder_catalog_info) or regionName (cinder_os_region_name), or set an endpoint template",
};

export function findEndpoint(catalog: Catalog, query: EndpointQuery, wording: MissWording = CINDER_MISS): EndpointLookup {
  const { serviceType, serviceName, interface: wantedInterface } = query.catalogInfo;
  const region = query.region === "" ? undefined : query.region;
  const byType = new Map<string, FoundEndpoint[]>();
  for (const service of catalog) {
    if (!serviceTypeMatches(serviceType, service.type)) continue;
    if (serviceName !== "" && service.name && service.name !== serviceName) continue;
    const found = byType.get(service.type) ?? [];
    byType.set(service.type, found);
    for (const endpoint of service.endpoints) {
      if (wantedInterface !== undefined && endpoint.interface !== wantedInterface) continue;
      if (region !== undefined && endpointRegion(endpoint) !== region) continue;
      if (!endpoint.url) continue;
      found.push({
        url: endpoint.url,
        serviceType: service.type,
        serviceName: service.name ?? undefined,
        interface: endpoint.interface,
        region: endpointRegion(endpoint),
      });
    }
  }
  const exact = byType.get(serviceType);
  const chosen =
    exact !== undefined && exact.length > 0
      ? exact
      : acceptedServiceTypes(serviceType)
          .map((type) => byType.get(type))
          .find((endpoints) => endpoints !== undefined && endpoints.length > 0);
  const first = chosen?.[0];
  if (first !== undefined) return { ok: true, endpoint: { ...first, url: first.url.replace(/\/+$/, "") } };
  return { ok: false, message: describeMiss(catalog, query, wording) };
}

/** What was asked and what the catalog offers, in one sentence a person can act on. */
export function describeMiss(catalog: Catalog, query: EndpointQuery, wording: MissWording = CINDER_MISS): string {
  const { serviceType, serviceName, interface: wantedInterface } = query.catalogInfo;
  const types = acceptedServiceTypes(serviceType);
  const asked = [
    `service type "${serviceType}"${types.length > 1 ? ` (or ${types.filter((t) => t !== serviceType).join(", ")})` : ""}`,
    `service name ${serviceName === "" ? "any" : `"${serviceName}"`}`,
    `interface ${wantedInterface ?? "any"}`,
    `region ${query.region ? `"${query.region}"` : "any"}`,
  ].join(", ");
  const candidates = catalog.filter((service) => serviceTypeMatches(serviceType, service.type));
  let offers: string;
  if (candidates.length === 0) {
    const available = [...new Set(catalog.map((service) => service.type))].sort();
    offers = available.length === 0 ? "the catalog is empty (is the user given a role on the project?)" : `the catalog has no such service; it has types ${available.join(", ")}`;
  } else {
    offers = `the catalog offers ${candidates
      .map((service) => {
        const endpoints = service.endpoints.map((e) => `${e.interface}@${endpointRegion(e) ?? "(no region)"}`);
        return `${service.type}${service.name ? ` "${service.name}"` : ""} [${endpoints.length === 0 ? "no endpoints" : endpoints.join(", ")}]`;
      })
      .join("; ")}`;
  }
  return `no ${wording.service} endpoint in the Keystone catalog matches ${asked}: ${offers}. ${wording.fix}`;
}

export interface CinderEndpointQuery {
  readonly catalog: Catalog;
  /** The token's project, for the template. */
  readonly projectId: string;
  /** Default: `volumev3::publicURL`. */
  readonly catalogInfo?: string | undefined;
  readonly regionName?: string | undefined;
  /** When set, the catalog is not consulted at all (as in glance_store). */
  readonly endpointTemplate?: string | undefined;
}

/** The Cinder endpoint for one store: the template when set, else the catalog. */
export function selectCinderEndpoint(query: CinderEndpointQuery): ParseResult<string> {
  if (query.endpointTemplate !== undefined && query.endpointTemplate !== "") {
    return expandEndpointTemplate(query.endpointTemplate, { projectId: query.projectId });
  }
  const info = parseCatalogInfo(query.catalogInfo ?? DEFAULT_CATALOG_INFO);
  if (!info.ok) return info;
  const found = findEndpoint(query.catalog, { catalogInfo: info.value, region: query.regionName });
  return found.ok ? { ok: true, value: found.endpoint.url } : found;
}

/**
 * The request-context keys glance_store's `cinder_endpoint_template %
 * context.to_dict()` can use that this client knows: both are the project id
 * (oslo.context's `tenant` is the deprecated name of `project_id`).
 */
const TEMPLATE_KEYS = ["project_id", "tenant"] as const;

/**
 * Python %-formatting restricted to `%(key)s` and `%%`: glance_store formats
 * the template with the context dict, so any other conversion or unknown key
 * would make glance-api fail the same way.
 */
export function expandEndpointTemplate(template: string, values: { readonly projectId: string }): ParseResult<string> {
  let failure: string | undefined;
  const expanded = template.replace(/%(?:\(([^)]*)\)([a-z]?)|(%)|(.?))/g, (match, key: string | undefined, conversion: string, percent: string | undefined) => {
    if (percent !== undefined) return "%";
    if (key !== undefined && conversion === "s") {
      if ((TEMPLATE_KEYS as readonly string[]).includes(key)) return values.projectId;
      failure ??= `endpoint template "${template}" uses %(${key})s; only ${TEMPLATE_KEYS.map((k) => `%(${k})s`).join(" and ")} are known (write a literal % as %%)`;
      return match;
    }
    failure ??= `endpoint template "${template}" has "${match}", which Python's %-formatting would reject; use %(project_id)s for the project and %% for a literal %`;
    return match;
  });
  if (failure !== undefined) return { ok: false, message: failure };
  let url: URL;
  try {
    url = new URL(expanded);
  } catch {
    return { ok: false, message: `endpoint template "${template}" does not give a URL (got "${expanded}")` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, message: `endpoint template "${template}" gives a ${url.protocol} URL; Cinder needs http or https` };
  }
  return { ok: true, value: expanded.replace(/\/+$/, "") };
}
