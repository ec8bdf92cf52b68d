import { credentialsKey, type ResolvedCredentials } from "../api/credentials.js";
import type { GlanceStoreSpec } from "../api/glancestore.js";
import type { RenderedStore, UnreadableStore } from "../render/parse.js";
import { compare, renderedStoreText, renderStoresConfig, type OtherStoreToRender, type RenderedConfig, type StoreToRender } from "../render/render.js";
import type { DesiredCondition } from "./conditions.js";
import { findConflicts, olderFirst } from "./conflicts.js";
import { FORCE_DELETE_ANNOTATION } from "./naming.js";
import { storeDecision } from "./store-conditions.js";
import { sameVolumeType, volumeTypeHistory, type VolumeTypeRef } from "./volume-type-pin.js";

/**
 * The decision at the heart of a reconcile, as a pure function: given what
 * was observed of one target (its GlanceStores, their Secrets, what
 * Keystone and Cinder said, what Glance runs now and what the stores'
 * statuses remember), which stores Glance should run, with which options,
 * and what each store's status says. The rules of docs/foundations.md
 * (section 7) live here and in the modules it calls, and only there.
 */

/** When Keystone refused a credential set and when the operator sends it again (ISO 8601). */
export interface RefusalRecord {
  readonly refusedAt: string;
  readonly retryAt: string;
}

/** Result of checking a store's credentials and volume type against OpenStack. */
export type CheckOutcome =
  | {
      readonly ok: true;
      readonly volumeType: { readonly id: string; readonly name: string };
      readonly resolvedDefault: boolean;
      /** The project Keystone scoped the token to: where glance_store creates image volumes with these credentials. */
      readonly projectId: string;
    }
  | {
      readonly ok: false;
      /** Condition reason (CamelCase): AuthFailed, KeystoneRejected, EndpointNotFound, Unreachable, Timeout, VolumeTypeNotFound, VolumeTypeNotAccessible, Unexpected. */
      readonly reason: string;
      readonly message: string;
      /** Keystone accepted the credentials before the check failed further on. */
      readonly authenticated: boolean;
      /** For AuthFailed by Keystone: the refusal that holds these credentials off. */
      readonly refusal?: RefusalRecord;
    };

export type CredentialsOutcome =
  | { readonly ok: true; readonly credentials: ResolvedCredentials }
  | { readonly ok: false; readonly reason: "SecretNotFound" | "SecretInvalid" | "ApplicationCredentialsUnsupported"; readonly message: string };

export type ImageVolumeCount = { readonly ok: true; readonly count: number } | { readonly ok: false; readonly reason: string; readonly message: string };

/** What a store's status remembers of what Glance ran: the memory that survives the loss of the rendered objects. */
export interface StoreMemory {
  /** status.rendered: Glance ran the store when the status was last written. */
  readonly rendered: boolean;
  /** status.renderedVolumeTypes: every volume type the store has been rendered with, oldest first. */
  readonly volumeTypes: readonly VolumeTypeRef[];
  /** status.projectId: the project of the credentials it was last rendered with. */
  readonly projectId: string | undefined;
}

export const NO_MEMORY: StoreMemory = { rendered: false, volumeTypes: [], projectId: undefined };

/**
 * Whether the status remembers that Glance ran the store: rendered now, or
 * rendered with some volume type before (a store whose section was lost is
 * not rendered, but its images are out there all the same).
 */
export function ranInGlance(memory: StoreMemory): boolean {
  return memory.rendered || memory.volumeTypes.length > 0;
}

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
  /** The annotation that confirms a change of volume type (its value: the new type). */
  readonly confirmVolumeType?: string | undefined;
  readonly memory: StoreMemory;
  readonly credentials: CredentialsOutcome | undefined;
  /** Undefined when not checked (no usable credentials). */
  readonly check: CheckOutcome | undefined;
  /** Only for a store being deleted that Glance runs or ran. */
  readonly imageVolumes: ImageVolumeCount | undefined;
}

/** What the target's ConfigMap and Secret hold now, read back. */
export interface PreviousConfig {
  /** Every cinder store Glance runs, in enabled_backends order. */
  readonly storeIds: readonly string[];
  /** The other stores its enabled_backends names (defined in glance-api's main configuration). */
  readonly otherStores?: readonly OtherStoreToRender[];
  readonly defaultStoreId: string | undefined;
  /** The stores that read back whole. */
  readonly stores: readonly RenderedStore[];
  readonly unreadable: readonly UnreadableStore[];
}

