import { z } from "zod";
import { AuthFailedError, EndpointNotFoundError, UnexpectedError, UnreachableError, type OpenStackError } from "./errors.js";
import type { HttpResponse, HttpTransport, TlsSettings } from "./http.js";
import { getWithToken, type TokenProvider } from "./token-get.js";
import { redactSecrets, safeUrl } from "./redact.js";

const LinkSchema = z.object({ rel: z.string(), href: z.string() });

export const CinderVolumeTypeSchema = z.object({
  id: z.string(),
  name: z.string(),
  is_public: z.boolean().optional(),
  "os-volume-type-access:is_public": z.boolean().optional(),
  description: z.string().nullable().optional(),
});

const VolumeTypeListSchema = z.object({
  volume_types: z.array(CinderVolumeTypeSchema),
  volume_type_links: z.array(LinkSchema).optional(),
});

const VolumeTypeShowSchema = z.object({ volume_type: CinderVolumeTypeSchema });

export const CinderVolumeSchema = z.object({
  id: z.string(),
  name: z.string().nullable().optional(),
  status: z.string(),
  /** The type's name (Cinder's detail view). */
  volume_type: z.string().nullable().optional(),
  /** Only from microversion 3.63 on. */
  volume_type_id: z.string().nullable().optional(),
  size: z.number().optional(),
});

const VolumeListSchema = z.object({
  volumes: z.array(CinderVolumeSchema),
  volumes_links: z.array(LinkSchema).optional(),
});

export type CinderVolumeType = z.infer<typeof CinderVolumeTypeSchema>;
export type CinderVolume = z.infer<typeof CinderVolumeSchema>;

/** A volume type as the operator reports it. */
export interface VolumeTypeInfo {
  readonly id: string;
  readonly name: string;
  readonly isPublic: boolean;
}

export function toVolumeTypeInfo(type: CinderVolumeType): VolumeTypeInfo {
  return { id: type.id, name: type.name, isPublic: type.is_public ?? type["os-volume-type-access:is_public"] ?? true };
}

/** What a Cinder call needs to get and renew its token. */
export interface CinderApiOptions {
  readonly transport: HttpTransport;
  /** e.g. http://cinder:8776/v3/<project_id>, without a trailing slash. */
  readonly endpoint: string;
  readonly tls: TlsSettings;
  readonly retries: number;
  readonly tokens: TokenProvider;
  readonly signal?: AbortSignal | undefined;
  /** Called when Cinder refused a token (401), before the one retry with a new token. */
  readonly onUnauthorized?: () => void;
}

/** What Cinder says when it has no default type ("Default volume type can not be found."). */
const NO_DEFAULT_TYPE = /default volume type/i;

/** Cinder's error body: `{"itemNotFound": {"message", "code"}}` and the like. */
export function cinderErrorMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as Record<string, { message?: unknown } | undefined>;
    for (const value of Object.values(parsed)) {
      if (value !== null && typeof value === "object" && typeof value.message === "string") return value.message;
    }
  } catch {
    // not JSON: nothing to quote
  }
  return undefined;
}

/**
 * The handful of Cinder v3 calls the operator makes, all GETs, under one
 * token provider. A 401 means the token died early (revoked, Keystone
 * restarted with new keys, a clock disagreement): the token is dropped and
 * the call is made once more with a new one; a second 401 is an answer.
 */
export class CinderApi {
  readonly #options: CinderApiOptions;

  constructor(options: CinderApiOptions) {
    this.#options = options;
  }

  get endpoint(): string {
    return this.#options.endpoint;
  }

  /** The types the project can use: public ones and private ones it was given access to. */
  async listAccessibleTypes(): Promise<CinderVolumeType[]> {
    return this.#listTypes("");
  }

  /**
   * `?is_public=None`: every type for a Cinder admin (policy
   * `context_is_admin`); Cinder silently turns it into the accessible list
   * for anyone else, so the answer alone does not say which view it is.
   */
  async listAllTypes(): Promise<CinderVolumeType[]> {
    return this.#listTypes("is_public=None");
  }

  /**
   * Cinder's default type for this project, or undefined when Cinder has
   * none (a 404 whose message says so). Any other 404 is the endpoint's: a
   * path that is not Cinder's v3 API answers 404 too.
   */
  async defaultType(): Promise<CinderVolumeType | undefined> {
    const response = await this.#get("/types/default", [200, 404]);
    if (response.status === 404) {
      if (NO_DEFAULT_TYPE.test(cinderErrorMessage(response.text) ?? "")) return undefined;
      throw this.#failure(response, `${this.#options.endpoint}/types/default`);
    }
    return this.#parse(response, VolumeTypeShowSchema, "/types/default").volume_type;
  }

