import { createHash } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";
import { GlanceStoreTargetSpecSchema, GlanceStoreTargetStatusSchema, type GlanceStoreTargetSpec, type GlanceStoreTargetStatus } from "../api/glancestoretarget.js";
import { fieldProblems, formatFieldProblem } from "../api/issues.js";
import type { StoreChecker } from "../openstack/index.js";
import { CINDER_DEFAULTS } from "../api/glancestore.js";
import { formatTime } from "./conditions.js";
import type { SessionStore, TargetSettings } from "./decide.js";
import type { GlanceObservation, ImageVolumesObservation } from "./target-status.js";

/** A GlanceStoreTarget as the informer holds it: the apiserver's JSON, not yet validated. */
export interface GlanceStoreTargetObject extends KubernetesObject {
  spec?: unknown;
  status?: unknown;
}

export interface TargetObject {
  readonly raw: GlanceStoreTargetObject;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number | undefined;
  /** Undefined when the object does not pass today's schema (then `specProblem` says why). */
  readonly spec: GlanceStoreTargetSpec | undefined;
  readonly specProblem: string | undefined;
  readonly status: GlanceStoreTargetStatus | undefined;
}

export function readTargetObject(raw: GlanceStoreTargetObject): TargetObject {
  const metadata = raw.metadata ?? {};
  const parsed = GlanceStoreTargetSpecSchema.safeParse(raw.spec ?? {});
  const status = GlanceStoreTargetStatusSchema.safeParse(raw.status ?? {});
  return {
    raw,
    namespace: metadata.namespace ?? "",
    name: metadata.name ?? "",
    uid: metadata.uid ?? "",
    generation: metadata.generation,
    spec: parsed.success ? parsed.data : undefined,
    specProblem: parsed.success ? undefined : fieldProblems(parsed.error.issues).map(formatFieldProblem).join("; "),
    status: status.success ? status.data : undefined,
  };
}

/** What the decision reads of a target object; undefined (no object, or an invalid one) leaves the target as it was. */
export function targetSettings(object: TargetObject | undefined): TargetSettings | undefined {
  if (object?.spec === undefined) return undefined;
  return { defaultStore: object.spec.defaultStore, otherStores: (object.spec.otherStores ?? []).map((store) => ({ id: store.id, type: store.type })) };
}

/**
 * A Service of the target's own namespace, by its cluster DNS name:
 * `<service>.<namespace>.svc` or `.svc.cluster.local`. Whoever may write the
 * target's URL may already create what runs in that namespace. Not the short
 * `<service>.<namespace>`: a namespace named like a top-level domain would
 * make it a public name; another cluster domain goes through the catalog.
 */
export function isServiceHostOf(hostname: string, namespace: string): boolean {
  const escaped = namespace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.${escaped}\\.svc(\\.cluster\\.local)?\\.?$`).test(hostname);
}

/** A listing of image volumes, reused for a re-check period (a pending one is shared too). */
interface CachedListing {
  readonly fetchedAtMs: number;
  readonly observation: Promise<ImageVolumesObservation>;
}

/**
 * The target-wide observations that are information, never a gate: the
 * image volumes of the project Glance keeps images in, by type (listed at
 * most once per re-check period per target, since a listing can be large;
 * which types are uncovered is computed from it at every reconcile, so a
 * covering store clears them at once), and what Glance says it serves.
 */
export class TargetObserver {
  readonly #checker: StoreChecker;
  readonly #listingTtlMs: number;
  readonly #listings = new Map<string, CachedListing>();

  constructor(options: { checker: StoreChecker; listingTtlMs: number }) {
    this.#checker = options.checker;
    this.#listingTtlMs = options.listingTtlMs;
  }

  /**
   * The image volumes of the project the session store's credentials reach,
   * by type: one listing per credential set (and region) and period, shared
   * by every target that opens its Cinder session with them.
   */
  async imageVolumes(session: SessionStore | undefined, now: number, signal?: AbortSignal): Promise<ImageVolumesObservation | undefined> {
    if (session === undefined) return undefined;
    // A digest: the key travels with the request (logs, errors) and must not carry the password.
    const key = createHash("sha256").update(JSON.stringify([session.credentials, session.regionName])).digest("hex");
    const cached = this.#listings.get(key);
    if (cached !== undefined && now - cached.fetchedAtMs < this.#listingTtlMs) return cached.observation;
    const pending = this.#list(key, session, now, signal);
    this.#listings.set(key, { fetchedAtMs: now, observation: pending });
    for (const [other, entry] of this.#listings) if (now - entry.fetchedAtMs >= this.#listingTtlMs) this.#listings.delete(other);
    const observation = await pending;
    // A failed listing is tried again at the next reconcile; a good one is kept for the period.
    if (!observation.ok) this.#listings.delete(key);
    return observation;
  }

  async #list(key: string, session: SessionStore, now: number, signal: AbortSignal | undefined): Promise<ImageVolumesObservation> {
    const results = await this.#checker.imageVolumesByType(
      [
        {
          key,
          credentials: session.credentials,
          catalogInfo: CINDER_DEFAULTS.catalogInfo,
          regionName: session.regionName,
          endpointTemplate: undefined,
          httpRetries: session.httpRetries,
          apiInsecure: session.apiInsecure,
        },
      ],
      { signal },
    );
    const result = results.get(key);
    if (result === undefined) return { ok: false, reason: "Unexpected", message: "no answer for the listing" };
    if (!result.ok) return { ok: false, reason: result.error.reason, message: result.error.message };
    return { ok: true, byType: result.byType.map((type) => ({ volumeType: type.volumeType, count: type.count })), checkedAt: formatTime(new Date(now)) };
  }

  async glance(target: TargetObject | undefined, session: SessionStore | undefined, now: number, signal?: AbortSignal): Promise<GlanceObservation | undefined> {
    const settings = target?.spec?.glance;
    if (target?.spec === undefined || settings?.check === false || session === undefined) return undefined;
    const result = await this.#checker.glanceStores(
      {
        credentials: session.credentials,
        url: settings?.url,
        interface: settings?.interface ?? "internal",
        regionName: settings?.regionName ?? session.regionName,
        apiInsecure: session.apiInsecure,
        httpRetries: session.httpRetries,
        trustHost: (hostname) => isServiceHostOf(hostname, target.namespace),
        trustedHostsText: `a Service of namespace ${target.namespace} (<name>.${target.namespace}.svc)`,
      },
      { signal },
    );
    if (!result.ok) return { ok: false, reason: result.error.reason, message: result.error.message };
    return {
      ok: true,
      url: result.url,
      detail: result.detail,
      stores: result.stores.map((store) => ({ id: store.id, type: store.type, volumeType: store.volumeType, default: store.default })),
      checkedAt: formatTime(new Date(now)),
    };
  }

}