export interface TargetObservation {
  readonly namespace: string;
  readonly target: string;
  readonly stores: readonly ObservedStore[];
  /** Undefined when the ConfigMap does not exist or cannot be read at all. */
  readonly previous: PreviousConfig | undefined;
  /** The target's GlanceStoreTarget, when there is one: it decides the default and the other stores. */
  readonly targetObject?: TargetSettings | undefined;
}

export interface SessionStore {
  readonly storeId: string;
  readonly credentials: ResolvedCredentials;
  readonly regionName: string | undefined;
  readonly httpRetries: number;
  readonly apiInsecure: boolean;
}

/** What a GlanceStoreTarget says about the whole target. */
export interface TargetSettings {
  /** spec.defaultStore: when set, the stores' spec.default is not read. */
  readonly defaultStore?: string | undefined;
  /** spec.otherStores: stores of glance-api's main configuration kept in enabled_backends. */
  readonly otherStores: readonly OtherStoreToRender[];
}

export interface StoreDecision {
  readonly key: string;
  readonly rendered: boolean;
  readonly addDeleteEnabled: boolean;
  /** The volume type Glance runs the store with (or would, once rendered). */
  readonly volumeType: { readonly id?: string; readonly name: string } | undefined;
  /** status.renderedVolumeTypes to write: every type it was rendered with, this one included. */
  readonly volumeTypes: readonly VolumeTypeRef[];
  /** status.projectId to write. */
  readonly projectId: string | undefined;
  readonly imageVolumes: number | undefined;
  readonly conditions: readonly DesiredCondition[];
  /** The finalizer may go: Glance no longer runs the store and nothing of it is left to guard. */
  readonly releaseFinalizer: boolean;
  /** A finalizer is needed before the store may be rendered. */
  readonly needsFinalizer: boolean;
  /** Set while Keystone's refusal of its credentials holds them off. */
  readonly refusal: RefusalRecord | undefined;
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
  /** Cinder store ids Glance runs after this reconcile (the written config, or the kept one), in enabled_backends order. */
  readonly renderedStoreIds: readonly string[];
  /** The other stores of that configuration (glance-api's main configuration defines them). */
  readonly otherStores: readonly OtherStoreToRender[];
  /** Its default_backend. */
  readonly defaultStoreId: string | undefined;
  /**
   * The store glance_store opens its one Cinder session with (the first
   * cinder store in enabled_backends order) and what reaching Cinder as it
   * takes: where Glance's image volumes are, and who may ask Glance.
   */
  readonly session: SessionStore | undefined;
  readonly stores: readonly StoreDecision[];
}

export interface DecideOptions {
  /** The files cannot be written (e.g. a ConfigMap of that name belongs to someone else): keep what is there, and say why. */
  readonly writeBlocked?: string;
}

/** How a store takes part in the next config. */
export type Plan =
  /** Rendered from its spec and Secret (with the volume type pinned when a change is not confirmed). */
  | { readonly kind: "fresh"; readonly spec: GlanceStoreSpec; readonly credentials: ResolvedCredentials }
  /** Kept exactly as Glance runs it now (rule 2). */
  | { readonly kind: "kept"; readonly previous: RenderedStore }
  | { readonly kind: "excluded" };

/** Why a store that is not rendered fresh is not: becomes a condition. */
export interface Blocker {
  readonly reason: string;
  readonly message: string;
}

export interface Verdict {
  readonly store: ObservedStore;
  readonly plan: Plan;
  /** The store conflicts with an older one and must not be rendered. */
  readonly conflict?: DesiredCondition;
  /** Why the store is not rendered from its spec and Secret although they checked out (mixed projects). */
  readonly blocker?: Blocker;
  /** The spec names another volume type than the store was rendered with, and the change is not confirmed. */
  readonly pendingVolumeType?: { readonly pinned: VolumeTypeRef; readonly requested: VolumeTypeRef };
  /** The store asked to be default but another one is. */
  readonly defaultConflict?: string;
  /** The store is the default although its spec does not ask for it: no other store does. */
  readonly keptAsDefault?: boolean;
  /** Glance runs (or ran) the store and it is being deleted: why it may not leave yet. */
  readonly deletionHeld?: DesiredCondition;
  /** Glance ran the store but it cannot be rendered again (its section and its Secret are both lost). */
  readonly lost?: string;
  /** The volume type its images are on now, and every one before. */
  readonly volumeTypes: readonly VolumeTypeRef[];
}

