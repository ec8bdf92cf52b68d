import type { ResolvedCredentials } from "../api/credentials.js";
import { CINDER_DEFAULTS } from "../api/glancestore.js";
import type { DesiredCondition } from "./conditions.js";
import type { ObservedStore, StoreDecision, Verdict } from "./decide.js";
import { CONFIRM_VOLUME_TYPE_ANNOTATION } from "./naming.js";

export interface StoreDecisionContext {
  /** Glance runs the store after this reconcile. */
  readonly rendered: boolean;
  /** Why the target's files are kept as they are, when they are and the store's own rendering is not what Glance runs. */
  readonly keptReason: string | undefined;
  /** The credentials of every store Glance runs after this reconcile, by store id. */
  readonly renderedCredentials: ReadonlyMap<string, ResolvedCredentials>;
  /** How many different credential sets those are (computed once per target, not per store). */
  readonly renderedCredentialSets: number;
  readonly target: string;
  /** The default its GlanceStoreTarget names (spec.defaultStore), when it names one. */
  readonly targetDefault?: string;
}

/** One store's status, from its verdict: the conditions, and what the status remembers for the next reconcile. */
export function storeDecision(v: Verdict, context: StoreDecisionContext): StoreDecision {
  const { store } = v;
  const { rendered, keptReason, target, targetDefault } = context;
  const check = store.check;
  const conditions: DesiredCondition[] = [credentialsCondition(store), volumeTypeCondition(v)];

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
          message: `rendered as a non-default store: store ${JSON.stringify(v.defaultConflict)} is the default of target ${target} (a store being deleted yields to any other; else the oldest wins); set spec.default: false here or on the other store`,
        };
      }
      if (v.plan.kind === "kept" && !store.deleting) {
        const why = v.blocker?.message ?? firstProblem(store) ?? "the store checks out again";
        return {
          type: "Rendered",
          status: "True",
          reason: "KeptLastGood",
          message: `Glance keeps the store as last rendered so its images stay readable; changes are applied once ${v.blocker !== undefined || firstProblem(store) !== undefined ? `this is fixed: ${why}` : why}`,
        };
      }
      if (keptReason !== undefined && v.plan.kind === "fresh") {
        return { type: "Rendered", status: "True", reason: "KeptLastGood", message: `Glance runs the store as last rendered; ${keptReason}` };
      }
      if (v.keptAsDefault === true) {
        return {
          type: "Rendered",
          status: "True",
          reason: "KeptAsDefault",
          message:
            targetDefault === undefined
              ? `in the Glance configuration of target ${target}, as its default although spec.default is false: no other store asks to be the default, and Glance cannot run without one. Mark another store default to move it`
              : `in the Glance configuration of target ${target}, as its default: GlanceStoreTarget ${target} names ${JSON.stringify(targetDefault)} as the default (spec.defaultStore), which is no store that can be rendered now, and Glance cannot run without a default. Fix spec.defaultStore, or the store it names`,
        };
      }
      return { type: "Rendered", status: "True", reason: "Rendered", message: `in the Glance configuration of target ${target}` };
    }
    if (v.lost !== undefined) return { type: "Rendered", status: "False", reason: "NotRestorable", message: v.lost };
    if (store.deleting) return { type: "Rendered", status: "False", reason: "Removed", message: "removed from the Glance configuration; the store is being deleted" };
    if (v.blocker !== undefined) return { type: "Rendered", status: "False", reason: v.blocker.reason, message: `not rendered: ${v.blocker.message}` };
    if (v.plan.kind === "fresh" && keptReason !== undefined) return { type: "Rendered", status: "False", reason: "NotRenderable", message: keptReason };
    const problem = firstProblemCondition(store);
    if (problem !== undefined) {
      return { type: "Rendered", status: "False", reason: problem.reason, message: `not rendered (a new store is rendered only once it checks out): ${problem.message}` };
    }
    return { type: "Rendered", status: "False", reason: "NotRenderable", message: keptReason ?? "not rendered" };
  })();
  conditions.push(renderedCondition);

  const healthy = store.spec !== undefined && store.credentials?.ok === true && check?.ok === true;
  const addDeleteEnabled = rendered && healthy && !store.deleting && v.plan.kind === "fresh" && keptReason === undefined && v.blocker === undefined;

  const readyCondition = ((): DesiredCondition => {
    if (v.deletionHeld !== undefined) {
      if (v.lost === undefined) return v.deletionHeld;
      return { ...v.deletionHeld, message: `${v.deletionHeld.message}. ${v.lost}` };
    }
    if (store.deleting) return { type: "Ready", status: "False", reason: "Deleting", message: "the store is being deleted" };
    if (addDeleteEnabled && v.pendingVolumeType !== undefined) {
      const { pinned, requested } = v.pendingVolumeType;
      return {
        type: "Ready",
        status: "False",
        reason: "VolumeTypeChangeNotConfirmed",
        message: `Glance runs the store with volume type ${JSON.stringify(pinned.name)}, where its images are; the spec now asks for ${JSON.stringify(requested.name)}. New images would go to the new type while the old ones stay on the old one (the operator keeps counting both). To apply the change, annotate ${CONFIRM_VOLUME_TYPE_ANNOTATION}=${requested.name}; or set spec.volumeType back`,
      };
    }
    if (addDeleteEnabled) return { type: "Ready", status: "True", reason: "Ready", message: "rendered, credentials accepted and volume type available: images can be added and deleted" };
    const cause =
      renderedCondition.status === "False"
        ? renderedCondition
        : v.blocker !== undefined
          ? { reason: v.blocker.reason, message: v.blocker.message }
          : (firstProblemCondition(store) ?? renderedCondition);
    const prefix = rendered ? "images stay readable, but adding and deleting is disabled: " : "";
    return { type: "Ready", status: "False", reason: cause.reason, message: `${prefix}${cause.message}` };
  })();
  conditions.push(readyCondition);

  // glance_store opens one Cinder session with the first store's credentials and reuses it for every store.
  const sets = context.renderedCredentialSets;
  if (rendered && sets > 1) {
    const first = [...context.renderedCredentials.keys()].sort()[0] ?? "";
    conditions.push({
      type: "CredentialsConsistent",
      status: "False",
      reason: "MixedCredentials",
      message: `the stores of target ${target} use ${sets} different credential sets, but glance_store opens one Cinder session per process with the credentials of the first cinder store (${JSON.stringify(first)}) and uses it for every store: give all stores of a target the same credentials`,
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
  } else if (store.spec?.caCertificatesFile !== undefined) {
    conditions.push({
      type: "OptionsEffective",
      status: "False",
      reason: "CACertificateNotChecked",
      message: `caCertificatesFile (${store.spec.caCertificatesFile}) is a path inside glance-api that the operator cannot read, so its own checks of Keystone and Cinder trusted other certificates than Glance will. Put the CA bundle into the credentials Secret's caCert key instead and unset caCertificatesFile: the operator then checks with it and renders it as the file Glance uses`,
    });
  }

  const plannedType = v.plan.kind === "fresh" ? v.plan.spec.volumeType : v.plan.kind === "kept" ? v.plan.previous.spec.volumeType : undefined;
  const latest = v.volumeTypes[v.volumeTypes.length - 1];
  const volumeType =
    plannedType !== undefined
      ? { name: plannedType, ...(latest !== undefined && latest.name === plannedType && latest.id !== undefined ? { id: latest.id } : {}) }
      : check?.ok === true
        ? { id: check.volumeType.id, name: check.volumeType.name }
        : store.spec?.volumeType !== undefined
          ? { name: store.spec.volumeType }
          : undefined;
  const freshProject = rendered && v.plan.kind === "fresh" && check?.ok === true && v.blocker === undefined ? check.projectId : undefined;
  return {
    key: store.key,
    rendered,
    addDeleteEnabled,
    volumeType,
    volumeTypes: rendered ? v.volumeTypes : store.memory.volumeTypes,
    projectId: freshProject ?? store.memory.projectId,
    imageVolumes: store.deleting && store.imageVolumes?.ok === true ? store.imageVolumes.count : undefined,
    conditions,
    releaseFinalizer: store.deleting && !rendered && v.plan.kind === "excluded" && v.deletionHeld === undefined && v.lost === undefined,
    needsFinalizer: !store.deleting && (v.plan.kind === "fresh" || v.plan.kind === "kept" || v.lost !== undefined),
    refusal: check?.ok === false && check.reason === "AuthFailed" ? check.refusal : undefined,
  };
}

function credentialsCondition(store: ObservedStore): DesiredCondition {
  if (store.credentials === undefined) return { type: "CredentialsValid", status: "Unknown", reason: "NotChecked", message: "the store's spec is not valid, so its credentials were not read" };
  if (!store.credentials.ok) return { type: "CredentialsValid", status: "False", reason: store.credentials.reason, message: store.credentials.message };
  const check = store.check;
  if (check === undefined) return { type: "CredentialsValid", status: "Unknown", reason: "NotChecked", message: "not checked against Keystone yet" };
  if (check.ok || check.authenticated) return { type: "CredentialsValid", status: "True", reason: "Authenticated", message: "Keystone accepted the credentials" };
  if (check.reason === "AuthFailed") return { type: "CredentialsValid", status: "False", reason: "AuthFailed", message: check.message };
  if (check.reason === "KeystoneRejected") return { type: "CredentialsValid", status: "Unknown", reason: "KeystoneRejected", message: check.message };
  return { type: "CredentialsValid", status: "Unknown", reason: check.reason, message: `Keystone could not be asked: ${check.message}` };
}

function volumeTypeCondition(v: Verdict): DesiredCondition {
  const check = v.store.check;
  if (check === undefined) return { type: "VolumeTypeAvailable", status: "Unknown", reason: "NotChecked", message: "not checked: the store has no usable credentials" };
  if (check.ok) {
    const pinnedNote =
      v.store.spec?.volumeType === undefined && !check.resolvedDefault
        ? " (the type the store was first rendered with, when it was Cinder's default: the store stays on it when Cinder's default changes)"
        : "";
    const which = check.resolvedDefault ? `Cinder's default type ${JSON.stringify(check.volumeType.name)}` : `volume type ${JSON.stringify(check.volumeType.name)}`;
    return { type: "VolumeTypeAvailable", status: "True", reason: "VolumeTypeFound", message: `${which} (${check.volumeType.id}) exists and is accessible to the store's project${pinnedNote}` };
  }
  if (check.reason === "VolumeTypeNotFound" || check.reason === "VolumeTypeNotAccessible" || check.reason === "EndpointNotFound") {
    return { type: "VolumeTypeAvailable", status: "False", reason: check.reason, message: check.message };
  }
  return { type: "VolumeTypeAvailable", status: "Unknown", reason: check.reason, message: check.message };
}

function firstProblemCondition(store: ObservedStore): { reason: string; message: string } | undefined {
  if (store.spec === undefined) return { reason: "InvalidSpec", message: store.specProblem ?? "the spec is not valid" };
  if (store.credentials === undefined) return undefined;
  if (!store.credentials.ok) return { reason: store.credentials.reason, message: store.credentials.message };
  if (store.check?.ok === false) return { reason: store.check.reason, message: store.check.message };
  return undefined;
}

function firstProblem(store: ObservedStore): string | undefined {
  return firstProblemCondition(store)?.message;
}
