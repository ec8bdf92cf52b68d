import { z } from "zod";
import { findEndpoint, type Catalog, type EndpointInterface, type ParseResult } from "./catalog.js";
import { getWithToken, type TokenProvider } from "./token-get.js";
import { AuthFailedError, EndpointNotFoundError, UnexpectedError, UnreachableError, type OpenStackError } from "./errors.js";
import type { HttpResponse, HttpTransport, TlsSettings } from "./http.js";
import { redactSecrets, safeUrl } from "./redact.js";

/**
 * What a running glance-api says it serves: `GET /v2/info/stores/detail`
 * (ids, default, type and, for cinder stores, the volume type) or, when
 * Glance's policy forbids the detail (its default `stores_info_detail` is
 * `role:admin`), `GET /v2/info/stores` (ids, default and descriptions).
 */

/** One store as glance-api reports it. */
export interface GlanceStore {
  readonly id: string;
  /** Glance's `default: "true"`. */
  readonly default: boolean;
  /** The store's driver (cinder, file, rbd, ...): only in the detail view. */
  readonly type?: string;
  /** A cinder store's `cinder_volume_type` (detail view only); absent when the store names none. */
  readonly volumeType?: string;
  readonly description?: string;
}

const GlanceStoreSchema = z.object({
  id: z.string(),
  description: z.string().nullable().optional(),
  // Glance writes the string "true"; a boolean is taken too.
  default: z.union([z.string(), z.boolean()]).nullable().optional(),
  type: z.string().nullable().optional(),
  properties: z.record(z.string(), z.unknown()).nullable().optional(),
});

const GlanceStoreListSchema = z.object({ stores: z.array(GlanceStoreSchema) });

type RawGlanceStore = z.infer<typeof GlanceStoreSchema>;

export function toGlanceStore(raw: RawGlanceStore): GlanceStore {
  const volumeType = raw.type === "cinder" ? raw.properties?.["volume_type"] : undefined;
  return {
    id: raw.id,
    default: raw.default === true || (typeof raw.default === "string" && raw.default.toLowerCase() === "true"),
    ...(typeof raw.type === "string" ? { type: raw.type } : {}),
    ...(typeof volumeType === "string" && volumeType !== "" ? { volumeType } : {}),
    ...(typeof raw.description === "string" && raw.description !== "" ? { description: raw.description } : {}),
  };
}

/**
 * Glance's API root from a catalog entry or a URL someone gave: a trailing
 * `/` is dropped, a path prefix (`http://host/image` behind a WSGI server)
 * kept, and a trailing `/v2` dropped (catalogs never carry one, people
 * sometimes write it), so that `/v2/info/stores` can be appended.
 */
export function glanceRootUrl(url: string): ParseResult<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, message: `Glance URL "${safeUrl(url)}" is not a URL; give its API root, e.g. https://glance.example.com:9292 or https://cloud.example.com/image` };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { ok: false, message: `Glance URL "${safeUrl(url)}" is a ${parsed.protocol} URL; Glance needs http or https` };
  }
  if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
    return { ok: false, message: `Glance URL "${safeUrl(url)}" carries a query, fragment or user info; give only scheme, host, port and path prefix` };
  }
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/v2$/, "");
  return { ok: true, value: `${parsed.origin}${path}` };
}

export interface GlanceEndpointQuery {
  readonly catalog: Catalog;
  /** Default public. */
  readonly interface?: EndpointInterface | undefined;
  /** Undefined or empty: any region (the first endpoint in catalog order). */
  readonly regionName?: string | undefined;
}

/** The `image` endpoint of a token's catalog, with the same matching rules as Cinder's (catalog.ts). */
export function selectGlanceEndpoint(query: GlanceEndpointQuery): ParseResult<string> {
  const found = findEndpoint(
    query.catalog,
    { catalogInfo: { serviceType: "image", serviceName: "", interface: query.interface ?? "public" }, region: query.regionName },
    { service: "Glance", fix: "Register Glance's endpoint for that interface and region in Keystone, ask for another interface or region, or give Glance's URL" },
  );
  return found.ok ? glanceRootUrl(found.endpoint.url) : found;
}

/**
 * Whether a Glance URL given by hand may receive a Keystone token: when it
 * is the origin of an image endpoint the catalog lists (any interface or
 * region), or when `trustHost` accepts its host (the controller: a Service
 * of the target's namespace). Anyone who may write the URL could otherwise
 * collect a token of the store credentials.
 */
export function glanceUrlTrusted(root: string, catalog: Catalog, trustHost: ((hostname: string) => boolean) | undefined): boolean {
  const origin = new URL(root).origin;
  for (const service of catalog) {
    if (service.type !== "image") continue;
    for (const endpoint of service.endpoints) {
      if (typeof endpoint.url !== "string") continue;
      try {
        if (new URL(endpoint.url).origin === origin) return true;
      } catch {
        // Not a URL: not a match.
      }
    }
  }
  return trustHost?.(new URL(root).hostname.toLowerCase()) === true;
}