export function decideTarget(observation: TargetObservation, options: DecideOptions = {}): TargetDecision {
  const previous = observation.previous;
  const ordered = [...observation.stores].sort(olderFirst);
  const previousById = new Map((previous?.stores ?? []).map((store) => [store.storeId, store]));
  const runningIds = new Set(previous?.storeIds ?? []);
  const conflicts = findConflicts(ordered, observation.target);
  const projectId = targetProjectId(ordered, conflicts, previous);

  let verdicts: Verdict[] = ordered.map((store) => {
    const conflict = conflicts.get(store.key);
    const guarded = runningIds.has(store.storeId) || ranInGlance(store.memory);
    if (conflict !== undefined) return { store, plan: { kind: "excluded" }, conflict, volumeTypes: store.memory.volumeTypes };
    return planStore(store, previousById.get(store.storeId), guarded, projectId);
  });

  // The stores of glance-api's main configuration: as the GlanceStoreTarget lists them, else as Glance runs them now
  // (the operator's enabled_backends replaces the main file's: dropping one would take its images away unannounced).
  const settings = observation.targetObject;
  const otherStores = settings !== undefined ? settings.otherStores : (previous?.otherStores ?? []);
  const otherIds = new Set(otherStores.map((store) => store.id));
  const explicitDefault = settings?.defaultStore;
  const wants = (v: Verdict): boolean => (explicitDefault === undefined ? wantsDefault(v) : v.plan.kind !== "excluded" && v.store.storeId === explicitDefault);
  const askedByCinder = verdicts.some((v) => v.plan.kind !== "excluded" && wants(v));
  // A default among the other stores: named by the target, or the one Glance runs now while no cinder store asks.
  const otherDefault =
    explicitDefault !== undefined
      ? otherIds.has(explicitDefault)
        ? explicitDefault
        : undefined
      : !askedByCinder && previous?.defaultStoreId !== undefined && otherIds.has(previous.defaultStoreId)
        ? previous.defaultStoreId
        : undefined;

  // Rule 5 for defaults, with two refinements: a store being deleted yields
  // the default to any other store that asks for it, and when none asks, the
  // store that is the default now stays the default (Glance cannot run without
  // one), so moving the default never passes through zero or two.
  let defaultWinner = otherDefault === undefined ? pickDefault(verdicts, previous, wants) : undefined;
  if (otherDefault === undefined && defaultWinner === undefined && previous?.defaultStoreId !== undefined) {
    // A deleting default that could leave would leave Glance without a default: it stays until another store takes over.
    const index = verdicts.findIndex((v) => v.store.deleting && v.plan.kind === "excluded" && v.store.storeId === previous.defaultStoreId && v.conflict === undefined);
    const previousStore = previousById.get(previous.defaultStoreId);
    const others = verdicts.some((v) => !v.store.deleting && v.plan.kind !== "excluded");
    if (index >= 0 && previousStore !== undefined && others) {
      const v = verdicts[index] as Verdict;
      verdicts = verdicts.map((other, i) => (i === index ? { ...v, plan: { kind: "kept", previous: previousStore }, deletionHeld: defaultHeld(observation.target) } : other));
      defaultWinner = pickDefault(verdicts, previous, wants);
    }
  }
  const withDefaults = verdicts.map((v): Verdict => {
    if (v.plan.kind === "excluded") return v;
    if (defaultWinner !== undefined && v.store === defaultWinner.store && !wants(v)) return { ...v, keptAsDefault: true };
    if (!wants(v) || v.store === defaultWinner?.store) return v;
    return { ...v, defaultConflict: defaultWinner?.store.storeId ?? "" };
  });

  const toRender: StoreToRender[] = [];
  for (const v of withDefaults) {
    const stored = toStoreToRender(v, observation.namespace, defaultWinner?.store);
    if (stored !== undefined) toRender.push(stored);
  }

  let config: RenderedConfig | undefined;
  let keptReason: string | undefined;
  const everythingGoes = withDefaults.every((v) => v.store.deleting && v.plan.kind === "excluded" && v.lost === undefined && v.deletionHeld === undefined);
  if (toRender.length === 0 && everythingGoes) {
    // Nothing to keep: fall through to "remove".
  } else if (toRender.length === 0) {
    keptReason = previous?.storeIds.length
      ? "no store of the target can be rendered now; Glance keeps its last configuration"
      : "no store of the target can be rendered yet";
  } else if (options.writeBlocked !== undefined) {
    keptReason = options.writeBlocked;
  } else if (defaultWinner === undefined && otherDefault === undefined) {
    keptReason =
      explicitDefault === undefined
        ? `no store of target ${observation.target} that can be rendered is marked default (spec.default: true)${previous?.storeIds.length ? ": Glance keeps its last configuration" : ""}`
        : `the default store ${JSON.stringify(explicitDefault)} that GlanceStoreTarget ${observation.namespace}/${observation.target} names (spec.defaultStore) is neither a store of the target that can be rendered now nor one of its otherStores${previous?.storeIds.length ? ": Glance keeps its last configuration" : ""}`;
  } else {
    const result = renderStoresConfig(toRender, { otherStores, ...(otherDefault === undefined ? {} : { defaultStoreId: otherDefault }) });
    if (result.ok) config = result.config;
    else keptReason = `the configuration cannot be rendered: ${result.errors.map((e) => e.message).join("; ")}`;
  }

  const action: ConfigAction =
    config !== undefined ? { kind: "write", config } : keptReason !== undefined ? { kind: "keep", reason: keptReason } : { kind: "remove" };
  const renderedStoreIds = action.kind === "write" ? toRender.map((s) => s.storeId).sort(compare) : action.kind === "keep" ? [...(previous?.storeIds ?? [])] : [];
  const rendered = new Set(renderedStoreIds);
  const renderedCredentials = new Map<string, ResolvedCredentials>(
    action.kind === "write" ? toRender.map((s) => [s.storeId, s.credentials]) : action.kind === "keep" ? (previous?.stores ?? []).map((s) => [s.storeId, s.credentials]) : [],
  );
  const renderedCredentialSets = new Set([...renderedCredentials.values()].map((credentials) => credentialsKey(credentials))).size;
  const freshRunsUnchanged = (v: Verdict): boolean => {
    // When the files are kept, a store whose spec and Secret render exactly as Glance runs it is as good as written.
    if (action.kind !== "keep" || v.plan.kind !== "fresh") return false;
    const now = previousById.get(v.store.storeId);
    const wanted = toStoreToRender(v, observation.namespace, defaultWinner?.store);
    if (now === undefined || wanted === undefined) return false;
    const running = toStoreToRender({ ...v, plan: { kind: "kept", previous: now } }, observation.namespace, defaultWinner?.store);
    return running !== undefined && now.isDefault === (v.store === defaultWinner?.store) && renderedStoreText(wanted) === renderedStoreText(running);
  };

  return {
    action,
    renderedStoreIds,
    otherStores: action.kind === "write" ? otherStores : action.kind === "keep" ? [...(previous?.otherStores ?? [])] : [],
    defaultStoreId: action.kind === "write" ? (otherDefault ?? defaultWinner?.store.storeId) : action.kind === "keep" ? previous?.defaultStoreId : undefined,
    session: sessionStore(renderedStoreIds, renderedCredentials, action.kind === "write" ? toRender.map((s) => ({ storeId: s.storeId, spec: s.spec })) : (previous?.stores ?? [])),
    stores: withDefaults.map((v) =>
      storeDecision(v, {
        rendered: rendered.has(v.store.storeId) && ownsRenderedId(v, withDefaults),
        keptReason: freshRunsUnchanged(v) ? undefined : keptReason,
        renderedCredentials,
        renderedCredentialSets,
        target: observation.target,
        ...(explicitDefault === undefined ? {} : { targetDefault: explicitDefault }),
      }),
    ),
  };
}

