/**
 * The pairs Glance could have been given: every (ConfigMap, Secret) state of
 * one target that the apiserver held, in order, from a raw watch on each;
 * and the check that each would start a real glance-api with the stores it
 * must keep and credentials Keystone accepts.
 *
 * A version the test itself wrote or deleted to inject a fault is marked
 * injected: a state holding one is the fault, not the operator's doing, and
 * is exempt; the operator must then bring back a valid pair within a
 * deadline. Every other state must be valid.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import { CREDENTIALS_CONF_FILE, STORES_CONF_FILE } from "../../src/render/render.js";
import type { KubeObject, KubeRaw } from "../support/kube-raw.js";
import { waitFor } from "../../src/devstack/wait.js";
import { readGlanceConfigs, writePairDir, type GlanceConfigReport } from "./glance-config.js";
import { compareRv, ResourceRecorder, type RecordedVersion } from "./recorder.js";

export type PairSide = "configMap" | "secret";

export interface SideVersion {
  readonly side: PairSide;
  readonly rv: bigint;
  readonly present: boolean;
  /** The file under its key (decoded for the Secret); undefined when absent or the key is missing. */
  readonly file: string | undefined;
  readonly keys: readonly string[];
  /** Written or deleted by the test as the fault. */
  readonly injected: boolean;
  readonly gap: boolean;
  readonly at: number;
}

export interface PairState {
  readonly index: number;
  /** The revision at which the apiserver started to hold this state. */
  readonly rv: bigint;
  /** When the recorder learnt of it. */
  readonly at: number;
  readonly configMap: SideVersion;
  readonly secret: SideVersion;
  readonly cause: PairSide | "start";
}

export interface RecordedPairs {
  readonly target: string;
  readonly states: readonly PairState[];
  /** Versions of either object that a LIST found after a refused watch resumption: the record may miss some before them. */
  readonly gaps: number;
}

/**
 * Watches `<target>-stores` and `<target>-stores-credentials` from now on.
 * Call `injectedWrite`/`deleteInjected` for the test's own faults.
 */
export class PairRecorder {
  readonly #configMaps: ResourceRecorder;
  readonly #secrets: ResourceRecorder;
  readonly #injectedRvs = new Set<string>();
  /** side:rv of versions the test deleted (the DELETED event right after is the injected absence). */
  readonly #deletedAfter = new Set<string>();
  readonly #listeners: ((side: PairSide, version: RecordedVersion) => void)[] = [];

