import type { V1Deployment, V1StatefulSet } from "@kubernetes/client-node";
import type { DesiredCondition } from "./conditions.js";
import { compare } from "../render/render.js";
import type { TargetDecision } from "./decide.js";
import { CONFIG_HASH_ANNOTATION } from "./naming.js";

/**
 * What a GlanceStoreTarget's status says about its whole Glance, as a pure
 * function of what a reconcile decided and observed: which stores the
 * configuration holds, whether it was written or kept, the image volumes no
 * cinder store covers, whether Glance serves the configuration, and whether
 * the opted-in workloads finished rolling it out. None of it gates rendering:
 * it is what an admin reads in `kubectl get glancestoretargets`.
 */

/** Image volumes (`image-<uuid>`) in the project Glance keeps images in, by volume type. */
export type ImageVolumesObservation =
  | { readonly ok: true; readonly byType: readonly { readonly volumeType: string | undefined; readonly count: number }[]; readonly checkedAt: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

export interface ServedStore {
  readonly id: string;
  readonly type?: string | undefined;
  readonly volumeType?: string | undefined;
  readonly default: boolean;
}

/** What Glance said it serves. Undefined in the input: not asked (no target object, or spec.glance.check false). */
export type GlanceObservation =
  | { readonly ok: true; readonly url: string; readonly detail: boolean; readonly stores: readonly ServedStore[]; readonly checkedAt: string }
  | { readonly ok: false; readonly reason: string; readonly message: string };

export interface WorkloadRollout {
  readonly kind: "Deployment" | "StatefulSet";
  readonly name: string;
  readonly complete: boolean;
  readonly message: string;
}

export interface TargetStatusInput {
  readonly target: string;
  readonly decision: TargetDecision;
  /** The cinder stores' volume types in that configuration, by store id. */
  readonly renderedVolumeTypes: ReadonlyMap<string, string>;
  /** The hash of the files in the cluster after this reconcile; undefined when there are none. */
  readonly configHash: string | undefined;
  readonly imageVolumes: ImageVolumesObservation | undefined;
  readonly glance: GlanceObservation | undefined;
  /** Undefined when the operator does not roll workloads (--rollout-workloads=false). */
  readonly rollout: readonly WorkloadRollout[] | undefined;
  /** Stores whose credentials differ from those glance_store opens its one Cinder session with. */
  readonly mixedCredentials: readonly string[];
}

export interface UncoveredType {
  readonly volumeType: string;
  readonly count: number;
}

export interface TargetStatusView {
  readonly summary: string;
  readonly enabledBackends: string;
  readonly storeIds: readonly string[];
  readonly defaultStore: string | undefined;
  readonly config: { readonly state: "Written" | "Kept" | "Removed"; readonly reason?: string; readonly message?: string };
  readonly configHash: string | undefined;
  readonly uncoveredImageVolumes: readonly UncoveredType[] | undefined;
  readonly uncoveredImageVolumeCount: number | undefined;
  readonly imageVolumesCheckedAt: string | undefined;
  readonly glance: { readonly url: string; readonly detail: boolean; readonly stores: readonly ServedStore[]; readonly checkedAt: string } | undefined;
  readonly rollout: readonly WorkloadRollout[] | undefined;
  readonly conditions: readonly DesiredCondition[];
  /** Whether Glance serves the configuration and its rollout is complete. */
  readonly serving: boolean;
}

/** The types of image volumes no rendered cinder store has: their legacy images stay unmapped by Glance. */
export function uncoveredImageVolumes(byType: readonly { readonly volumeType: string | undefined; readonly count: number }[], covered: Iterable<string>): UncoveredType[] {
  const coveredSet = new Set(covered);
  const counts = new Map<string, number>();
  for (const { volumeType, count } of byType) {
    const name = volumeType ?? "";
    if (count <= 0 || (name !== "" && coveredSet.has(name))) continue;
    counts.set(name, (counts.get(name) ?? 0) + count);
  }
  return [...counts.entries()].map(([volumeType, count]) => ({ volumeType, count })).sort((a, b) => compare(a.volumeType, b.volumeType));
}

export function targetStatusView(input: TargetStatusInput): TargetStatusView {
  const { decision, target } = input;
  const backends = [...decision.renderedStoreIds.map((id) => ({ id, type: "cinder" })), ...decision.otherStores].sort((a, b) => compare(a.id, b.id));
  const storeIds = backends.map((store) => store.id);
  const enabledBackends = backends.map((store) => `${store.id}:${store.type}`).join(", ");
  const config: TargetStatusView["config"] =
    decision.action.kind === "write"
      ? { state: "Written" }
      : decision.action.kind === "keep"
        ? { state: "Kept", reason: "Kept", message: decision.action.reason }
        : { state: "Removed", reason: "NoStores", message: "no GlanceStore names this target: the rendered ConfigMap and Secret are removed" };

  const conditions: DesiredCondition[] = [];
  conditions.push(
    config.state === "Written"
      ? { type: "ConfigWritten", status: "True", reason: "Written", message: `the rendered ConfigMap and Secret hold what the stores of target ${target} ask for` }
      : { type: "ConfigWritten", status: "False", reason: config.reason ?? "Kept", message: config.message ?? "" },
  );

  const covered = new Set(input.renderedVolumeTypes.values());
  let uncovered: UncoveredType[] | undefined;
  if (input.imageVolumes === undefined) {
    conditions.push({ type: "ImageVolumesCovered", status: "Unknown", reason: "NotChecked", message: "no store of the target has credentials to list its image volumes with yet" });
  } else if (!input.imageVolumes.ok) {
    conditions.push({ type: "ImageVolumesCovered", status: "Unknown", reason: input.imageVolumes.reason, message: `the image volumes could not be listed: ${input.imageVolumes.message}` });
  } else {
    uncovered = uncoveredImageVolumes(input.imageVolumes.byType, covered);
    conditions.push(
      uncovered.length === 0
        ? { type: "ImageVolumesCovered", status: "True", reason: "Covered", message: "every image volume in the project Glance keeps images in has the volume type of a cinder store of this target" }
        : {
            type: "ImageVolumesCovered",
            status: "False",
            reason: "UncoveredImageVolumes",
            message: `${describeUncovered(uncovered)} no cinder store of target ${target} covers: Glance maps a legacy cinder://<volume> location to the first store of the volume's type, so those images stay unmapped. Add a GlanceStore with that volumeType (it may be readable only, never the default)`,
          },
    );
  }

  conditions.push(
    input.mixedCredentials.length === 0
      ? { type: "CredentialsShared", status: "True", reason: "OneCredentialSet", message: "every cinder store uses the credentials glance_store opens its one Cinder session with" }
      : {
          type: "CredentialsShared",
          status: "False",
          reason: "MixedCredentials",
          message: `stores ${input.mixedCredentials.map((id) => JSON.stringify(id)).join(", ")} have other credentials than the first cinder store: glance_store opens one Cinder session, with the first store's credentials, for all of them`,
        },
  );

  const served = servedCondition(input, backends, decision.defaultStoreId);
  conditions.push(served);
  const rollout = rolloutCondition(input.rollout);
  conditions.push(rollout);
  const serving = served.status === "True" && rollout.status !== "False";
  conditions.push(
    serving
      ? { type: "Serving", status: "True", reason: "Serving", message: `Glance serves the configuration${input.rollout === undefined ? "" : " and every opted-in workload runs it"}` }
      : served.status !== "True"
        ? { type: "Serving", status: served.status === "False" ? "False" : "Unknown", reason: served.reason, message: served.message }
        : { type: "Serving", status: "False", reason: rollout.reason, message: rollout.message },
  );

  const uncoveredCount = uncovered?.reduce((sum, type) => sum + type.count, 0);
  const summary = [
    `${serving ? "serving" : served.status === "False" ? "not serving yet" : "serving unknown"}: ${storeIds.length === 0 ? "no stores" : storeIds.join(", ")}${decision.defaultStoreId === undefined ? "" : ` (default ${decision.defaultStoreId})`}`,
    config.state === "Written" ? "config written" : config.state === "Kept" ? `config kept: ${config.message ?? ""}` : "config removed",
    uncovered === undefined ? "legacy volumes not checked" : uncovered.length === 0 ? "no legacy volumes uncovered" : `${uncoveredCount} legacy volume(s) uncovered (${uncovered.map((type) => `${type.volumeType || "no type"}: ${type.count}`).join(", ")})`,
    ...(input.configHash === undefined ? [] : [`hash ${input.configHash.slice(0, 12)}`]),
  ].join("; ");

  return {
    summary: summary.length > 4000 ? `${summary.slice(0, 3997)}...` : summary,
    enabledBackends,
    storeIds,
    defaultStore: decision.defaultStoreId,
    config,
    configHash: input.configHash,
    uncoveredImageVolumes: uncovered,
    uncoveredImageVolumeCount: uncoveredCount,
    imageVolumesCheckedAt: input.imageVolumes?.ok === true ? input.imageVolumes.checkedAt : undefined,
    glance: input.glance?.ok === true ? { url: input.glance.url, detail: input.glance.detail, stores: input.glance.stores, checkedAt: input.glance.checkedAt } : undefined,
    rollout: input.rollout,
    conditions,
    serving,
  };
}

function describeUncovered(uncovered: readonly UncoveredType[]): string {
  return uncovered.map((type) => `${type.count} image volume(s) ${type.volumeType === "" ? "without a volume type" : `of volume type ${JSON.stringify(type.volumeType)}`}`).join(", ");
}

function servedCondition(input: TargetStatusInput, backends: readonly { id: string; type: string }[], defaultStore: string | undefined): DesiredCondition {
  const glance = input.glance;
  if (glance === undefined) {
    return { type: "GlanceServesConfig", status: "Unknown", reason: "NotChecked", message: "Glance is not asked (spec.glance.check is false, or no store has credentials yet)" };
  }
  if (!glance.ok) return { type: "GlanceServesConfig", status: "Unknown", reason: glance.reason, message: `Glance could not be asked which stores it serves: ${glance.message}` };
  const differences = servedDifferences(glance, backends, defaultStore, input.renderedVolumeTypes);
  if (differences.length === 0) {
    return {
      type: "GlanceServesConfig",
      status: "True",
      reason: "Serving",
      message: `Glance at ${glance.url} serves exactly the configured stores${glance.detail ? " with their volume types" : " (its /v2/info/stores/detail is refused to these credentials, so volume types are not compared)"}`,
    };
  }
  return {
    type: "GlanceServesConfig",
    status: "False",
    reason: "ConfigNotLoaded",
    message: `Glance at ${glance.url} does not serve the configuration yet (${differences.join("; ")}): glance-api reads its configuration only at start, so restart or roll it`,
  };
}

/** How what Glance serves differs from the configuration, in words; empty when it does not. */
export function servedDifferences(
  glance: { readonly detail: boolean; readonly stores: readonly ServedStore[] },
  backends: readonly { readonly id: string; readonly type: string }[],
  defaultStore: string | undefined,
  volumeTypes: ReadonlyMap<string, string>,
): string[] {
  const served = new Map(glance.stores.map((store) => [store.id, store]));
  const wanted = new Set(backends.map((store) => store.id));
  const differences: string[] = [];
  const missing = backends.filter((store) => !served.has(store.id)).map((store) => store.id);
  const extra = glance.stores.filter((store) => !wanted.has(store.id)).map((store) => store.id);
  if (missing.length > 0) differences.push(`it does not serve ${missing.join(", ")}`);
  if (extra.length > 0) differences.push(`it serves ${extra.join(", ")}, which the configuration no longer has`);
  const servedDefault = glance.stores.find((store) => store.default)?.id;
  if (defaultStore !== undefined && servedDefault !== defaultStore) differences.push(`its default is ${servedDefault ?? "none"}, not ${defaultStore}`);
  if (glance.detail) {
    for (const store of backends) {
      const running = served.get(store.id);
      if (running === undefined) continue;
      if (running.type !== undefined && running.type !== store.type) differences.push(`${store.id} is a ${running.type} store there, not ${store.type}`);
      const volumeType = volumeTypes.get(store.id);
      if (store.type === "cinder" && volumeType !== undefined && running.volumeType !== volumeType) {
        differences.push(`${store.id} runs volume type ${running.volumeType ?? "(none)"}, not ${volumeType}`);
      }
    }
  }
  return differences;
}

function rolloutCondition(rollout: readonly WorkloadRollout[] | undefined): DesiredCondition {
  if (rollout === undefined) {
    return { type: "RolloutComplete", status: "Unknown", reason: "NotManaged", message: "the operator does not roll workloads (--rollout-workloads=false): restart glance-api yourself, or let Reloader do it" };
  }
  if (rollout.length === 0) {
    return { type: "RolloutComplete", status: "Unknown", reason: "NoWorkloads", message: "no Deployment or StatefulSet is annotated glance.stores.dev/target with this target" };
  }
  const pending = rollout.filter((workload) => !workload.complete);
  if (pending.length === 0) {
    return { type: "RolloutComplete", status: "True", reason: "RolledOut", message: `${rollout.map((w) => `${w.kind} ${w.name}`).join(", ")} run the current configuration on every replica` };
  }
  return { type: "RolloutComplete", status: "False", reason: "RollingOut", message: pending.map((w) => `${w.kind} ${w.name}: ${w.message}`).join("; ") };
}

/**
 * Whether a workload runs `hash` on every replica: the controller saw the
 * latest template, it carries the hash, and every replica is updated and
 * available (what `kubectl rollout status` waits for).
 */
export function workloadRollout(kind: "Deployment" | "StatefulSet", object: V1Deployment | V1StatefulSet, hash: string | undefined): WorkloadRollout {
  const name = object.metadata?.name ?? "";
  const templateHash = object.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
  const wanted = object.spec?.replicas ?? 1;
  const status = object.status;
  const generation = object.metadata?.generation ?? 0;
  const observed = status?.observedGeneration ?? 0;
  const result = (complete: boolean, message: string): WorkloadRollout => ({ kind, name, complete, message });
  if (hash === undefined) return result(false, "no configuration is rendered yet");
  if (templateHash !== hash) return result(false, "its pod template does not carry the current config hash yet");
  if (observed < generation) return result(false, `its controller has not seen generation ${generation} yet`);
  const updated = status?.updatedReplicas ?? 0;
  if (updated < wanted) return result(false, `${updated} of ${wanted} replicas updated`);
  if (kind === "Deployment") {
    const deployment = object as V1Deployment;
    const total = deployment.status?.replicas ?? 0;
    const available = deployment.status?.availableReplicas ?? 0;
    if (total > updated) return result(false, `${total - updated} old replica(s) still running`);
    if (available < updated) return result(false, `${available} of ${updated} updated replicas available`);
  } else {
    const set = object as V1StatefulSet;
    const ready = set.status?.readyReplicas ?? 0;
    if (set.status?.updateRevision !== undefined && set.status.currentRevision !== set.status.updateRevision) return result(false, "the update is not finished (currentRevision differs from updateRevision)");
    if (ready < wanted) return result(false, `${ready} of ${wanted} replicas ready`);
  }
  return result(true, `${wanted} replica(s) run the current configuration`);
}
