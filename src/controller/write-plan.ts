import type { RenderedConfig } from "../render/render.js";
import type { TargetDecision } from "./decide.js";

/**
 * The writes of one reconcile, in order, as a pure function of the decision
 * and of what the cluster holds: the reconciler only carries them out (and
 * skips a write whose object is already as wanted).
 *
 * The order keeps every state a glance-api could start from valid. Pods
 * read the ConfigMap and the Secret separately, so each (ConfigMap, Secret)
 * pair the apiserver holds between two writes must start glance-api: every
 * store the ConfigMap names must find its whole credential set in the
 * Secret. Hence the Secret first gains the sections of stores that arrive
 * (and keeps those of stores that leave), then the ConfigMap changes, then
 * the Secret drops the sections of the stores that left.
 */
export type PlannedWrite =
  /** Adds the finalizer before Glance may run the store, so its deletion can be held. */
  | { readonly kind: "addFinalizer"; readonly key: string }
  | { readonly kind: "putSecret"; readonly step: "union" | "final"; readonly credentialsConf: string; readonly caFiles: Readonly<Record<string, string>> }
  | { readonly kind: "putConfigMap"; readonly storesConf: string }
  | { readonly kind: "deleteConfigMap" }
  | { readonly kind: "deleteSecret" }
  /** Annotates opted-in workloads with the hash of the files Glance should run. */
  | { readonly kind: "rollout"; readonly config: RenderedConfig }
  | { readonly kind: "releaseFinalizer"; readonly key: string }
  | { readonly kind: "status"; readonly key: string };

export interface CurrentTarget {
  /** Store keys whose object carries the finalizer now. */
  readonly withFinalizer: ReadonlySet<string>;
  /** The files the cluster holds now (undefined when the ConfigMap is absent). */
  readonly files: RenderedConfig | undefined;
  /** The stores the current ConfigMap names. */
  readonly runningIds: readonly string[];
}

export function planWrites(decision: TargetDecision, current: CurrentTarget): PlannedWrite[] {
  const writes: PlannedWrite[] = [];
  for (const store of decision.stores) {
    if (store.needsFinalizer && !current.withFinalizer.has(store.key)) writes.push({ kind: "addFinalizer", key: store.key });
  }
  const action = decision.action;
  if (action.kind === "write") {
    const desired = action.config;
    const leaving = current.runningIds.filter((id) => !decision.renderedStoreIds.includes(id));
    const union = current.files === undefined || leaving.length === 0 ? undefined : unionCredentials(desired, current.files, leaving);
    if (union !== undefined && current.files?.storesConf !== desired.storesConf) {
      writes.push({ kind: "putSecret", step: "union", credentialsConf: union.credentialsConf, caFiles: union.caFiles });
      writes.push({ kind: "putConfigMap", storesConf: desired.storesConf });
      writes.push({ kind: "putSecret", step: "final", credentialsConf: desired.credentialsConf, caFiles: desired.caFiles });
    } else {
      writes.push({ kind: "putSecret", step: "final", credentialsConf: desired.credentialsConf, caFiles: desired.caFiles });
      writes.push({ kind: "putConfigMap", storesConf: desired.storesConf });
    }
    writes.push({ kind: "rollout", config: desired });
  } else if (action.kind === "remove") {
    // Nothing is left for Glance; the ConfigMap goes first so that no pair names a store without its credentials.
    writes.push({ kind: "deleteConfigMap" }, { kind: "deleteSecret" });
  } else if (current.files !== undefined) {
    writes.push({ kind: "rollout", config: current.files });
  }
  for (const store of decision.stores) {
    if (store.releaseFinalizer && current.withFinalizer.has(store.key)) writes.push({ kind: "releaseFinalizer", key: store.key });
  }
  for (const store of decision.stores) {
    if (!store.releaseFinalizer) writes.push({ kind: "status", key: store.key });
  }
  return writes;
}

/**
 * How many writes from `index` on may be sent at once, without changing what
 * any intermediate state lets Glance start with: finalizers together, and
 * with the Secret write that follows them (a Secret that gains sections
 * exposes no store: only the ConfigMap does, and it waits for both); and the
 * writes after the files (rollout, released finalizers, statuses), which
 * touch separate objects. Everything else goes one at a time, in order.
 */
export function concurrentWrites(plan: readonly PlannedWrite[], index: number): number {
  const first = plan[index];
  if (first === undefined) return 0;
  let end = index + 1;
  if (first.kind === "addFinalizer") {
    while (plan[end]?.kind === "addFinalizer") end++;
    if (plan[end]?.kind === "putSecret") end++;
  } else if (AFTER_THE_FILES.has(first.kind)) {
    while (end < plan.length && AFTER_THE_FILES.has((plan[end] as PlannedWrite).kind)) end++;
  }
  return end - index;
}

const AFTER_THE_FILES: ReadonlySet<PlannedWrite["kind"]> = new Set(["rollout", "releaseFinalizer", "status"]);

/**
 * The desired credentials file plus the current sections of `keepIds` (the
 * stores that leave the ConfigMap in this reconcile), and every CA bundle
 * either names. Works on the operator's own format: a section starts at an
 * optional run of comment lines followed by its `[id]` header.
 */
export function unionCredentials(desired: RenderedConfig, current: RenderedConfig, keepIds: readonly string[]): { credentialsConf: string; caFiles: Record<string, string> } {
  const sections = sectionsOf(current.credentialsConf);
  const kept = keepIds.map((id) => sections.get(id)).filter((text): text is string => text !== undefined);
  const credentialsConf = kept.length === 0 ? desired.credentialsConf : `${desired.credentialsConf.replace(/\n*$/, "\n")}\n${kept.join("\n")}`;
  const caFiles: Record<string, string> = { ...desired.caFiles };
  for (const [name, pem] of Object.entries(current.caFiles)) {
    if (kept.some((text) => text.includes(name))) caFiles[name] = pem;
  }
  return { credentialsConf: credentialsConf.endsWith("\n") ? credentialsConf : `${credentialsConf}\n`, caFiles };
}

function sectionsOf(text: string): Map<string, string> {
  // Rendered values never hold a line break, so blank lines separate the sections.
  const sections = new Map<string, string>();
  for (const block of text.split(/\n[ \t]*\n/)) {
    const header = block
      .split("\n")
      .map((line) => /^\[([^\]]+)\]$/.exec(line))
      .find((match) => match !== null);
    if (header) sections.set(header[1] as string, `${block.replace(/\n+$/, "")}\n`);
  }
  return sections;
}