function sessionStore(
  ids: readonly string[],
  credentials: ReadonlyMap<string, ResolvedCredentials>,
  specs: readonly { readonly storeId: string; readonly spec: { readonly regionName?: string | undefined; readonly httpRetries: number; readonly apiInsecure: boolean } }[],
): SessionStore | undefined {
  const storeId = ids[0];
  if (storeId === undefined) return undefined;
  const found = credentials.get(storeId);
  const spec = specs.find((s) => s.storeId === storeId)?.spec;
  if (found === undefined || spec === undefined) return undefined;
  return { storeId, credentials: found, regionName: spec.regionName, httpRetries: spec.httpRetries, apiInsecure: spec.apiInsecure };
}

function defaultHeld(target: string): DesiredCondition {
  return {
    type: "Ready",
    status: "False",
    reason: "DeletionBlocked",
    message: `this store is the default of target ${target} and no other store asks to be: Glance cannot run without a default. Mark another store of the target default (spec.default: true); this store then leaves`,
  };
}

function pickDefault(verdicts: readonly Verdict[], previous: PreviousConfig | undefined, wants: (v: Verdict) => boolean): Verdict | undefined {
  const candidates = verdicts.filter((v) => v.plan.kind !== "excluded" && wants(v));
  const winner = candidates.find((v) => !v.store.deleting) ?? candidates.find((v) => v.store.deleting);
  if (winner !== undefined) return winner;
  // Nobody asks: the store that is the default now stays the default.
  if (previous?.defaultStoreId === undefined) return undefined;
  return verdicts.find((v) => v.plan.kind !== "excluded" && v.conflict === undefined && v.store.storeId === previous.defaultStoreId);
}

