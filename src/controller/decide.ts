import { credentialsKey, type ResolvedCredentials } from "../api/credentials.js";
import { CINDER_DEFAULTS, type GlanceStoreSpec } from "../api/glancestore.js";
import { ambiguousStoreIdPrefixes } from "../api/store-id.js";
import type { RenderedStore } from "../render/parse.js";
import { renderStoresConfig, type RenderedConfig, type StoreToRender } from "../render/render.js";
import type { DesiredCondition } from "./conditions.js";
import { FORCE_DELETE_ANNOTATION } from "./naming.js";

/**
 * The decision at the heart of a reconcile, as a pure function: given what
 * was observed of one target (its GlanceStores, their Secrets, what
 * Keystone and Cinder said, what Glance runs now), which stores Glance
 * should run, with which options, and what each store's status says.
 * Rules 1 to 6 of docs/foundations.md (section 7) live here, and only here.
 */


/** Result of reading and checking a store's credentials and volume type against OpenStack. */
export type CheckOutcome =
  | { readonly ok: true; readonly volumeType: { readonly id: string; readonly name: string }; readonly resolvedDefault: boolean }
  | {
      readonly ok: false;
      /** Condition reason (CamelCase): AuthFailed, EndpointNotFound, Unreachable, Timeout, VolumeTypeNotFound, VolumeTypeNotAccessible, Unexpected. */
      readonly reason: string;
      readonly message: string;
      /** Keystone accepted the credentials before the check failed further on. */
      readonly authenticated: boolean;
    };

export type CredentialsOutcome =
  | { readonly ok: true; readonly credentials: ResolvedCredentials }
  | { readonly ok: false; readonly reason: "SecretNotFound" | "SecretInvalid"; readonly message: string };

export type ImageVolumeCount = { readonly ok: true; readonly count: number } | { readonly ok: false; readonly reason: string; readonly message: string };

export interface ObservedStore {
  /** namespace/name, the key of the object. */
  readonly key: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number | undefined;
  readonly createdAt: string;
  readonly storeId: string;
  /** Undefined when the object does not pass the schema (then `specProblem` says why). */
  readonly spec: GlanceStoreSpec | undefined;
  readonly specProblem?: string;
  readonly deleting: boolean;
  readonly forceDelete: boolean;
  /** What its status said it was, the memory of last resort when the ConfigMap is gone. */
  readonly statusSaysRendered: boolean;
  readonly credentials: CredentialsOutcome | undefined;
  /** Undefined when not checked (no usable credentials). */
  readonly check: CheckOutcome | undefined;
  /** Only for a store being deleted that Glance still runs. */
  readonly imageVolumes: ImageVolumeCount | undefined;
}

export interface TargetObservation {
  readonly namespace: string;
  readonly target: string;
  readonly stores: readonly ObservedStore[];
  /** What the target's ConfigMap and Secret hold now; undefined when they do not exist or cannot be read. */
  readonly previous: readonly RenderedStore[] | undefined;
}

export interface StoreDecision {
  readonly key: string;
  readonly rendered: boolean;
  readonly addDeleteEnabled: boolean;
  readonly volumeType: { readonly id?: string; readonly name: string } | undefined;
  readonly imageVolumes: number | undefined;
  readonly conditions: readonly DesiredCondition[];
  /** The finalizer may go: Glance no longer runs the store (once the config is written). */
  readonly releaseFinalizer: boolean;
  /** A finalizer is needed before the store may be rendered. */
  readonly needsFinalizer: boolean;
}

/** What to do with the target's ConfigMap and Secret. */
export type ConfigAction =
  | { readonly kind: "write"; readonly config: RenderedConfig }
  /** Leave them as they are (rule 1: never write a config glance-api cannot start with). */
  | { readonly kind: "keep"; readonly reason: string }
  /** Every store of the target is gone or being deleted and releasable: nothing is left for Glance. */
  | { readonly kind: "remove" };

export interface TargetDecision {
  readonly action: ConfigAction;
  /** Ids Glance runs after this reconcile (the written config, or the kept one). */
  readonly renderedStoreIds: readonly string[];
  readonly stores: readonly StoreDecision[];
}

type Plan =
  | { readonly kind: "fresh"; readonly spec: GlanceStoreSpec; readonly credentials: ResolvedCredentials }
  | { readonly kind: "kept"; readonly previous: RenderedStore }
  | { readonly kind: "excluded" };