  private constructor(
    readonly raw: KubeRaw,
    readonly namespace: string,
    readonly target: string,
  ) {
    const recorder = (side: PairSide, collection: string, name: string): ResourceRecorder =>
      new ResourceRecorder(raw, {
        collection: `/api/v1/namespaces/${namespace}/${collection}`,
        fieldSelector: `metadata.name=${name}`,
        onVersion: (version) => {
          for (const listener of this.#listeners) listener(side, version);
        },
      });
    this.#configMaps = recorder("configMap", "configmaps", `${target}-stores`);
    this.#secrets = recorder("secret", "secrets", `${target}-stores-credentials`);
  }

  static async start(raw: KubeRaw, namespace: string, target: string): Promise<PairRecorder> {
    const recorder = new PairRecorder(raw, namespace, target);
    await Promise.all([recorder.#configMaps.start(), recorder.#secrets.start()]);
    return recorder;
  }

  get configMapPath(): string {
    return `/api/v1/namespaces/${this.namespace}/configmaps/${this.target}-stores`;
  }

  get secretPath(): string {
    return `/api/v1/namespaces/${this.namespace}/secrets/${this.target}-stores-credentials`;
  }

  /** Called with every version as it is recorded (e.g. to kill the operator right after a write). */
  onVersion(listener: (side: PairSide, version: RecordedVersion) => void): () => void {
    this.#listeners.push(listener);
    return () => this.#listeners.splice(this.#listeners.indexOf(listener), 1);
  }

  #path(side: PairSide): string {
    return side === "configMap" ? this.configMapPath : this.secretPath;
  }

  /** A merge patch by the test (a hand edit): the version it makes is injected. Returns the new resourceVersion. */
  async injectPatch(side: PairSide, patch: unknown): Promise<string> {
    const written = await this.raw.mergePatch(this.#path(side), patch);
    const rv = written.metadata.resourceVersion ?? "";
    this.#injectedRvs.add(`${side}:${rv}`);
    return rv;
  }

  /** Deletes the object as it is now (with a resourceVersion precondition): its absence is injected. */
  async injectDelete(side: PairSide): Promise<void> {
    const current = await this.raw.get(this.#path(side));
    const rv = current?.metadata.resourceVersion;
    if (rv === undefined) throw new Error(`${this.#path(side)} does not exist: nothing to delete`);
    this.#deletedAfter.add(`${side}:${rv}`);
    await this.raw.deleteVersion(this.#path(side), rv);
  }

  /**
   * Waits until the last state holds both objects and no injected version:
   * the operator answered the fault (whether well is for checkPairs to say).
   * Returns how long after `since` that state arrived.
   */
  async waitForOperatorPair(since: number, timeoutMs = 30_000): Promise<number> {
    const state = await waitFor(
      () => {
        const states = this.pairs().states;
        const last = states[states.length - 1];
        return last !== undefined && last.at >= since && last.configMap.present && last.secret.present && !last.configMap.injected && !last.secret.injected ? last : undefined;
      },
      { what: `the operator to write a whole pair for target ${this.target} again`, timeoutMs, intervalMs: 100 },
    );
    return state.at - since;
  }

  /** Waits until both watches hold what the apiserver holds now. */
  async caughtUp(timeoutMs = 15_000): Promise<void> {
    await Promise.all([this.#configMaps.caughtUp(timeoutMs), this.#secrets.caughtUp(timeoutMs)]);
  }

  /** The watch requests opened so far (resumptions included). */
  get watches(): number {
    return this.#configMaps.watches + this.#secrets.watches;
  }

  /** The states in order. Call caughtUp() first for a complete record. */
  pairs(): RecordedPairs {
    const sides = {
      configMap: this.#sideVersions("configMap", this.#configMaps),
      secret: this.#sideVersions("secret", this.#secrets),
    };
    const startRv = this.#configMaps.startRv > this.#secrets.startRv ? this.#configMaps.startRv : this.#secrets.startRv;
    const absent = (side: PairSide, rv: bigint): SideVersion => ({ side, rv, present: false, file: undefined, keys: [], injected: false, gap: false, at: 0 });
    const current: Record<PairSide, SideVersion> = { configMap: absent("configMap", this.#configMaps.startRv), secret: absent("secret", this.#secrets.startRv) };
    const merged = [...sides.configMap, ...sides.secret].sort((a, b) => compareRv(a.rv, b.rv) || (a.side < b.side ? -1 : 1));
    const states: PairState[] = [];
    let started = false;
    for (const version of merged) {
      if (!started && version.rv > startRv) {
        states.push({ index: 0, rv: startRv, at: Math.max(current.configMap.at, current.secret.at), configMap: current.configMap, secret: current.secret, cause: "start" });
        started = true;
      }
      current[version.side] = version;
      if (started) states.push({ index: states.length, rv: version.rv, at: version.at, configMap: current.configMap, secret: current.secret, cause: version.side });
    }
    if (!started) states.push({ index: 0, rv: startRv, at: Math.max(current.configMap.at, current.secret.at), configMap: current.configMap, secret: current.secret, cause: "start" });
    return { target: this.target, states, gaps: this.#configMaps.gaps + this.#secrets.gaps };
  }

  #sideVersions(side: PairSide, recorder: ResourceRecorder): SideVersion[] {
    const key = side === "configMap" ? STORES_CONF_FILE : CREDENTIALS_CONF_FILE;
    const versions: SideVersion[] = [];
    let previous: bigint | undefined;
    for (const version of recorder.versions) {
      const object = version.object;
      const deletedByTest = object === undefined && previous !== undefined && this.#deletedAfter.has(`${side}:${previous}`);
      versions.push({
        side,
        rv: version.rv,
        present: object !== undefined,
        file: object === undefined ? undefined : fileOf(side, object, key),
        keys: Object.keys(object?.data ?? {}),
        injected: deletedByTest || (object !== undefined && this.#injectedRvs.has(`${side}:${version.rv}`)),
        gap: version.gap,
        at: version.at,
      });
      previous = object === undefined ? undefined : version.rv;
    }
    return versions;
  }

  async stop(): Promise<void> {
    await Promise.all([this.#configMaps.stop(), this.#secrets.stop()]);
  }
}

function fileOf(side: PairSide, object: KubeObject, key: string): string | undefined {
  const value = object.data?.[key];
  if (value === undefined) return undefined;
  return side === "secret" ? Buffer.from(value, "base64").toString("utf8") : value;
}

// ---------------------------------------------------------------- the check

export interface PairCheckOptions {
  /** Store ids every pair must hold: Glance ran them before the fault and they were not deliberately removed. */
  readonly mustKeep: readonly string[];
  /** Store ids no pair may hold (e.g. a store whose password Keystone refuses). */
  readonly mustNotHold?: readonly string[];
  /** The credential sets Keystone accepts during the window: the first cinder store's must be one of them. */
  readonly validCredentials: readonly PasswordCredentials[];
  /** Only states the recorder learnt of in [from, to) (Date.now() values). */
  readonly from?: number;
  readonly to?: number;
  /** After an injected state, a valid pair the operator wrote must follow within this many ms (default 20 s). */
  readonly restoreWithinMs?: number;
  /** Where to write the pairs for python (a folder that is removed afterwards). */
  readonly scratchDir: string;
}

export interface PairCheckResult {
  readonly states: number;
  /** Distinct full pairs read by oslo.config. */
  readonly distinctPairs: number;
  readonly exempt: number;
  readonly violations: readonly string[];
  /** Each distinct pair's report, by the state indexes that held it. */
  readonly reports: readonly { readonly states: readonly number[]; readonly report: GlanceConfigReport }[];
}

/**
 * Checks every state of the window. Passwords never appear in the
 * violations: credentials are named by user and project only.
 */
export async function checkPairs(recorded: RecordedPairs, options: PairCheckOptions): Promise<PairCheckResult> {
  const from = options.from ?? -Infinity;
  const to = options.to ?? Infinity;
  const restoreWithinMs = options.restoreWithinMs ?? 20_000;
  const violations: string[] = [];
  const inWindow = recorded.states.filter((state) => state.at >= from && state.at < to || (state.cause === "start" && from === -Infinity));
  const label = (state: PairState): string => `state #${state.index} (rv ${state.rv}, ${state.cause}${state.configMap.injected || state.secret.injected ? ", injected" : ""})`;
  if (recorded.gaps > 0) violations.push(`the watch of target ${recorded.target} missed versions ${recorded.gaps} time(s) (a refused resumption): the record is not complete`);

  const full: PairState[] = [];
  let exempt = 0;
  let seenFull = recorded.states.some((state) => state.at < from && state.configMap.present && state.secret.present);
  for (const state of inWindow) {
    const injected = state.configMap.injected || state.secret.injected;
    if (injected) {
      exempt++;
      continue;
    }
    const present = [state.configMap.present, state.secret.present];
    if (present[0] && present[1]) {
      seenFull = true;
      full.push(state);
    } else if (present[0] || present[1]) {
      violations.push(`${label(state)}: only the ${present[0] ? "ConfigMap" : "Secret"} exists; a glance-api pod mounting both cannot start`);
    } else if (seenFull) {
      violations.push(`${label(state)}: both the ConfigMap and the Secret are gone although the target had stores`);
    }
  }

  // Injected states: a valid operator-written pair within the deadline.
  for (let i = 0; i < inWindow.length; i++) {
    const state = inWindow[i]!;
    if (!(state.configMap.injected || state.secret.injected)) continue;
    const next = inWindow[i + 1];
    if (next !== undefined && (next.configMap.injected || next.secret.injected)) continue;
    if (next === undefined) {
      violations.push(`${label(state)}: the injected state was never replaced by the operator`);
    } else if (next.at - state.at > restoreWithinMs) {
      violations.push(`${label(state)}: the operator replaced the injected state only after ${next.at - state.at} ms (deadline ${restoreWithinMs} ms)`);
    }
  }

  // Distinct full pairs, read once each by oslo.config.
  const byContent = new Map<string, { states: number[]; configMap: SideVersion; secret: SideVersion }>();
  for (const state of full) {
    const { configMap, secret } = state;
    if (configMap.file === undefined || secret.file === undefined) {
      violations.push(`${label(state)}: ${configMap.file === undefined ? `the ConfigMap has no key ${STORES_CONF_FILE} (keys: ${configMap.keys.join(", ")})` : `the Secret has no key ${CREDENTIALS_CONF_FILE} (keys: ${secret.keys.join(", ")})`}`);
      continue;
    }
    const digest = createHash("sha256").update(configMap.file).update("\0").update(secret.file).digest("hex");
    const entry = byContent.get(digest) ?? { states: [], configMap, secret };
    entry.states.push(state.index);
    byContent.set(digest, entry);
  }
  const scratch = await mkdtemp(join(options.scratchDir, "pairs-"));
  const reports: { states: number[]; report: GlanceConfigReport }[] = [];
  try {
    const entries = [...byContent.values()];
    const dirs = await Promise.all(entries.map((entry, i) => writePairDir(join(scratch, String(i)), entry.configMap.file!, entry.secret.file!)));
    const read = await readGlanceConfigs(dirs);
    for (const [i, report] of read.entries()) {
      const entry = entries[i]!;
      reports.push({ states: entry.states, report });
      const where = `state(s) #${entry.states.join(", #")}`;
      for (const error of report.errors) violations.push(`${where}: glance-api would not start: ${error}`);
      for (const id of options.mustKeep) if (!report.ids.includes(id)) violations.push(`${where}: store ${JSON.stringify(id)}, which Glance ran before the fault, is missing (enabled_backends: ${report.ids.join(", ")})`);
      for (const id of options.mustNotHold ?? []) if (report.ids.includes(id)) violations.push(`${where}: store ${JSON.stringify(id)} must not be rendered, yet it is`);
      const first = report.firstCinderCredentials;
      if (first !== null && !options.validCredentials.some((valid) => sameCredentials(first, valid))) {
        violations.push(
          `${where}: the first cinder store ${JSON.stringify(report.firstCinder)} carries credentials Keystone does not accept (user ${JSON.stringify(first.username)} at ${first.authUrl}, project ${JSON.stringify(first.projectName)}): glance-api would exit 99`,
        );
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { states: inWindow.length, distinctPairs: byContent.size, exempt, violations, reports };
}

function sameCredentials(found: { authUrl: string | null; username: string | null; userDomainName: string | null; password: string | null; projectName: string | null; projectDomainName: string | null }, valid: PasswordCredentials): boolean {
  const url = (value: string | null): string => (value ?? "").replace(/\/+$/, "");
  return (
    url(found.authUrl) === url(valid.authUrl) &&
    found.username === valid.username &&
    found.password === valid.password &&
    found.projectName === valid.projectName &&
    (found.userDomainName ?? "Default") === valid.userDomainName &&
    (found.projectDomainName ?? "Default") === valid.projectDomainName
  );
}

/** The store ids of the last state (for messages). */
export function lastIds(recorded: RecordedPairs): string[] {
  const last = recorded.states[recorded.states.length - 1];
  const match = last?.configMap.file?.match(/^enabled_backends\s*=\s*(.*)$/m);
  return match?.[1]?.split(",").map((entry) => entry.split(":")[0]!.trim()).filter((id) => id !== "") ?? [];
}