function wantsDefault(v: Verdict): boolean {
  if (v.plan.kind === "fresh") return v.plan.spec.default;
  if (v.plan.kind === "kept") return v.store.spec?.default ?? v.plan.previous.isDefault;
  return false;
}

/**
 * The project whose volumes Glance's image data lives in. glance_store opens
 * one Cinder session per process, with the credentials of the first store in
 * enabled_backends order that reaches Cinder at start-up (every rendered
 * store names its volume type, so that is the first one), and creates every
 * store's volumes through it. Known from that store's status; for a target
 * Glance does not run yet, the oldest store that checks out sets it.
 */
function targetProjectId(ordered: readonly ObservedStore[], conflicts: ReadonlyMap<string, DesiredCondition>, previous: PreviousConfig | undefined): string | undefined {
  const first = previous?.storeIds[0];
  if (first !== undefined) {
    const owner = ordered.find((s) => s.storeId === first && !conflicts.has(s.key));
    if (owner?.memory.projectId !== undefined) return owner.memory.projectId;
    if (owner?.check?.ok === true && owner.memory.rendered) return owner.check.projectId;
  }
  for (const store of ordered) {
    if (store.deleting || conflicts.has(store.key)) continue;
    if (store.check?.ok === true) return store.check.projectId;
  }
  return undefined;
}