  /**
   * One page of the project's volumes with details. Cinder's `volumes_links`
   * next href is built from the request's Host and scheme, which are wrong
   * behind a TLS-terminating proxy: the next page is asked with `marker`
   * on our own endpoint instead, and the link only says whether there is one.
   */
  async listVolumesPage(limit: number, marker: string | undefined): Promise<{ volumes: CinderVolume[]; hasNext: boolean }> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (marker !== undefined) query.set("marker", marker);
    const path = `/volumes/detail?${query.toString()}`;
    const body = this.#parse(await this.#get(path, [200]), VolumeListSchema, "/volumes/detail");
    return { volumes: body.volumes, hasNext: (body.volumes_links ?? []).some((link) => link.rel === "next") && body.volumes.length > 0 };
  }

  async #listTypes(filter: string): Promise<CinderVolumeType[]> {
    const types: CinderVolumeType[] = [];
    const seen = new Set<string>();
    let marker: string | undefined;
    // Cinder caps a list at osapi_max_limit (1000) and then links the next page.
    for (let page = 0; page < 100; page++) {
      const query = new URLSearchParams(filter);
      if (marker !== undefined) query.set("marker", marker);
      const qs = query.toString();
      const body = this.#parse(await this.#get(`/types${qs === "" ? "" : `?${qs}`}`, [200]), VolumeTypeListSchema, "/types");
      const fresh = body.volume_types.filter((type) => !seen.has(type.id));
      for (const type of fresh) {
        seen.add(type.id);
        types.push(type);
      }
      const hasNext = (body.volume_type_links ?? []).some((link) => link.rel === "next");
      if (!hasNext || fresh.length === 0) return types;
      marker = fresh[fresh.length - 1]?.id;
    }
    return types;
  }

  async #get(path: string, accepted: readonly number[]): Promise<HttpResponse> {
    const url = `${this.#options.endpoint}${path}`;
    const response = await getWithToken({ ...this.#options, service: "cinder" }, url);
    if (accepted.includes(response.status)) return response;
    throw this.#failure(response, url);
  }


  #parse<T>(response: HttpResponse, schema: z.ZodType<T>, what: string): T {
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      throw new UnexpectedError(
        `Cinder at ${this.#options.endpoint} answered GET ${what} with something that is not JSON (${response.text.length} bytes, starting "${redactSecrets(response.text.slice(0, 80), this.#options.tokens.secrets())}"): is the endpoint a Cinder v3 API?`,
        { service: "cinder", url: safeUrl(`${this.#options.endpoint}${what}`), method: "GET", status: response.status, attempts: response.attempts },
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnexpectedError(
        `Cinder at ${this.#options.endpoint} answered GET ${what} with a body this client does not understand (${issue?.message ?? "invalid"} at ${issue?.path.join(".") || "the top"}): is the endpoint a Cinder v3 API?`,
        { service: "cinder", url: safeUrl(`${this.#options.endpoint}${what}`), method: "GET", status: response.status, attempts: response.attempts },
      );
    }
    return parsed.data;
  }

  #failure(response: HttpResponse, url: string): OpenStackError {
    const details = { service: "cinder" as const, url: safeUrl(url), method: "GET", status: response.status, attempts: response.attempts };
    const said = cinderErrorMessage(response.text);
    const cinderSays = said === undefined ? "" : ` Cinder says: "${redactSecrets(said, this.#options.tokens.secrets())}".`;
    const where = `Cinder at ${this.#options.endpoint}`;
    switch (response.status) {
      case 401:
        return new AuthFailedError(
          `${where} refused a token Keystone had just issued (HTTP 401 twice).${cinderSays} Cinder may be configured against another Keystone, or its service user cannot validate tokens`,
          details,
        );
      case 403:
        return new AuthFailedError(
          `${where} forbids the project's user to GET ${new URL(url).pathname} (HTTP 403).${cinderSays} Give the user a role on the project that Cinder's policy allows (member or admin)`,
          details,
        );
      case 404:
        return new EndpointNotFoundError(
          `${where} answered 404 to GET ${new URL(url).pathname}.${cinderSays} The endpoint must be Cinder's v3 API with the project id, e.g. https://cinder.example.com/v3/<project_id>: check the catalog entry or the endpoint template`,
          details,
        );
      case 502:
      case 503:
      case 504:
        return new UnreachableError(`${where} answered HTTP ${response.status} to ${response.attempts} attempt(s): Cinder or a proxy in front of it is down`, details);
      default:
        return new UnexpectedError(`${where} answered HTTP ${response.status} to GET ${new URL(url).pathname}.${cinderSays}`, details);
    }
  }
}