interface Verdict {
  readonly store: ObservedStore;
  readonly plan: Plan;
  /** The store conflicts with an older one and must not be rendered. */
  readonly conflict?: DesiredCondition;
  /** The store asked to be default but another one is. */
  readonly defaultConflict?: string;
  readonly deletionHeld?: DesiredCondition;
}

export interface DecideOptions {
  /** The files cannot be written (e.g. a ConfigMap of that name belongs to someone else): keep what is there, and say why. */
  readonly writeBlocked?: string;
}

export function decideTarget(observation: TargetObservation, options: DecideOptions = {}): TargetDecision {
  const ordered = [...observation.stores].sort(olderFirst);
  const previousById = new Map((observation.previous ?? []).map((store) => [store.storeId, store]));
  const conflicts = findConflicts(ordered, observation.target);

  const verdicts: Verdict[] = ordered.map((store) => {
    const conflict = conflicts.get(store.key);
    if (conflict !== undefined) return { store, plan: { kind: "excluded" }, conflict };
    return planStore(store, previousById.get(store.storeId));
  });

  // Rule 5 for defaults: the oldest store that asks to be default and will be rendered is the default.
  const defaultWinner = verdicts.find((v) => v.plan.kind !== "excluded" && wantsDefault(v))?.store;
  const withDefaults = verdicts.map((v): Verdict => {
    if (v.plan.kind === "excluded" || !wantsDefault(v) || v.store === defaultWinner) return v;
    return { ...v, defaultConflict: defaultWinner?.storeId ?? "" };
  });

  const toRender: StoreToRender[] = [];
  for (const v of withDefaults) {
    const stored = toStoreToRender(v, observation.namespace, defaultWinner);
    if (stored !== undefined) toRender.push(stored);
  }

  let config: RenderedConfig | undefined;
  let keptReason: string | undefined;
  const everythingGoes = withDefaults.every((v) => v.store.deleting && v.plan.kind === "excluded");
  if (toRender.length === 0 && everythingGoes) {
    // Nothing to keep: fall through to "remove".
  } else if (toRender.length === 0) {
    keptReason = observation.previous?.length
      ? "no store of the target can be rendered now; Glance keeps its last configuration"
      : "no store of the target can be rendered yet";
  } else if (options.writeBlocked !== undefined) {
    keptReason = options.writeBlocked;
  } else if (defaultWinner === undefined) {
    keptReason = `no store of target ${observation.target} that can be rendered is marked default (spec.default: true): Glance keeps its last configuration`;
  } else {
    const result = renderStoresConfig(toRender);
    if (result.ok) config = result.config;
    else keptReason = `the configuration cannot be rendered: ${result.errors.map((e) => e.message).join("; ")}`;
  }

  const action: ConfigAction =
    config !== undefined ? { kind: "write", config } : keptReason !== undefined ? { kind: "keep", reason: keptReason } : { kind: "remove" };
  const renderedStoreIds =
    action.kind === "write" ? toRender.map((s) => s.storeId).sort() : action.kind === "keep" ? (observation.previous ?? []).map((s) => s.storeId).sort() : [];
  const rendered = new Set(renderedStoreIds);
  const renderedCredentials = credentialSetsOf(action.kind === "write" ? toRender : action.kind === "keep" ? (observation.previous ?? []) : []);

  return {
    action,
    renderedStoreIds,
    stores: withDefaults.map((v) => storeDecision(v, rendered.has(v.store.storeId) && ownsRenderedId(v, withDefaults), keptReason, renderedCredentials, observation.target)),
  };
}

function wantsDefault(v: Verdict): boolean {
  if (v.plan.kind === "fresh") return v.plan.spec.default;
  if (v.plan.kind === "kept") return v.store.spec?.default ?? v.plan.previous.isDefault;
  return false;
}