function planStore(store: ObservedStore, previous: RenderedStore | undefined, guarded: boolean, projectId: string | undefined): Verdict {
  const history = volumeTypeHistory(store.memory.volumeTypes, previous?.spec.volumeType);
  const pinned = history[history.length - 1];
  const check = store.check;
  const healthy = store.spec !== undefined && store.credentials?.ok === true && check?.ok === true;
  const base = { store, volumeTypes: history };

  // Rendered from the spec and Secret, unless that would move the store's images somewhere Glance does not look.
  let fresh: { plan: Plan; pending?: Verdict["pendingVolumeType"]; history: readonly VolumeTypeRef[] } | undefined;
  let blocker: Blocker | undefined;
  if (healthy && store.spec !== undefined && store.credentials?.ok === true && check?.ok === true) {
    if (projectId !== undefined && check.projectId !== projectId) {
      blocker = {
        reason: "MixedCredentials",
        message: `the store's credentials are scoped to project ${check.projectId}, but glance_store creates every store's image volumes in one project, that of the first store's credentials (${projectId}): Glance would put this store's images where the operator and Cinder do not expect them. Give the store credentials of project ${projectId}`,
      };
    } else {
      const resolved: VolumeTypeRef = { id: check.volumeType.id, name: check.volumeType.name };
      const changed = pinned !== undefined && !sameVolumeType(pinned, resolved);
      const confirmed = changed && confirms(store.confirmVolumeType, store.spec.volumeType, resolved);
      if (changed && !confirmed) {
        fresh = { plan: { kind: "fresh", spec: { ...store.spec, volumeType: pinned.name }, credentials: store.credentials.credentials }, pending: { pinned, requested: resolved }, history };
      } else {
        const nextHistory = pinned !== undefined && sameVolumeType(pinned, resolved) ? [...history.slice(0, -1), resolved] : [...history, resolved];
        // The resolved name, also when the spec leaves the type unset: the store stays on it when Cinder's default changes.
        fresh = { plan: { kind: "fresh", spec: { ...store.spec, volumeType: resolved.name }, credentials: store.credentials.credentials }, history: nextHistory };
      }
    }
  }

  if (store.deleting) {
    if (!guarded || store.forceDelete) return { ...base, plan: { kind: "excluded" } };
    const count = store.imageVolumes;
    if (count?.ok === true && count.count === 0) return { ...base, plan: { kind: "excluded" } };
    const held = deletionHeldCondition(count);
    if (previous !== undefined) return { ...base, plan: { kind: "kept", previous }, deletionHeld: held };
    const restored = fresh?.plan ?? lastResort(store, pinned, blocker);
    if (restored !== undefined) return { ...base, plan: restored, deletionHeld: held };
    return { ...base, plan: { kind: "excluded" }, deletionHeld: held, lost: lostMessage(store) };
  }

  if (fresh !== undefined) return { ...base, plan: fresh.plan, volumeTypes: fresh.history, ...(fresh.pending === undefined ? {} : { pendingVolumeType: fresh.pending }) };
  // Rule 2: what Glance runs keeps running, exactly as it was, so its images stay readable.
  if (previous !== undefined) return { ...base, plan: { kind: "kept", previous }, ...(blocker === undefined ? {} : { blocker }) };
  if (guarded) {
    // The files lost the store but its status remembers Glance ran it: its images are out there.
    const restored = lastResort(store, pinned, blocker);
    if (restored !== undefined) return { ...base, plan: restored, ...(blocker === undefined ? {} : { blocker }) };
    return { ...base, plan: { kind: "excluded" }, lost: lostMessage(store), ...(blocker === undefined ? {} : { blocker }) };
  }
  return { ...base, plan: { kind: "excluded" }, ...(blocker === undefined ? {} : { blocker }) };
}

/**
 * A store Glance ran whose section is lost, rendered again from its spec and
 * Secret without a fresh check (Keystone or Cinder may be down): only when
 * Keystone has not refused the credentials, and on the volume type it ran with.
 */
function lastResort(store: ObservedStore, pinned: VolumeTypeRef | undefined, blocker: Blocker | undefined): Plan | undefined {
  if (blocker !== undefined || store.spec === undefined || store.credentials?.ok !== true) return undefined;
  if (store.check?.ok === false && (store.check.reason === "AuthFailed" || store.check.reason === "KeystoneRejected")) return undefined;
  const volumeType = pinned?.name ?? store.spec.volumeType;
  return { kind: "fresh", spec: { ...store.spec, ...(volumeType === undefined ? {} : { volumeType }) }, credentials: store.credentials.credentials };
}

function lostMessage(store: ObservedStore): string {
  const why = store.credentials?.ok === false ? store.credentials.message : store.check?.ok === false ? store.check.message : "its spec is not valid";
  return `Glance ran this store, but its section is gone from the rendered ConfigMap or Secret and it cannot be rendered again (${why}); until it can, glance-api instances that restart do not serve its images. Restore its credentials Secret`;
}

function deletionHeldCondition(count: ImageVolumeCount | undefined): DesiredCondition {
  return count?.ok === true
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
      };
}


function confirms(annotation: string | undefined, requested: string | undefined, resolved: VolumeTypeRef): boolean {
  if (annotation === undefined || annotation === "") return false;
  return annotation === requested || annotation === resolved.name || annotation === resolved.id;
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
      asRunning: true,
    };
  }
  return undefined;
}

/** A store whose id another, older store owns must not claim the rendered section as its own. */
function ownsRenderedId(v: Verdict, all: readonly Verdict[]): boolean {
  if (v.conflict === undefined) return true;
  return !all.some((other) => other !== v && other.store.storeId === v.store.storeId && other.conflict === undefined);
}
