/**
 * The fault suite's scaffolding, on top of the end-to-end one
 * (test/e2e/support.ts): one real stack per test file, the operator as a
 * child process, fault proxies in front of Keystone, Cinder and
 * kube-apiserver, recorders of every version of the rendered pair and of the
 * GlanceStores, the pair check, a real glance-api at the end of each
 * scenario, and the scan for secrets over everything the suite produced.
 *
 * Everything started here is stopped by `stop()`: proxies and recorders in
 * this process, processes by pid through the stack's supervisor.
 */
import test, { type ExecutionContext } from "ava";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { DEFAULT_LEADER_ELECTION_ID, leaderElectionRules, MANAGER_RULES } from "../../src/controller/rbac.js";
import { startFaultProxy, type FaultProxy } from "../../src/devstack/fault-proxy.js";
import { DEV_PASSWORDS } from "../../src/devstack/openstack-seed.js";
import { issueToken, type PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import type { DevStackOptions } from "../../src/devstack/stack.js";
import { waitFor } from "../../src/devstack/wait.js";
import { condition, E2E, isReady, NAMESPACE, unique, type OperatorProcess, type StoreJson } from "../e2e/support.js";
import { KubeRaw } from "../support/kube-raw.js";
import { checkPairs, PairRecorder, type PairCheckOptions, type PairCheckResult } from "./pairs.js";
import { ResourceRecorder, type RecordedVersion } from "./recorder.js";
import { SecretRegistry, type ScannedText } from "./secrets.js";

export { condition, isReady, NAMESPACE, unique, type StoreJson };

/** The operator's --recheck-period in this suite. */
export const RECHECK_PERIOD = "3s";
export const RECHECK_MS = 3_000;
/** How a store that lost Keystone or Cinder may say so. */
export const OUTAGE_REASONS = ["Unreachable", "Timeout", "Unexpected"];
const OPERATORS_GROUP = "gso-reliability:operators";

export interface StartedOperator extends OperatorProcess {
  /** The Kubernetes user it authenticates as (its writes carry it in the audit log). */
  readonly user: string;
}

export class Reliability {
  readonly secrets = new SecretRegistry();
  /** /metrics pages fetched during the run: scanned for secrets at the end. */
  readonly metricsPages: ScannedText[] = [];
  readonly #operators: StartedOperator[] = [];
  readonly #recorders: { stop(): Promise<void> }[] = [];
  readonly #proxies: FaultProxy[] = [];
  #rbac = false;
  #stores: ResourceRecorder | undefined;

  private constructor(
    readonly e2e: E2E,
    /** Admin, straight to kube-apiserver (not through any fault proxy). */
    readonly raw: KubeRaw,
  ) {
    for (const [name, value] of Object.entries(DEV_PASSWORDS)) this.secrets.add(value, `password of the stack's ${name} user`);
  }

  static async start(options: DevStackOptions = {}): Promise<Reliability> {
    const started = Date.now();
    const e2e = await E2E.start(options);
    try {
      const raw = await KubeRaw.fromKubeconfig(e2e.kube.kubeconfigPath);
      const reliability = new Reliability(e2e, raw);
      reliability.#stores = new ResourceRecorder(raw, { collection: `/apis/glance.stores.dev/v1alpha1/namespaces/${NAMESPACE}/glancestores` });
      await reliability.#stores.start();
      process.stdout.write(`  stack and CRD ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return reliability;
    } catch (error) {
      await e2e.stop();
      throw error;
    }
  }

  get openstack(): E2E["openstack"] {
    return this.e2e.openstack;
  }

  get kube(): E2E["kube"] {
    return this.e2e.kube;
  }

  /** The operator's ClusterRole (src/controller/rbac.ts) and its Lease rules, bound to a group the test users share. */
  async #ensureRbac(): Promise<void> {
    if (this.#rbac) return;
    await this.e2e.apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "gso-reliability-operator" },
      rules: [...MANAGER_RULES, ...leaderElectionRules(DEFAULT_LEADER_ELECTION_ID)],
    });
    await this.e2e.apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "gso-reliability-operator" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "gso-reliability-operator" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: OPERATORS_GROUP }],
    });
    this.#rbac = true;
  }

  /**
   * Starts `glance-store-operator run` as its own Kubernetes user (with
   * exactly the operator's RBAC), optionally through `server` (a fault proxy
   * in front of kube-apiserver).
   */
  async startOperator(options: { name: string; server?: string; leaderElect?: boolean; podName?: string; recheckPeriod?: string }): Promise<StartedOperator> {
    await this.#ensureRbac();
    const user = `gso-${options.name}`;
    const kubeconfig = await this.kube.kubeconfigFor(user, [OPERATORS_GROUP], options.server === undefined ? {} : { server: options.server });
    const operator = await this.e2e.startOperator({
      name: options.name,
      kubeconfig,
      recheckPeriod: options.recheckPeriod ?? RECHECK_PERIOD,
      leaderElect: options.leaderElect ?? false,
      ...(options.podName === undefined ? {} : { env: { POD_NAME: options.podName } }),
    });
    const started: StartedOperator = Object.assign(operator, { user });
    this.#operators.push(started);
    return started;
  }

  /** Fetches /metrics of every operator still running, keeps the pages for the scan, returns them by operator name. */
  async collectMetrics(): Promise<Map<string, string>> {
    const pages = new Map<string, string>();
    for (const operator of this.#operators) {
      if (operator.process.exitInfo() !== undefined) continue;
      try {
        const text = await operator.metrics();
        this.metricsPages.push({ source: `/metrics of ${operator.process.name}`, text });
        pages.set(operator.process.name, text);
      } catch {
        // Stopping or stopped between the check and the fetch.
      }
    }
    return pages;
  }

  /** A fault proxy on a port of the stack, closed by stop() unless closed before. */
  async proxy(targetPort: number): Promise<FaultProxy> {
    const proxy = await startFaultProxy({ listenPort: await this.e2e.stack.ports.allocate(), targetPort });
    this.#proxies.push(proxy);
    return proxy;
  }

  /**
   * A region whose public volumev3 endpoint goes through a fault proxy in
   * front of Cinder: stores with `regionName: <region>` reach Cinder, the
   * operator and glance_store alike, only through it.
   */
  async cinderRegion(region: string): Promise<FaultProxy> {
    const proxy = await this.proxy(this.openstack.cinder.port);
    const { catalog } = await issueToken(this.openstack.adminCredentials);
    const volumev3 = catalog.find((entry) => entry.type === "volumev3");
    if (volumev3 === undefined) throw new Error("the catalog has no volumev3 service");
    await this.openstack.admin.createRegion(region);
    await this.openstack.admin.createEndpoint({ serviceId: volumev3.id, interface: "public", url: `${proxy.url}/v3/$(project_id)s`, regionId: region });
    return proxy;
  }

  /** A user of its own with the admin role in `service` (as glance has), and a random password registered for the scan. */
  async throwawayUser(prefix: string): Promise<{ userId: string; credentials: PasswordCredentials }> {
    const name = unique(prefix);
    const password = this.secrets.add(`pw-${randomBytes(9).toString("base64url")}`, `password of the test user ${name}`);
    const userId = await this.openstack.admin.createUser({ name, password, defaultProjectId: this.openstack.serviceProjectId });
    await this.openstack.admin.grantProjectRole(this.openstack.serviceProjectId, userId, "admin");
    return { userId, credentials: { ...this.openstack.glanceCredentials, username: name, password } };
  }

  /** A password Keystone will refuse, registered for the scan. */
  wrongPassword(label: string): string {
    return this.secrets.add(`wrong-${randomBytes(9).toString("base64url")}`, `wrong password (${label})`);
  }

  async putSecret(name: string, credentials: PasswordCredentials): Promise<void> {
    await this.e2e.putCredentialsSecret(name, credentials);
  }

  async volumeType(prefix: string): Promise<string> {
    return (await this.openstack.admin.createVolumeType(unique(prefix))).name;
  }

  /** Records every (ConfigMap, Secret) state of the target from now on; stopped by stop(). */
  async recordPairs(target: string): Promise<PairRecorder> {
    const recorder = await PairRecorder.start(this.raw, NAMESPACE, target);
    this.#recorders.push(recorder);
    return recorder;
  }

  /** Every version of a GlanceStore seen since the stack started (a watch on the namespace). */
  storeVersions(name: string, since = 0): StoreJson[] {
    return (this.#stores?.versions ?? []).filter((v: RecordedVersion) => v.name === name && v.at >= since && v.object !== undefined).map((v) => v.object as unknown as StoreJson);
  }

  /** Distinct targets of the GlanceStores in the namespace: how many reconciles one re-check period costs. */
  async targetCount(): Promise<number> {
    const list = await this.raw.json<{ items: { spec?: { target?: string } }[] }>("GET", `/apis/glance.stores.dev/v1alpha1/namespaces/${NAMESPACE}/glancestores`);
    return new Set(list.items.map((item) => item.spec?.target ?? "glance-api")).size;
  }

  async storesCaughtUp(): Promise<void> {
    await this.#stores?.caughtUp();
  }

  /**
   * Checks every pair the apiserver held (see pairs.ts); the violations
   * become findings. Logs what was checked.
   */
  async checkPairs(f: Findings, recorder: PairRecorder, options: Omit<PairCheckOptions, "scratchDir">): Promise<PairCheckResult | undefined> {
    return f.step(`checking the pairs of ${recorder.target}`, async () => {
      await recorder.caughtUp();
      const recorded = recorder.pairs();
      const result = await checkPairs(recorded, { ...options, scratchDir: this.e2e.stack.directory });
      f.log(`pairs of ${recorder.target}${options.from === undefined && options.to === undefined ? "" : " (a window)"}: ${result.states} state(s), ${result.distinctPairs} distinct pair(s) read by oslo.config, ${result.exempt} injected`);
      for (const violation of result.violations) f.problem(`pairs of ${recorder.target}: ${violation}`);
      return result;
    });
  }

  /**
   * Once the fault is over: a real glance-api started from the target's
   * final pair lists exactly `ids`, with `defaultId` as the default.
   */
  async checkGlanceStarts(f: Findings, target: string, ids: readonly string[], defaultId: string): Promise<void> {
    await f.step(`starting a real glance-api from the final pair of ${target}`, async () => {
      const started = Date.now();
      const glance = await this.openstack.startGlance({ configDir: await this.e2e.configDir(target), name: unique(`glance-${target}`) });
      try {
        const stores = await glance.stores();
        f.equal(stores.map((s) => s.id).sort(), [...ids].sort(), `the stores a real glance-api runs from the final pair of ${target}`);
        f.equal(stores.filter((s) => s.default === "true").map((s) => s.id), [defaultId], `the default store of a real glance-api on ${target}`);
      } finally {
        await glance.stop();
      }
      f.log(`glance-api started from the final pair of ${target} and answered in ${seconds(started)} s`);
    });
  }

  /** Stores `<target>-a` (id a, the default) and `<target>-b` (id b) with `spec`, Ready, and a recorder on their pair. */
  async twoReadyStores(target: string, spec: Record<string, unknown> = {}): Promise<{ recorder: PairRecorder; before: Awaited<ReturnType<E2E["renderedFiles"]>>; names: string[] }> {
    const names = [`${target}-a`, `${target}-b`];
    await this.e2e.apply(this.e2e.store(names[0]!, { target, storeId: "a", volumeType: await this.volumeType(names[0]!), default: true, ...spec }));
    await this.e2e.apply(this.e2e.store(names[1]!, { target, storeId: "b", volumeType: await this.volumeType(names[1]!), ...spec }));
    for (const name of names) await this.waitReady(name);
    const recorder = await this.recordPairs(target);
    return { recorder, before: await this.e2e.renderedFiles(target), names };
  }

  /** Waits until each store is not Ready, then checks it kept its last good rendering and that an outage is not taken for a refusal. */
  async waitNotReady(f: Findings, names: readonly string[], timeoutMs: number, reasons?: readonly string[]): Promise<void> {
    for (const name of names) {
      const store = await this.e2e.waitForStore(name, "not Ready during the fault", (s) => condition(s, "Ready")?.status === "False", timeoutMs);
      f.log(`${name}: Ready ${reasonOf(store, "Ready")}, CredentialsValid ${reasonOf(store, "CredentialsValid")}, VolumeTypeAvailable ${reasonOf(store, "VolumeTypeAvailable")}, Rendered ${reasonOf(store, "Rendered")}`);
      checkKeptLastGood(f, store, reasons);
      f.check(condition(store, "CredentialsValid")?.status !== "False", `${name}: CredentialsValid is ${reasonOf(store, "CredentialsValid")}: an outage is not a refusal`);
    }
  }

  async recoverReady(f: Findings, names: readonly string[], faultEnded: number): Promise<void> {
    try {
      for (const name of names) await this.waitReady(name, 60_000);
    } catch (error) {
      // What the services were doing: a Keystone that never recovered once failed a CI run without a trace.
      throw new Error(`${(error as Error).message}\n${await this.keystoneDiagnostics()}`, { cause: error });
    }
    f.log(`Ready again ${seconds(faultEnded)} s after the fault ended`);
  }

  /** Keystone's last log lines and its database sessions that are not idle. */
  async keystoneDiagnostics(): Promise<string> {
    const { keystone, postgres } = this.openstack;
    const sessions = await postgres
      .sql("keystone", "SELECT pid, state, wait_event_type, wait_event, round(extract(epoch from now() - xact_start)), left(query, 120) FROM pg_stat_activity WHERE datname = 'keystone' AND state <> 'idle' AND pid <> pg_backend_pid()")
      .catch((error: unknown) => `(not read: ${(error as Error).message})`);
    return `--- Keystone's database sessions (pid|state|wait|event|transaction age s|query) ---\n${sessions}--- last lines of Keystone's log ---\n${(await keystone.current()?.logTail(20)) ?? "(not running)"}`;
  }

  async waitReady(name: string, timeoutMs = 60_000): Promise<StoreJson> {
    return this.e2e.waitForStore(name, "Ready", isReady, timeoutMs);
  }

  /**
   * Waits until `periods` re-check periods have passed and the operator has
   * finished that many more reconciles per target (from its metrics), so a
   * test knows the operator did look again, not only that time went by.
   */
  async waitRecheckPeriods(operator: OperatorProcess, periods: number, targets: number): Promise<void> {
    const reconciles = async (): Promise<number> => {
      const text = await operator.metrics();
      this.metricsPages.push({ source: `/metrics of ${operator.process.name}`, text });
      let sum = 0;
      for (const match of text.matchAll(/^glance_store_operator_reconcile_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)) sum += Number(match[1]);
      return sum;
    };
    const start = Date.now();
    const before = await reconciles();
    await waitFor(async () => (Date.now() - start >= periods * RECHECK_MS && (await reconciles()) >= before + periods * targets ? true : undefined), {
      what: `${periods} re-check periods with ${periods * targets} reconciles`,
      timeoutMs: periods * RECHECK_MS * 4 + 30_000,
      intervalMs: 500,
    });
  }

  /**
   * Every ConfigMap (all namespaces), Event (core and events.k8s.io),
   * GlanceStore (with status) and Lease, every operator's log, the /metrics
   * pages fetched, and the apiserver's audit log: none may hold a password
   * of the suite or a Keystone token. Secrets are not scanned: holding
   * passwords is their job.
   */
  async scanForSecrets(): Promise<{ hits: string[]; sources: number; bytes: number }> {
    await this.collectMetrics();
    const texts: ScannedText[] = [...this.metricsPages];
    for (const [source, path] of [
      ["ConfigMaps", "/api/v1/configmaps"],
      ["core Events", "/api/v1/events"],
      ["events.k8s.io Events", "/apis/events.k8s.io/v1/events"],
      ["GlanceStores", "/apis/glance.stores.dev/v1alpha1/glancestores"],
      ["Leases", "/apis/coordination.k8s.io/v1/leases"],
    ] as const) {
      texts.push({ source, text: JSON.stringify(await this.raw.json("GET", path)) });
    }
    for (const operator of this.#operators) {
      texts.push({ source: `log of ${operator.process.name}`, text: await readFile(operator.process.logFile, "utf8").catch(() => "") });
    }
    texts.push({ source: "kube-apiserver audit log", text: await readFile(this.kube.auditLogPath, "utf8").catch(() => "") });
    return { hits: this.secrets.scan(texts), sources: texts.length, bytes: texts.reduce((n, t) => n + t.text.length, 0) };
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#recorders.map((recorder) => recorder.stop()));
    await this.#stores?.stop();
    await Promise.allSettled(this.#proxies.map((proxy) => proxy.close()));
    await this.raw.close();
    await this.e2e.stop();
  }
}

/** The condition's reason, or its absence, for messages. */
export function reasonOf(store: StoreJson | undefined, type: string): string {
  const found = condition(store, type);
  return found === undefined ? "(none)" : `${found.status}/${found.reason}`;
}

/** Checks what a rendered store that lost Keystone, Cinder or its Secret must say (rule 2, docs/foundations.md section 7). */
export function checkKeptLastGood(f: Findings, store: StoreJson, reasons: readonly string[] = OUTAGE_REASONS): void {
  const name = store.metadata.name;
  f.check(condition(store, "Ready")?.status === "False", `${name}: Ready is ${reasonOf(store, "Ready")}, expected False`);
  f.check(reasons.includes(condition(store, "Ready")?.reason ?? ""), `${name}: Ready reason is ${reasonOf(store, "Ready")}, expected one of ${reasons.join(", ")}`);
  f.check(store.status?.rendered === true, `${name}: status.rendered is ${store.status?.rendered}, expected true`);
  f.check(store.status?.addDelete === "Disabled", `${name}: addDelete is ${store.status?.addDelete}, expected Disabled`);
  f.check(condition(store, "Rendered")?.reason === "KeptLastGood", `${name}: Rendered is ${reasonOf(store, "Rendered")}, expected KeptLastGood`);
}

/**
 * What a scenario found wrong, gathered so that one run reports every
 * problem (a failed ava assertion ends the test at once): checks, steps that
 * threw, pair violations. `assert` fails the test with the whole list.
 */
export class Findings {
  readonly problems: string[] = [];
  readonly #t: ExecutionContext;
  readonly #started = Date.now();

  constructor(t: ExecutionContext) {
    this.#t = t;
  }

  log(message: string): void {
    this.#t.log(message);
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  check(ok: boolean, message: string): boolean {
    if (!ok) this.problems.push(message);
    return ok;
  }

  equal(actual: unknown, expected: unknown, what: string): boolean {
    const a = JSON.stringify(actual);
    const e = JSON.stringify(expected);
    return this.check(a === e, `${what}: got ${a.slice(0, 400)}, expected ${e.slice(0, 400)}`);
  }

  /** Runs a step; if it throws, the error is a finding and undefined is returned. */
  async step<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      this.problems.push(`${what}: ${firstLines((error as Error).message ?? String(error), 12)}`);
      return undefined;
    }
  }

  /** Fails the test with every finding; logs the scenario's duration. */
  assert(): void {
    this.#t.log(`scenario took ${seconds(this.#started)} s`);
    this.#t.deepEqual(this.problems, [], "what this scenario found wrong");
  }
}

function firstLines(text: string, lines: number): string {
  const all = text.split("\n");
  return all.length <= lines ? text : `${all.slice(0, lines).join("\n")}\n...`;
}

/** Stores that were Ready when the window began and are not Ready in some later version. */
export function readyLapses(reliability: Reliability, names: readonly string[], since: number): string[] {
  const lapses: string[] = [];
  for (const name of names) {
    for (const version of reliability.storeVersions(name, since)) {
      if (condition(version, "Ready")?.status !== "True") lapses.push(`${name} was ${reasonOf(version, "Ready")} (${condition(version, "Ready")?.message ?? ""})`);
    }
  }
  return lapses;
}

/** Seconds since `start`, one decimal. */
export function seconds(start: number): string {
  return ((Date.now() - start) / 1000).toFixed(1);
}

/**
 * The hooks every fault file ends with: the scan for passwords and tokens
 * over everything the file's operators and faults produced, then the stack
 * stopped. Called once at the top level of a test file.
 */
export function scanThenStopAfterAll(current: () => Reliability | undefined): void {
  test.after("no password or token in any ConfigMap, Event, status, log line, metrics page or audit event", async (t) => {
    const reliability = current();
    if (reliability === undefined) return t.fail("the stack did not start");
    const scan = await reliability.scanForSecrets();
    t.log(`scanned ${scan.sources} sources, ${(scan.bytes / 1024).toFixed(0)} KiB, for ${reliability.secrets.size} secrets and Keystone tokens`);
    t.deepEqual(scan.hits, []);
  });
  test.after.always(async () => {
    await current()?.stop();
  });
}