export interface GlanceApiOptions {
  readonly transport: HttpTransport;
  /** Glance's API root (glanceRootUrl), without /v2 and without a trailing slash. */
  readonly root: string;
  readonly tls: TlsSettings;
  readonly retries: number;
  readonly tokens: TokenProvider;
  readonly signal?: AbortSignal | undefined;
  /** Called when Glance refused a token (401), before the one retry with a new one. */
  readonly onUnauthorized?: () => void;
}

const MULTI_STORE_OFF = /Multi backend is not supported/i;

/** Glance's error bodies: webob's `{"message": ...}`, a `{"<kind>": {"message": ...}}`, or text and HTML. */
export function glanceErrorMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === "object") {
      const record = parsed as Record<string, unknown>;
      if (typeof record["message"] === "string") return record["message"];
      for (const value of Object.values(record)) {
        if (value !== null && typeof value === "object" && typeof (value as { message?: unknown }).message === "string") return (value as { message: string }).message;
      }
    }
    return undefined;
  } catch {
    const plain = text
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim();
    return plain === "" ? undefined : plain.slice(0, 300);
  }
}

/**
 * The two discovery calls, under one token provider. A 401 means the token
 * died early: it is dropped and the call made once more with a new one.
 */
export class GlanceApi {
  readonly #options: GlanceApiOptions;

  constructor(options: GlanceApiOptions) {
    this.#options = options;
  }

  get root(): string {
    return this.#options.root;
  }

  /** `GET /v2/info/stores/detail`; undefined when Glance's policy forbids it (403). */
  async storesDetail(): Promise<GlanceStore[] | undefined> {
    const path = "/v2/info/stores/detail";
    const response = await this.#get(path, [200, 403]);
    if (response.status === 403) return undefined;
    return this.#parse(response, path).stores.map(toGlanceStore);
  }

  /** `GET /v2/info/stores`: ids, default and descriptions, for any user. */
  async stores(): Promise<GlanceStore[]> {
    const path = "/v2/info/stores";
    return this.#parse(await this.#get(path, [200]), path).stores.map(toGlanceStore);
  }

  async #get(path: string, accepted: readonly number[]): Promise<HttpResponse> {
    const url = `${this.#options.root}${path}`;
    const response = await getWithToken({ ...this.#options, service: "glance" }, url);
    if (accepted.includes(response.status)) return response;
    throw this.#failure(response, url, path);
  }


  #parse(response: HttpResponse, path: string): z.infer<typeof GlanceStoreListSchema> {
    const details = { service: "glance" as const, url: safeUrl(`${this.#options.root}${path}`), method: "GET", status: response.status, attempts: response.attempts };
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      throw new UnexpectedError(
        `Glance at ${this.#options.root} answered GET ${path} with something that is not JSON (${response.text.length} bytes, starting "${redactSecrets(response.text.slice(0, 1_000), this.#options.tokens.secrets()).slice(0, 80)}"): is the URL Glance's API root?`,
        details,
      );
    }
    const parsed = GlanceStoreListSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnexpectedError(
        `Glance at ${this.#options.root} answered GET ${path} with a body this client does not understand (${issue?.message ?? "invalid"} at ${issue?.path.join(".") || "the top"}): is the URL Glance's API root?`,
        details,
      );
    }
    return parsed.data;
  }

  #failure(response: HttpResponse, url: string, path: string): OpenStackError {
    const details = { service: "glance" as const, url: safeUrl(url), method: "GET", status: response.status, attempts: response.attempts };
    const said = glanceErrorMessage(response.text);
    const glanceSays = said === undefined ? "" : ` Glance says: "${redactSecrets(said, this.#options.tokens.secrets())}".`;
    const where = `Glance at ${this.#options.root}`;
    switch (response.status) {
      case 401:
        return new AuthFailedError(
          `${where} refused a token Keystone had just issued (HTTP 401 twice).${glanceSays} glance-api may be configured against another Keystone, or its keystone_authtoken user cannot validate tokens`,
          details,
        );
      case 403:
        return new AuthFailedError(`${where} forbids the project's user to GET ${path} (HTTP 403).${glanceSays} Give the user a role on the project that Glance's policy allows`, details);
      case 404:
        if (said !== undefined && MULTI_STORE_OFF.test(said)) {
          return new EndpointNotFoundError(
            `${where} runs without multiple stores (HTTP 404 to GET ${path}).${glanceSays} It has no enabled_backends, so it did not read the rendered configuration: check that the ConfigMap and Secret are mounted where glance-api reads them`,
            details,
          );
        }
        return new EndpointNotFoundError(
          `${where} answered 404 to GET ${path}.${glanceSays} The URL must be Glance's API root without /v2, e.g. https://glance.example.com:9292 or https://cloud.example.com/image: check the catalog's image endpoint or the URL given`,
          details,
        );
      case 502:
      case 503:
      case 504:
        return new UnreachableError(`${where} answered HTTP ${response.status} to ${response.attempts} attempt(s): glance-api or a proxy in front of it is down`, details);
      default:
        return new UnexpectedError(`${where} answered HTTP ${response.status} to GET ${path}.${glanceSays}`, details);
    }
  }
}