/** Oldest first, then by name: the deterministic order that decides conflicts (rule 5). */
function olderFirst(a: ObservedStore, b: ObservedStore): number {
  const byTime = Date.parse(a.createdAt) - Date.parse(b.createdAt);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function findConflicts(ordered: readonly ObservedStore[], target: string): Map<string, DesiredCondition> {
  const conflicts = new Map<string, DesiredCondition>();
  const owners = new Map<string, ObservedStore>();
  for (const store of ordered) {
    const folded = store.storeId.toLowerCase();
    const owner = owners.get(folded);
    if (owner === undefined) {
      owners.set(folded, store);
      continue;
    }
    conflicts.set(store.key, {
      type: "Rendered",
      status: "False",
      reason: "DuplicateStoreId",
      message:
        owner.storeId === store.storeId
          ? `store id ${JSON.stringify(store.storeId)} is already used in target ${target} by GlanceStore ${owner.name}, which is older: set another spec.storeId`
          : `store id ${JSON.stringify(store.storeId)} differs only by case from ${JSON.stringify(owner.storeId)} of GlanceStore ${owner.name} (older), and Glance reads sections lower-cased: set another spec.storeId`,
    });
  }
  const winners = [...owners.values()];
  const byId = new Map(winners.map((s) => [s.storeId, s]));
  for (const [shorter, longer] of ambiguousStoreIdPrefixes(winners.map((s) => s.storeId))) {
    const a = byId.get(shorter);
    const b = byId.get(longer);
    if (a === undefined || b === undefined) continue;
    const [older, newer] = olderFirst(a, b) <= 0 ? [a, b] : [b, a];
    if (conflicts.has(older.key)) continue;
    conflicts.set(newer.key, {
      type: "Rendered",
      status: "False",
      reason: "AmbiguousStoreId",
      message: `store id ${JSON.stringify(shorter)} is a prefix of ${JSON.stringify(longer)}: Glance finds an image's store by the prefix of its location, so images could be taken for the wrong store; GlanceStore ${older.name} is older and keeps its id, give this one another spec.storeId`,
    });
  }
  return conflicts;
}

function planStore(store: ObservedStore, previous: RenderedStore | undefined): Verdict {
  const healthy = store.spec !== undefined && store.credentials?.ok === true && store.check?.ok === true;
  if (store.deleting) {
    if (previous === undefined) return { store, plan: { kind: "excluded" } };
    if (store.forceDelete) return { store, plan: { kind: "excluded" } };
    const count = store.imageVolumes;
    if (count?.ok === true && count.count === 0) return { store, plan: { kind: "excluded" } };
    return {
      store,
      plan: { kind: "kept", previous },
      deletionHeld:
        count?.ok === true
          ? {
              type: "Ready",
              status: "False",
              reason: "DeletionBlocked",
              message: `${count.count} image volume(s) of this store remain in Cinder; Glance keeps the store so they stay readable. Delete those images, or annotate ${FORCE_DELETE_ANNOTATION}=true to remove the store anyway`,
            }
          : {
              type: "Ready",
              status: "False",
              reason: "DeletionBlocked",
              message: `cannot count this store's image volumes (${count?.ok === false ? `${count.reason}: ${count.message}` : "no usable credentials"}); Glance keeps the store until they can be counted, or until ${FORCE_DELETE_ANNOTATION}=true`,
            },
    };
  }
  if (healthy && store.spec !== undefined && store.credentials?.ok === true) {
    return { store, plan: { kind: "fresh", spec: store.spec, credentials: store.credentials.credentials } };
  }
  // Rule 2: what Glance runs keeps running, exactly as it was, so its images stay readable.
  if (previous !== undefined) return { store, plan: { kind: "kept", previous } };
  // The ConfigMap is gone but the status remembers the store was rendered: its images are out there.
  if (store.statusSaysRendered && store.spec !== undefined && store.credentials?.ok === true && !isAuthFailure(store.check)) {
    return { store, plan: { kind: "fresh", spec: store.spec, credentials: store.credentials.credentials } };
  }
  return { store, plan: { kind: "excluded" } };
}

function isAuthFailure(check: CheckOutcome | undefined): boolean {
  return check?.ok === false && check.reason === "AuthFailed";
}

function toStoreToRender(v: Verdict, namespace: string, defaultWinner: ObservedStore | undefined): StoreToRender | undefined {
  const source = `GlanceStore ${namespace}/${v.store.name}`;
  const isDefault = v.store === defaultWinner;
  if (v.plan.kind === "fresh") {
    return { storeId: v.store.storeId, spec: { ...v.plan.spec, default: isDefault }, credentials: v.plan.credentials, source };
  }
  if (v.plan.kind === "kept") {
    const previous = v.plan.previous;
    return {
      storeId: previous.storeId,
      // The reference fields are not rendered; the object's (or placeholders for a parse) fill them.
      spec: {
        ...previous.spec,
        default: isDefault,
        credentialsSecretRef: v.store.spec?.credentialsSecretRef ?? { name: "unknown" },
        target: v.store.spec?.target ?? "glance-api",
      },
      credentials: previous.credentials,
      source,
    };
  }
  return undefined;
}

/** A store whose id another, older store owns must not claim the rendered section as its own. */
function ownsRenderedId(v: Verdict, all: readonly Verdict[]): boolean {
  if (v.conflict === undefined) return true;
  return !all.some((other) => other !== v && other.store.storeId === v.store.storeId && other.conflict === undefined);
}

function credentialSetsOf(stores: readonly { storeId: string; credentials: ResolvedCredentials }[]): Map<string, string> {
  return new Map(stores.map((s) => [s.storeId, credentialsKey(s.credentials)]));
}

function storeDecision(
  v: Verdict,
  rendered: boolean,
  keptReason: string | undefined,
  renderedCredentials: Map<string, string>,
  target: string,
): StoreDecision {
  const { store } = v;
  const conditions: DesiredCondition[] = [];

  // CredentialsValid
  const credentialsCondition = ((): DesiredCondition => {
    if (store.credentials === undefined) return { type: "CredentialsValid", status: "Unknown", reason: "NotChecked", message: "the store's spec is not valid, so its credentials were not read" };
    if (!store.credentials.ok) return { type: "CredentialsValid", status: "False", reason: store.credentials.reason, message: store.credentials.message };
    const check = store.check;
    if (check === undefined) return { type: "CredentialsValid", status: "Unknown", reason: "NotChecked", message: "not checked against Keystone yet" };
    if (check.ok) return { type: "CredentialsValid", status: "True", reason: "Authenticated", message: "Keystone accepted the credentials" };
    if (check.authenticated) return { type: "CredentialsValid", status: "True", reason: "Authenticated", message: "Keystone accepted the credentials" };
    if (check.reason === "AuthFailed") return { type: "CredentialsValid", status: "False", reason: "AuthFailed", message: check.message };
    return { type: "CredentialsValid", status: "Unknown", reason: check.reason, message: `Keystone could not be asked: ${check.message}` };
  })();
  conditions.push(credentialsCondition);

  // VolumeTypeAvailable
  const check = store.check;
  const typeCondition = ((): DesiredCondition => {
    if (check === undefined) return { type: "VolumeTypeAvailable", status: "Unknown", reason: "NotChecked", message: "not checked: the store has no usable credentials" };
    if (check.ok) {
      const which = check.resolvedDefault ? `Cinder's default type ${JSON.stringify(check.volumeType.name)}` : `volume type ${JSON.stringify(check.volumeType.name)}`;
      return { type: "VolumeTypeAvailable", status: "True", reason: "VolumeTypeFound", message: `${which} (${check.volumeType.id}) exists and is accessible to the store's project` };
    }
    if (check.reason === "VolumeTypeNotFound" || check.reason === "VolumeTypeNotAccessible" || check.reason === "EndpointNotFound") {
      return { type: "VolumeTypeAvailable", status: "False", reason: check.reason, message: check.message };
    }
    return { type: "VolumeTypeAvailable", status: "Unknown", reason: check.reason, message: check.message };
  })();
  conditions.push(typeCondition);

  // Rendered
  const renderedCondition = ((): DesiredCondition => {
    if (v.conflict !== undefined) return v.conflict;
    if (store.spec === undefined && !rendered) {
      return { type: "Rendered", status: "False", reason: "InvalidSpec", message: store.specProblem ?? "the spec is not valid" };
    }
    if (rendered) {
      if (v.defaultConflict !== undefined) {
        return {
          type: "Rendered",
          status: "True",
          reason: "DefaultConflict",
          message: `rendered as a non-default store: store ${JSON.stringify(v.defaultConflict)} (older) is the default of target ${target}; set spec.default: false here or on the other store`,
        };
      }
      if (v.plan.kind === "kept" && !store.deleting) {
        return {
          type: "Rendered",
          status: "True",
          reason: "KeptLastGood",
          message: `Glance keeps the store as last rendered so its images stay readable; changes are applied once ${firstProblem(store) ?? "the store checks out again"}`,
        };
      }
      if (keptReason !== undefined && v.plan.kind === "fresh") {
        return { type: "Rendered", status: "True", reason: "KeptLastGood", message: `Glance runs the store as last rendered; ${keptReason}` };
      }
      return { type: "Rendered", status: "True", reason: "Rendered", message: `in the Glance configuration of target ${target}` };
    }
    if (store.deleting) return { type: "Rendered", status: "False", reason: "Removed", message: "removed from the Glance configuration; the store is being deleted" };
    if (v.plan.kind === "fresh" && keptReason !== undefined) return { type: "Rendered", status: "False", reason: "NotRenderable", message: keptReason };
    const problem = firstProblemCondition(store);
    if (problem !== undefined) {
      return { type: "Rendered", status: "False", reason: problem.reason, message: `not rendered (a new store is rendered only once it checks out): ${problem.message}` };
    }
    return { type: "Rendered", status: "False", reason: "NotRenderable", message: keptReason ?? "not rendered" };
  })();
  conditions.push(renderedCondition);

  const healthy = store.spec !== undefined && store.credentials?.ok === true && check?.ok === true;
  const addDeleteEnabled = rendered && healthy && !store.deleting && v.plan.kind === "fresh" && keptReason === undefined;

  // Ready
  const readyCondition = ((): DesiredCondition => {
    if (v.deletionHeld !== undefined) return v.deletionHeld;
    if (store.deleting) return { type: "Ready", status: "False", reason: "Deleting", message: "the store is being deleted" };
    if (addDeleteEnabled) return { type: "Ready", status: "True", reason: "Ready", message: "rendered, credentials accepted and volume type available: images can be added and deleted" };
    const cause = renderedCondition.status === "False" ? renderedCondition : (firstProblemCondition(store) ?? renderedCondition);
    const prefix = rendered ? "images stay readable, but adding and deleting is disabled: " : "";
    return { type: "Ready", status: "False", reason: cause.reason, message: `${prefix}${cause.message}` };
  })();
  conditions.push(readyCondition);

  // Glance opens one Cinder session with the first store's credentials and reuses it for every store.
  const sets = new Set(renderedCredentials.values());
  if (rendered && sets.size > 1) {
    const first = [...renderedCredentials.keys()].sort()[0] ?? "";
    conditions.push({
      type: "CredentialsConsistent",
      status: "False",
      reason: "MixedCredentials",
      message: `the stores of target ${target} use ${sets.size} different credential sets, but glance_store opens one Cinder session per process with the credentials of the first cinder store (${JSON.stringify(first)}) and uses it for every store: give all stores of a target the same credentials`,
    });
  } else if (rendered) {
    conditions.push({ type: "CredentialsConsistent", status: "True", reason: "SharedCredentials", message: "every store of the target uses the same credentials, as glance_store's shared Cinder session requires" });
  }

  // glance_store uses its service credentials' session for Cinder: these two options then only serve legacy location updates.
  const ignored = [
    ...(store.spec !== undefined && store.spec.catalogInfo !== CINDER_DEFAULTS.catalogInfo ? ["catalogInfo"] : []),
    ...(store.spec?.endpointTemplate !== undefined ? ["endpointTemplate"] : []),
  ];
  if (ignored.length > 0) {
    conditions.push({
      type: "OptionsEffective",
      status: "False",
      reason: "IgnoredWithServiceCredentials",
      message: `${ignored.join(" and ")} ${ignored.length > 1 ? "are" : "is"} ignored by glance_store when cinder_store_* credentials are set (always with this API): it reaches Cinder through the public volumev3 endpoint of regionName, and so does the operator's check; ${ignored.length > 1 ? "they serve" : "it serves"} only to update legacy image locations`,
    });
  }

  const volumeType = check?.ok === true ? { id: check.volumeType.id, name: check.volumeType.name } : store.spec?.volumeType !== undefined ? { name: store.spec.volumeType } : undefined;
  return {
    key: store.key,
    rendered,
    addDeleteEnabled,
    volumeType,
    imageVolumes: store.deleting && store.imageVolumes?.ok === true ? store.imageVolumes.count : undefined,
    conditions,
    releaseFinalizer: store.deleting && !rendered,
    needsFinalizer: !store.deleting && (v.plan.kind === "fresh" || v.plan.kind === "kept"),
  };
}

function firstProblemCondition(store: ObservedStore): { reason: string; message: string } | undefined {
  if (store.spec === undefined) return { reason: "InvalidSpec", message: store.specProblem ?? "the spec is not valid" };
  if (store.credentials === undefined) return undefined;
  if (!store.credentials.ok) return { reason: store.credentials.reason, message: store.credentials.message };
  if (store.check?.ok === false) return { reason: store.check.reason, message: store.check.message };
  return undefined;
}

function firstProblem(store: ObservedStore): string | undefined {
  const problem = firstProblemCondition(store);
  return problem === undefined ? undefined : `this is fixed: ${problem.message}`;
}
