import { createHmac, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { credentialsKey, type ResolvedCredentials } from "../api/credentials.js";
import { normalizeRetries } from "./backoff.js";
import { selectCinderEndpoint, type EndpointInterface } from "./catalog.js";
import { CinderApi, toVolumeTypeInfo, type CinderVolume, type VolumeTypeInfo } from "./cinder.js";
import type { TokenProvider } from "./token-get.js";
import { AuthRefusals, DEFAULT_AUTH_REFUSAL_HOLD_MS, type AuthRefusal } from "./auth-refusals.js";
import { AuthFailedError, EndpointNotFoundError, isOpenStackError, UnexpectedError, VolumeTypeNotFoundError, type OpenStackError, type OpenStackErrorReason } from "./errors.js";
import { GlanceApi, glanceRootUrl, glanceUrlTrusted, selectGlanceEndpoint, type GlanceStore } from "./glance.js";
import { HttpTransport, type HttpTransportOptions, type TlsSettings } from "./http.js";
import { authenticate, authSecrets, describeIdentity, type KeystoneToken } from "./keystone.js";
import { safeUrl, summarizeCause } from "./redact.js";
import { DEFAULT_TOKEN_MARGIN_MS, TokenCache } from "./token-cache.js";
import { coversWanted, isAuthoritativeAllView, needsAllTypes, resolveVolumeType, type TypeView } from "./volume-types.js";
import { imageVolumesByType, imageVolumesOfTypes, type ImageVolume, type ImageVolumeTypeCount, type VolumeTypeRef } from "./volumes.js";
import { groupBy } from "../util/group-by.js";

/** Where and how one store reaches Cinder: its credentials and its glance_store cinder options. */
export interface CinderTarget {
  readonly credentials: ResolvedCredentials;
  /** `cinder_catalog_info`; default `volumev3::publicURL`. */
  readonly catalogInfo?: string | undefined;
  /** `cinder_os_region_name`; unset: any region. */
  readonly regionName?: string | undefined;
  /** `cinder_endpoint_template`; when set the catalog is not used. */
  readonly endpointTemplate?: string | undefined;
  /** `cinder_http_retries`; default 3. */
  readonly httpRetries?: number | undefined;
  /** `cinder_api_insecure`; default false. */
  readonly apiInsecure?: boolean | undefined;
}

export interface StoreCheckRequest extends CinderTarget {
  /** The caller's identity for the store (e.g. namespace/name): the key of its result. */
  readonly key: string;
  /** `cinder_volume_type`, a name or id; undefined: Cinder's default type. */
  readonly volumeType?: string | undefined;
}

export type StoreCheckResult =
  | {
      readonly ok: true;
      readonly volumeType: VolumeTypeInfo;
      /** True when the store named no type and Cinder's default was used. */
      readonly resolvedDefault: boolean;
      readonly endpoint: string;
      readonly projectId: string;
    }
  | {
      readonly ok: false;
      readonly error: OpenStackError;
      /** Whether Keystone accepted the credentials (rule 1 in docs/foundations.md needs exactly this). */
      readonly authenticated: boolean;
      readonly endpoint?: string;
    };

export interface ImageVolumeCountRequest extends CinderTarget {
  readonly key: string;
  /** Every volume type the store's images may be on (name; id as well when known). */
  readonly volumeTypes: readonly VolumeTypeRef[];
}

export type ImageVolumeCountResult =
  | { readonly ok: true; readonly count: number; readonly volumes: readonly ImageVolume[]; readonly endpoint: string }
  | { readonly ok: false; readonly error: OpenStackError };

/** Which glance-api to ask, with whose credentials: `url`, or the catalog of the credentials' token. */
export interface GlanceStoresRequest {
  readonly credentials: ResolvedCredentials;
  /** Glance's API root (e.g. https://glance:9292 or https://cloud/image); when set (not empty), the catalog is not used. */
  readonly url?: string | undefined;
  /** The catalog's `image` endpoint of this interface; default public. */
  readonly interface?: EndpointInterface | undefined;
  /** The catalog's region; unset: the first `image` endpoint of the interface. */
  readonly regionName?: string | undefined;
  /** Skip certificate verification, for Keystone and Glance; default false. */
  readonly apiInsecure?: boolean | undefined;
  /** Transport retries; default 3. */
  readonly httpRetries?: number | undefined;
  /** Hosts a given `url` may name besides the catalog's image endpoints (a token goes there). Unset: the catalog's only. */
  readonly trustHost?: ((hostname: string) => boolean) | undefined;
  /** What `trustHost` accepts, in words, for the error when it does not. */
  readonly trustedHostsText?: string | undefined;
}

export type GlanceStoresResult =
  | {
      readonly ok: true;
      /** The Glance API root that answered. */
      readonly url: string;
      /** True: the stores come from /v2/info/stores/detail and carry `type` (and `volumeType`); false: Glance's policy forbade it, types are unknown. */
      readonly detail: boolean;
      readonly stores: readonly GlanceStore[];
    }
  | { readonly ok: false; readonly error: OpenStackError };

export interface ImageVolumesByTypeRequest extends CinderTarget {
  readonly key: string;
}

export type ImageVolumesByTypeResult =
  | {
      readonly ok: true;
      readonly projectId: string;
      /** The project's `image-<uuid>` volumes per volume type name, sorted by name; a volume without a type last, as `undefined`. */
      readonly byType: readonly ImageVolumeTypeCount[];
    }
  | { readonly ok: false; readonly error: OpenStackError };

export type DefaultVolumeTypeResult =
  | { readonly ok: true; readonly volumeType: { readonly id: string; readonly name: string }; readonly projectId: string }
  | { readonly ok: false; readonly error: OpenStackError };

export type OpenStackEventKind =
  /** A token request to Keystone (not a cache hit). */
  | "auth"
  /** A token request not sent: Keystone refused these credentials earlier and they are held (no HTTP). */
  | "auth-held"
  /** Finding the Cinder endpoint in a token's catalog or template (no HTTP). */
  | "catalog"
  /** `GET /types`. */
  | "types"
  /** `GET /types?is_public=None`. */
  | "types-all"
  /** `GET /types/default`. */
  | "default-type"
  /** A whole volume listing (all its pages). */
  | "volumes"
  /** Glance's `GET /v2/info/stores/detail` (a 403 there, Glance's default policy for non-admins, is outcome AuthFailed and followed by `glance-stores`). */
  | "glance-stores-detail"
  /** Glance's `GET /v2/info/stores`. */
  | "glance-stores"
  /** Cinder refused a token (401); the call is retried once with a new one. */
  | "unauthorized";

export interface OpenStackEvent {
  readonly kind: OpenStackEventKind;
  readonly outcome: "ok" | OpenStackErrorReason;
  readonly durationMs: number;
  /** For `volumes`: pages fetched. */
  readonly pages?: number;
}

/** Receives one event per OpenStack operation, for metrics; must not throw. */
export type OpenStackObserver = (event: OpenStackEvent) => void;

/** The transport's own options (timeouts, backoff, dispatcher) pass through unchanged. */
export interface OpenStackClientOptions extends Omit<HttpTransportOptions, "maxResponseBytes" | "logger"> {
  readonly logger?: Logger | undefined;
  readonly observer?: OpenStackObserver | undefined;
  /** The clock token-expiry decisions use; default Date.now. */
  readonly now?: () => number;
  /** Stop using a token this long before it expires (at most half its life); default 60 s. */
  readonly tokenMarginMs?: number;
  /** Volumes per page (Cinder caps it at osapi_max_limit, 1000 by default). */
  readonly volumesPageSize?: number;
  /** Credential sets worked on at once in one round. */
  readonly maxConcurrentGroups?: number;
  /** How long a credential set Keystone refused is not sent again (default 1 hour); see auth-refusals.ts. */
  readonly authRefusalHoldMs?: number;
  /**
   * How long a credential set's view of Cinder's volume types (at one
   * endpoint) is shared by later checks: the targets of one re-check round
   * then cost one type list per (credential set, endpoint), however many
   * there are. A check that wants a type the shared view lacks asks Cinder
   * again at once, so a type created a moment ago is never missed. Default 0:
   * every check asks.
   */
  readonly typeViewTtlMs?: number;
}

export interface RoundOptions {
  readonly signal?: AbortSignal | undefined;
}

/** The part of the client the controller needs: small, so a unit test can replace it. */
export interface StoreChecker {
  checkStores(requests: readonly StoreCheckRequest[], options?: RoundOptions): Promise<Map<string, StoreCheckResult>>;
  countImageVolumes(requests: readonly ImageVolumeCountRequest[], options?: RoundOptions): Promise<Map<string, ImageVolumeCountResult>>;
  listVolumes(target: CinderTarget, options?: RoundOptions): Promise<CinderVolume[]>;
  verifyCredentials(target: CinderTarget, options?: RoundOptions): Promise<{ projectId: string; userId: string }>;
  /** What a glance-api serves: its stores, with types when its policy lets these credentials see them. */
  glanceStores(request: GlanceStoresRequest, options?: RoundOptions): Promise<GlanceStoresResult>;
  /** Each target's `image-<uuid>` volumes counted per volume type, one listing per (credential set, endpoint). */
  imageVolumesByType(requests: readonly ImageVolumesByTypeRequest[], options?: RoundOptions): Promise<Map<string, ImageVolumesByTypeResult>>;
  /** Cinder's default volume type as the project of the target's credentials sees it. */
  defaultVolumeType(target: CinderTarget, options?: RoundOptions): Promise<DefaultVolumeTypeResult>;
  /**
   * Refusals recorded elsewhere (a status written by another replica or an
   * earlier run): the credential set is held until `retryAtMs` as if this
   * client had been refused itself.
   */
  rememberRefusal(credentials: ResolvedCredentials, refusal: { readonly refusedAtMs: number; readonly retryAtMs: number }): void;
  close(): Promise<void>;
}

/** What decides a token and its TLS: the credentials, the verification flag and the retries. */
type AuthTarget = Pick<CinderTarget, "credentials" | "apiInsecure" | "httpRetries">;

interface AuthGroup {
  readonly key: string;
  /** For logs: `key` is an unsalted hash over the password, so it is keyed again with a per-client secret. */
  readonly logId: string;
  readonly credentials: ResolvedCredentials;
  readonly tls: TlsSettings;
  readonly retries: number;
}

interface Session {
  readonly group: AuthGroup;
  readonly token: KeystoneToken;
  readonly tokens: TokenProvider;
}

/**
 * The operator's client for Keystone and Cinder. One instance lives as long
 * as the operator: it keeps one token per credential set and one connection
 * pool per origin. Work is done in rounds: a round groups its stores by
 * credential set (one token) and then by Cinder endpoint (one type list),
 * so fifty stores of one credential set cost one authentication, at most,
 * and one `GET /types`.
 */
export class OpenStackClient implements StoreChecker {
  readonly #transport: HttpTransport;
  readonly #tokens: TokenCache;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  readonly #observer: OpenStackObserver | undefined;
  readonly #pageSize: number;
  readonly #maxConcurrentGroups: number;
  readonly #refusals: AuthRefusals;
  readonly #typeViewTtlMs: number;
  /** Shared type views by credential set and endpoint, with the time they were asked (a pending one is shared too). */
  readonly #typeViews = new Map<string, { readonly at: number; readonly view: Promise<TypeView> }>();
  readonly #logKey = randomBytes(16);

  constructor(options: OpenStackClientOptions = {}) {
    const { logger, observer, now, tokenMarginMs, volumesPageSize, maxConcurrentGroups, authRefusalHoldMs, typeViewTtlMs, ...transport } = options;
    this.#typeViewTtlMs = Math.max(0, typeViewTtlMs ?? 0);
    this.#now = now ?? Date.now;
    this.#logger = logger;
    this.#observer = observer;
    this.#pageSize = Math.max(1, Math.floor(volumesPageSize ?? 1000));
    this.#maxConcurrentGroups = Math.max(1, Math.floor(maxConcurrentGroups ?? 8));
    this.#tokens = new TokenCache({ now: this.#now, marginMs: tokenMarginMs ?? DEFAULT_TOKEN_MARGIN_MS });
    this.#refusals = new AuthRefusals({ now: this.#now, holdMs: authRefusalHoldMs ?? DEFAULT_AUTH_REFUSAL_HOLD_MS });
    this.#transport = new HttpTransport({ ...transport, logger });
  }

  /**
   * Checks every store of a round: credentials, endpoint, volume type. Never
   * throws for an OpenStack problem: each store gets its own result.
   */
  async checkStores(requests: readonly StoreCheckRequest[], options: RoundOptions = {}): Promise<Map<string, StoreCheckResult>> {
    assertUniqueKeys(requests);
    const results = new Map<string, StoreCheckResult>();
    this.#tokens.prune();
    const failed = (request: StoreCheckRequest, error: OpenStackError): void => {
      results.set(request.key, { ok: false, error, authenticated: false });
    };
    await this.#perCredentialSet(requests, options.signal, failed, async (group, session, members) => {
      const byEndpoint = new Map<string, StoreCheckRequest[]>();
      // Stores mostly share their endpoint options: one lookup (and one event) per distinct set.
      const lookups = new Map<string, ReturnType<typeof selectCinderEndpoint>>();
      for (const request of members) {
        const lookupKey = JSON.stringify([request.catalogInfo, request.regionName, request.endpointTemplate]);
        let endpoint = lookups.get(lookupKey);
        if (endpoint === undefined) {
          const started = performance.now();
          endpoint = endpointFor(session.token, request);
          lookups.set(lookupKey, endpoint);
          this.#emit({ kind: "catalog", outcome: endpoint.ok ? "ok" : "EndpointNotFound", durationMs: performance.now() - started });
        }
        if (!endpoint.ok) {
          results.set(request.key, { ok: false, error: new EndpointNotFoundError(endpoint.message, { service: "keystone" }), authenticated: true });
          continue;
        }
        const list = byEndpoint.get(endpoint.value) ?? [];
        list.push(request);
        byEndpoint.set(endpoint.value, list);
      }
      await Promise.all(
        [...byEndpoint.entries()].map(async ([endpoint, endpointMembers]) => {
          const retries = Math.max(...endpointMembers.map((request) => normalizeRetries(request.httpRetries)));
          const cinder = this.#cinder(session, endpoint, retries, options.signal);
          try {
            const view = await this.#sharedTypeView(`${group.key}\n${endpoint}`, cinder, session, endpointMembers.map((request) => request.volumeType));
            for (const request of endpointMembers) {
              const resolution = resolveVolumeType(request.volumeType, view);
              results.set(
                request.key,
                resolution.ok
                  ? { ok: true, volumeType: resolution.volumeType, resolvedDefault: resolution.resolvedDefault, endpoint, projectId: session.token.projectId }
                  : { ok: false, error: resolution.error, authenticated: true, endpoint },
              );
            }
          } catch (error) {
            const failure = this.#asOpenStackError(error, group);
            for (const request of endpointMembers) results.set(request.key, { ok: false, error: failure, authenticated: true, endpoint });
          }
        }),
      );
    });
    return orderedLike(requests, results);
  }

  /**
   * Counts each store's image volumes (`image-<uuid>` of the store's type)
   * in its credential set's project: one volume listing per (credential
   * set, endpoint), shared by the stores that use them.
   */
  async countImageVolumes(requests: readonly ImageVolumeCountRequest[], options: RoundOptions = {}): Promise<Map<string, ImageVolumeCountResult>> {
    assertUniqueKeys(requests);
    const results = new Map<string, ImageVolumeCountResult>();
    await this.#perVolumeListing(requests, options.signal, {
      failed: (request, error) => results.set(request.key, { ok: false, error }),
      listed: (request, volumes, endpoint) => {
        const images = imageVolumesOfTypes(volumes, request.volumeTypes);
        results.set(request.key, { ok: true, count: images.length, volumes: images, endpoint });
      },
    });
    return orderedLike(requests, results);
  }

  /**
   * Counts each target's image volumes (`image-<uuid>`, any status) in its
   * credential set's project per volume type: what legacy images sit on
   * types no store covers. One volume listing per (credential set,
   * endpoint), shared by the requests that use them.
   */
  async imageVolumesByType(requests: readonly ImageVolumesByTypeRequest[], options: RoundOptions = {}): Promise<Map<string, ImageVolumesByTypeResult>> {
    assertUniqueKeys(requests);
    const results = new Map<string, ImageVolumesByTypeResult>();
    const counted = new WeakMap<CinderVolume[], readonly ImageVolumeTypeCount[]>();
    await this.#perVolumeListing(requests, options.signal, {
      failed: (request, error) => results.set(request.key, { ok: false, error }),
      listed: (request, volumes, _endpoint, session) => {
        let byType = counted.get(volumes);
        if (byType === undefined) {
          byType = imageVolumesByType(volumes);
          counted.set(volumes, byType);
        }
        results.set(request.key, { ok: true, projectId: session.token.projectId, byType });
      },
    });
    return orderedLike(requests, results);
  }

  /**
   * Runs one volume listing per (credential set, endpoint) of `requests`
   * and hands it to each request that uses them; a request whose
   * credentials, endpoint or listing failed gets `failed` instead.
   */
  async #perVolumeListing<R extends CinderTarget & { readonly key: string }>(
    requests: readonly R[],
    signal: AbortSignal | undefined,
    handlers: {
      readonly failed: (request: R, error: OpenStackError) => void;
      readonly listed: (request: R, volumes: CinderVolume[], endpoint: string, session: Session) => void;
    },
  ): Promise<void> {
    await this.#perCredentialSet(requests, signal, handlers.failed, async (group, session, members) => {
      const byEndpoint = new Map<string, R[]>();
      for (const request of members) {
        const endpoint = endpointFor(session.token, request);
        if (!endpoint.ok) {
          handlers.failed(request, new EndpointNotFoundError(endpoint.message, { service: "keystone" }));
          continue;
        }
        byEndpoint.set(endpoint.value, [...(byEndpoint.get(endpoint.value) ?? []), request]);
      }
      await Promise.all(
        [...byEndpoint.entries()].map(async ([endpoint, endpointMembers]) => {
          const retries = Math.max(...endpointMembers.map((request) => normalizeRetries(request.httpRetries)));
          let volumes: CinderVolume[];
          try {
            volumes = await this.#allVolumes(this.#cinder(session, endpoint, retries, signal));
          } catch (error) {
            const failure = this.#asOpenStackError(error, group);
            for (const request of endpointMembers) handlers.failed(request, failure);
            return;
          }
          for (const request of endpointMembers) handlers.listed(request, volumes, endpoint, session);
        }),
      );
    });
  }

  /** Cinder's default type for the target's project (`GET /types/default`, which honours per-project defaults). */
  async defaultVolumeType(target: CinderTarget, options: RoundOptions = {}): Promise<DefaultVolumeTypeResult> {
    const group = this.#authGroup(target, [target]);
    try {
      const session = await this.#session(group, options.signal);
      const endpoint = endpointFor(session.token, target);
      if (!endpoint.ok) return { ok: false, error: new EndpointNotFoundError(endpoint.message, { service: "keystone" }) };
      const cinder = this.#cinder(session, endpoint.value, group.retries, options.signal);
      const found = await this.#timed("default-type", () => cinder.defaultType());
      if (found === undefined) {
        const project = session.token.projectName === undefined ? `project ${session.token.projectId}` : `project "${session.token.projectName}" (${session.token.projectId})`;
        return {
          ok: false,
          error: new VolumeTypeNotFoundError(
            `Cinder at ${endpoint.value} has no default volume type for ${project} (GET /types/default answered 404). Configure default_volume_type in Cinder, or a default for the project (API 3.62: cinder --os-volume-api-version 3.62 default-type-set <type> ${session.token.projectId})`,
            { service: "cinder", url: safeUrl(`${endpoint.value}/types/default`), method: "GET", status: 404 },
          ),
        };
      }
      return { ok: true, volumeType: { id: found.id, name: found.name }, projectId: session.token.projectId };
    } catch (error) {
      return { ok: false, error: this.#asOpenStackError(error, group) };
    }
  }

  /**
   * Asks a glance-api what it serves: `GET /v2/info/stores/detail`, and when
   * Glance's policy forbids that (403; its default is admin only), `GET
   * /v2/info/stores` with `detail: false`. Glance is found at `url`, or as
   * the `image` endpoint of the token's catalog. Never throws for an
   * OpenStack problem.
   */
  async glanceStores(request: GlanceStoresRequest, options: RoundOptions = {}): Promise<GlanceStoresResult> {
    // An empty url means none, as an empty endpoint template does.
    const given = request.url === undefined || request.url === "" ? undefined : glanceRootUrl(request.url);
    // A URL that cannot be right is refused before a password goes to Keystone.
    if (given !== undefined && !given.ok) return { ok: false, error: new EndpointNotFoundError(given.message, { service: "glance" }) };
    const group = this.#authGroup(request, [request]);
    try {
      const session = await this.#session(group, options.signal);
      let root: string;
      if (given !== undefined) {
        root = given.value;
        if (!glanceUrlTrusted(root, session.token.catalog, request.trustHost)) {
          return {
            ok: false,
            error: new EndpointNotFoundError(
              `Glance URL ${root} is neither an image endpoint of the Keystone catalog nor ${request.trustedHostsText ?? "a trusted host"}: the operator sends a Keystone token of the store credentials only there. Register it in the catalog, use a Service of the namespace, or leave the URL unset`,
              { service: "glance" },
            ),
          };
        }
      } else {
        const started = performance.now();
        const found = selectGlanceEndpoint({ catalog: session.token.catalog, interface: request.interface, regionName: request.regionName });
        this.#emit({ kind: "catalog", outcome: found.ok ? "ok" : "EndpointNotFound", durationMs: performance.now() - started });
        if (!found.ok) return { ok: false, error: new EndpointNotFoundError(found.message, { service: "keystone" }) };
        root = found.value;
      }
      const glance = new GlanceApi({
        transport: this.#transport,
        root,
        tls: group.tls,
        retries: group.retries,
        tokens: session.tokens,
        signal: options.signal,
        onUnauthorized: () => {
          this.#emit({ kind: "unauthorized", outcome: "AuthFailed", durationMs: 0 });
          this.#logger?.info({ credentials: group.logId, glance: root }, "Glance refused the cached token; authenticating again");
        },
      });
      const started = performance.now();
      let detailed: GlanceStore[] | undefined;
      try {
        detailed = await glance.storesDetail();
      } catch (error) {
        this.#emit({ kind: "glance-stores-detail", outcome: isOpenStackError(error) ? error.reason : "Unexpected", durationMs: performance.now() - started });
        throw error;
      }
      // A 403 is Glance's policy saying no: counted as AuthFailed, and answered from the plain list.
      this.#emit({ kind: "glance-stores-detail", outcome: detailed === undefined ? "AuthFailed" : "ok", durationMs: performance.now() - started });
      if (detailed !== undefined) {
        this.#logger?.debug({ credentials: group.logId, glance: root, stores: detailed.length }, "read Glance's stores with details");
        return { ok: true, url: root, detail: true, stores: detailed };
      }
      this.#logger?.debug({ credentials: group.logId, glance: root }, "Glance's policy forbids the store details to these credentials; reading the plain list");
      const stores = await this.#timed("glance-stores", () => glance.stores());
      return { ok: true, url: root, detail: false, stores };
    } catch (error) {
      return { ok: false, error: this.#asOpenStackError(error, group) };
    }
  }

  /** Every volume of the target's project, with its type; follows the pages. Throws OpenStackError. */
  async listVolumes(target: CinderTarget, options: RoundOptions = {}): Promise<CinderVolume[]> {
    const group = this.#authGroup(target, [target]);
    const session = await this.#session(group, options.signal);
    const endpoint = endpointFor(session.token, target);
    if (!endpoint.ok) throw new EndpointNotFoundError(endpoint.message, { service: "keystone" });
    return this.#allVolumes(this.#cinder(session, endpoint.value, group.retries, options.signal));
  }

  /** Authenticates (or reuses the cached token) and reports whether Keystone accepts the credentials. Throws OpenStackError. */
  async verifyCredentials(target: CinderTarget, options: RoundOptions = {}): Promise<{ projectId: string; userId: string }> {
    const session = await this.#session(this.#authGroup(target, [target]), options.signal);
    return { projectId: session.token.projectId, userId: session.token.userId };
  }

  rememberRefusal(credentials: ResolvedCredentials, refusal: { readonly refusedAtMs: number; readonly retryAtMs: number }): void {
    this.#refusals.remember(credentialsKey(credentials), {
      ...refusal,
      message: `Keystone at ${safeUrl(credentials.auth.authUrl)} refused ${describeIdentity(credentials.auth)} (HTTP 401) at ${isoTime(refusal.refusedAtMs)}, as an earlier run of the operator recorded`,
    });
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /**
   * Runs `work` once per credential set of a round, with its session (one
   * token for all its stores); when Keystone cannot be asked or refuses,
   * every store of the set gets `failed` instead.
   */
  async #perCredentialSet<R extends CinderTarget & { readonly key: string }>(
    requests: readonly R[],
    signal: AbortSignal | undefined,
    failed: (request: R, error: OpenStackError) => void,
    work: (group: AuthGroup, session: Session, members: readonly R[]) => Promise<void>,
  ): Promise<void> {
    const groups = groupBy(requests, (request) => authGroupKey(request));
    await mapLimit([...groups.values()], this.#maxConcurrentGroups, async (members) => {
      const first = members[0];
      if (first === undefined) return;
      const group = this.#authGroup(first, members);
      let session: Session;
      try {
        session = await this.#session(group, signal);
      } catch (error) {
        const failure = this.#asOpenStackError(error, group);
        for (const request of members) failed(request, failure);
        return;
      }
      await work(group, session, members);
    });
  }

  #authGroup(first: AuthTarget, members: readonly AuthTarget[]): AuthGroup {
    const key = authGroupKey(first);
    return {
      key,
      logId: createHmac("sha256", this.#logKey).update(key).digest("hex").slice(0, 12),
      credentials: first.credentials,
      tls: { caCertPem: first.credentials.caCertPem, insecure: first.apiInsecure ?? false },
      retries: Math.max(...members.map((member) => normalizeRetries(member.httpRetries))),
    };
  }

  async #session(group: AuthGroup, signal: AbortSignal | undefined): Promise<Session> {
    // Refusals are about the credentials, whatever TLS settings reached Keystone.
    const refusalKey = credentialsKey(group.credentials);
    const issue = async (): Promise<KeystoneToken> => {
      const held = this.#refusals.held(refusalKey);
      if (held !== undefined) {
        this.#emit({ kind: "auth-held", outcome: "AuthFailed", durationMs: 0 });
        throw new AuthFailedError(heldMessage(held), { service: "keystone", refusal: { refusedAtMs: held.refusedAtMs, retryAtMs: held.retryAtMs, held: true } });
      }
      const started = performance.now();
      try {
        const token = await authenticate({
          transport: this.#transport,
          auth: group.credentials.auth,
          tls: group.tls,
          retries: group.retries,
          now: this.#now,
          signal,
          replay: this.#refusals.wasAccepted(refusalKey) ? "always" : "unsent-only",
        });
        this.#refusals.accepted(refusalKey);
        this.#emit({ kind: "auth", outcome: "ok", durationMs: performance.now() - started });
        this.#logger?.debug({ credentials: group.logId, projectId: token.projectId, expiresAt: token.expiresAt }, "authenticated to Keystone");
        return token;
      } catch (error) {
        let failure = this.#asOpenStackError(error, group);
        if (failure instanceof AuthFailedError && failure.status === 401) {
          const refusal = this.#refusals.refused(refusalKey, failure.message);
          failure = new AuthFailedError(heldMessage(refusal), {
            service: "keystone",
            ...(failure.url === undefined ? {} : { url: failure.url }),
            ...(failure.method === undefined ? {} : { method: failure.method }),
            status: 401,
            ...(failure.attempts === undefined ? {} : { attempts: failure.attempts }),
            refusal: { refusedAtMs: refusal.refusedAtMs, retryAtMs: refusal.retryAtMs, held: false },
          });
          this.#logger?.warn({ credentials: group.logId, retryAt: isoTime(refusal.retryAtMs) }, "Keystone refused a credential set; holding it off to avoid a lockout");
        }
        this.#emit({ kind: "auth", outcome: failure.reason, durationMs: performance.now() - started });
        this.#logger?.debug({ credentials: group.logId, error: failure.toJSON() }, "Keystone authentication failed");
        throw failure;
      }
    };
    const { token } = await this.#tokens.get(group.key, issue);
    const tokens: TokenProvider = {
      get: async () => (await this.#tokens.get(group.key, issue)).token,
      invalidate: (refused) => this.#tokens.invalidate(group.key, refused),
      secrets: () => [...authSecrets(group.credentials.auth), ...this.#tokens.values()],
    };
    return { group, token, tokens };
  }

  #cinder(session: Session, endpoint: string, retries: number, signal: AbortSignal | undefined): CinderApi {
    return new CinderApi({
      transport: this.#transport,
      endpoint,
      tls: session.group.tls,
      retries,
      tokens: session.tokens,
      signal,
      onUnauthorized: () => {
        this.#emit({ kind: "unauthorized", outcome: "AuthFailed", durationMs: 0 });
        this.#logger?.info({ credentials: session.group.logId, endpoint }, "Cinder refused the cached token; authenticating again");
      },
    });
  }

  /** A recent view of the same credential set at the same endpoint when it has every wanted type, else a new one. */
  async #sharedTypeView(key: string, cinder: CinderApi, session: Session, wanted: readonly (string | undefined)[]): Promise<TypeView> {
    const now = this.#now();
    const shared = this.#typeViews.get(key);
    if (shared !== undefined && now - shared.at < this.#typeViewTtlMs) {
      const view = await shared.view.catch(() => undefined);
      if (view !== undefined && coversWanted(view, wanted)) return view;
    }
    const view = this.#typeView(cinder, session, wanted);
    if (this.#typeViewTtlMs > 0) {
      for (const [other, entry] of this.#typeViews) if (now - entry.at >= this.#typeViewTtlMs) this.#typeViews.delete(other);
      this.#typeViews.set(key, { at: now, view });
      view.catch(() => this.#typeViews.delete(key));
    }
    return view;
  }

  async #typeView(cinder: CinderApi, session: Session, wanted: readonly (string | undefined)[]): Promise<TypeView> {
    const accessible = (await this.#timed("types", () => cinder.listAccessibleTypes())).map(toVolumeTypeInfo);
    const defaultRaw = wanted.includes(undefined) ? await this.#timed("default-type", () => cinder.defaultType()) : undefined;
    const defaultType = defaultRaw === undefined ? (wanted.includes(undefined) ? null : undefined) : toVolumeTypeInfo(defaultRaw);
    let all: VolumeTypeInfo[] | undefined;
    let allIsAuthoritative = false;
    if (needsAllTypes(wanted, accessible, defaultType)) {
      all = (await this.#timed("types-all", () => cinder.listAllTypes())).map(toVolumeTypeInfo);
      allIsAuthoritative = isAuthoritativeAllView(session.token.roles, accessible, all);
    }
    return {
      endpoint: cinder.endpoint,
      projectId: session.token.projectId,
      projectName: session.token.projectName,
      accessible,
      all,
      allIsAuthoritative,
      defaultType,
    };
  }

  async #allVolumes(cinder: CinderApi): Promise<CinderVolume[]> {
    const started = performance.now();
    const volumes: CinderVolume[] = [];
    const seen = new Set<string>();
    let marker: string | undefined;
    let pages = 0;
    try {
      for (;;) {
        const page = await cinder.listVolumesPage(this.#pageSize, marker);
        pages++;
        // A volume created or deleted between two pages can shift the window: keep each id once.
        for (const volume of page.volumes) {
          if (seen.has(volume.id)) continue;
          seen.add(volume.id);
          volumes.push(volume);
        }
        const last = page.volumes[page.volumes.length - 1]?.id;
        if (!page.hasNext || last === undefined || last === marker) break;
        marker = last;
      }
    } catch (error) {
      const failure = isOpenStackError(error) ? error : new UnexpectedError(`listing volumes at ${cinder.endpoint} failed: ${summarizeCause(error, []).message}`);
      this.#emit({ kind: "volumes", outcome: failure.reason, durationMs: performance.now() - started, pages });
      throw failure;
    }
    this.#emit({ kind: "volumes", outcome: "ok", durationMs: performance.now() - started, pages });
    this.#logger?.debug({ endpoint: cinder.endpoint, volumes: volumes.length, pages }, "listed Cinder volumes");
    return volumes;
  }

  async #timed<T>(kind: OpenStackEventKind, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await call();
      this.#emit({ kind, outcome: "ok", durationMs: performance.now() - started });
      return result;
    } catch (error) {
      this.#emit({ kind, outcome: isOpenStackError(error) ? error.reason : "Unexpected", durationMs: performance.now() - started });
      throw error;
    }
  }

  #asOpenStackError(error: unknown, group: AuthGroup): OpenStackError {
    if (isOpenStackError(error)) return error;
    // Only a bug gets here; still no secret may leave.
    return new UnexpectedError(`internal error of the OpenStack client: ${summarizeCause(error, [...authSecrets(group.credentials.auth), ...this.#tokens.values()]).message}`);
  }

  #emit(event: OpenStackEvent): void {
    if (this.#observer === undefined) return;
    try {
      this.#observer(event);
    } catch (error) {
      this.#logger?.warn({ error: summarizeCause(error, []) }, "the OpenStack observer threw; ignored");
    }
  }
}

function isoTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const LOCKOUT_NOTE = "Keystone locks a user out after a few refused passwords in a row (security_compliance lockout_failure_attempts), which would stop glance-api too";

/** One text for the refusal and for every round it is held, so a status does not change from one round to the next. */
function heldMessage(refusal: AuthRefusal): string {
  return `${refusal.message.replace(/\.$/, "")} (at ${isoTime(refusal.refusedAtMs)}). ${LOCKOUT_NOTE}, so the operator holds these credentials off until ${isoTime(refusal.retryAtMs)}; a change of the Secret's data is tried at once`;
}

function endpointFor(token: KeystoneToken, target: CinderTarget): ReturnType<typeof selectCinderEndpoint> {
  return selectCinderEndpoint({
    catalog: token.catalog,
    projectId: token.projectId,
    catalogInfo: target.catalogInfo,
    regionName: target.regionName,
    endpointTemplate: target.endpointTemplate,
  });
}

/**
 * Stores share a token when their credentials are the same and Keystone is
 * reached with the same TLS verification: a store that verifies Keystone's
 * certificate must not ride on a token fetched without verification.
 */
function authGroupKey(target: AuthTarget): string {
  return `${credentialsKey(target.credentials)}${target.apiInsecure ? "+insecure" : ""}`;
}

function assertUniqueKeys(requests: readonly { key: string }[]): void {
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.key)) throw new TypeError(`two requests of one round share the key "${request.key}"; keys must be unique (e.g. namespace/name)`);
    seen.add(request.key);
  }
}


function orderedLike<R>(requests: readonly { key: string }[], results: Map<string, R>): Map<string, R> {
  const ordered = new Map<string, R>();
  for (const request of requests) {
    const result = results.get(request.key);
    if (result !== undefined) ordered.set(request.key, result);
  }
  return ordered;
}

async function mapLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}
