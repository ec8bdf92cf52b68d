import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { KubernetesObject, V1APIResourceList, V1ConfigMap, V1Deployment, V1Secret, V1StatefulSet } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { GLANCE_STORE_GROUP, GLANCE_STORE_KIND, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../api/glancestore.js";
import { GLANCE_STORE_TARGET_KIND, GLANCE_STORE_TARGET_PLURAL } from "../api/glancestoretarget.js";
import type { GlanceStoreTargetObject } from "./target-observe.js";
import { OpenStackClient, type StoreChecker } from "../openstack/index.js";
import { systemClock, type Clock } from "../runtime/clock.js";
import { informersLive, informersSynced, leadership, startHttpEndpoints, type HealthCheck, type RunningServer, type TlsOptions } from "../runtime/health-server.js";
import type { RequestAuthorizer } from "../runtime/metrics-auth.js";
import { DEFAULT_LEADER_ELECTION_TIMING, kubeLeaseApi, LeaderElector, type LeaderElectionTiming } from "../runtime/leader-election.js";
import { OperatorMetrics } from "../runtime/metrics.js";
import { runShutdown, type ShutdownReport } from "../runtime/shutdown.js";
import type { KubeClient } from "../kube/client.js";
import { CONFIG_MAPS, customResourceType, DEPLOYMENTS, SECRET_METADATA, SECRETS, STATEFUL_SETS, type PartialObjectMetadata } from "./informers/resources.js";
import { Informer } from "./informers/informer.js";
import { ApiServerKubeWriter, FencedKubeWriter, type KubeWriter } from "./kube-writer.js";
import { MANAGED_SELECTOR, OWNED_SELECTOR } from "./naming.js";
import { credentialsSecretNameOf, type GlanceStoreObject } from "./observe.js";
import { DEFAULT_GLANCE_STORE_VERSION, TargetReconciler } from "./reconciler.js";
import { SecretData, secretFetcher } from "./secret-data.js";
import { indexStores, indexWorkloads } from "./indexes.js";
import { targetsOfConfigMap, targetsOfOwnSecret, targetsOfSecret, targetsOfStoreChange, targetsOfTargetObject, targetsOfWorkload } from "./triggers.js";
import { WorkQueue } from "./workqueue.js";

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface OperatorOptions {
  /** The apiserver (src/kube/). */
  readonly kube: KubeClient;
  /** Namespaces to watch; empty: all. */
  readonly namespaces: readonly string[];
  /**
   * Patch the pod template of Deployments and StatefulSets annotated
   * glance.stores.dev/target with the config hash (--rollout-workloads).
   * When false the operator starts no informer on them and sends them no
   * request, so it needs no permission on workloads. Default false.
   */
  readonly rolloutWorkloads?: boolean;
  readonly recheckPeriodMs: number;
  /** How long credentials Keystone refused are held off (default 1 hour). */
  readonly authRefusalBackoffMs?: number;
  /** The glance_store release of the Glance deployments (default: the oldest supported). */
  readonly glanceStoreVersion?: string;
  readonly concurrency: number;
  readonly logger: Logger;
  readonly metricsAddress: Address | undefined;
  /**
   * HTTPS for /metrics, and who may read it (a TokenReview and a
   * SubjectAccessReview per scraper, as kubebuilder projects do). Without
   * it /metrics is plain HTTP for anyone who reaches the address: the CLI
   * allows that on a loopback address only.
   */
  readonly metricsSecurity?: { readonly tls: TlsOptions; readonly authorize: RequestAuthorizer };
  readonly healthAddress: Address | undefined;
  readonly leaderElection:
    | { readonly enabled: false }
    | { readonly enabled: true; readonly namespace: string; readonly name: string; readonly timing?: Partial<LeaderElectionTiming> };
  /** Identity in the Lease and in events; default: pod name (POD_NAME) or host name, plus a random suffix. */
  readonly identity?: string;
  readonly registry?: Registry;
  readonly checker?: StoreChecker;
  readonly writer?: KubeWriter;
  readonly clock?: Clock;
  /** Called once the HTTP endpoints listen (tests read the bound ports). */
  readonly onListening?: (servers: { metrics?: RunningServer; health?: RunningServer }) => void;
}

/**
 * The operator process: informers on every replica (so a standby's cache
 * is warm), the work queue and reconciles only on the Lease holder, HTTP
 * endpoints, and a graceful shutdown when `signal` aborts: stop informers,
 * drain the queue, release the Lease, close the servers.
 * Resolves with the shutdown report; rejects if it cannot start at all.
 */
export async function runOperator(options: OperatorOptions, signal: AbortSignal): Promise<ShutdownReport> {
  const { logger } = options;
  const { kube } = options;
  const clock = options.clock ?? systemClock;
  const registry = options.registry ?? new Registry();
  const metrics = new OperatorMetrics(registry, { processMetrics: options.registry === undefined });
  const identity = options.identity ?? `${process.env["POD_NAME"] ?? hostname()}_${randomBytes(4).toString("hex")}`;
  const checker =
    options.checker ??
    new OpenStackClient({
      logger: logger.child({ component: "openstack" }),
      observer: metrics.observeOpenStackRequest,
      ...(options.authRefusalBackoffMs === undefined ? {} : { authRefusalHoldMs: options.authRefusalBackoffMs }),
      // The targets of one re-check round share a credential set's type list (docs/controller.md).
      typeViewTtlMs: Math.floor(options.recheckPeriodMs / 2),
    });
  // Every write goes through the fence: once this replica stops leading, a reconcile still running writes nothing more.
  let fence: string | undefined = "not leading yet";
  const writer = new FencedKubeWriter(options.writer ?? new ApiServerKubeWriter(kube, { reportingInstance: identity }), () => fence);

  const common = { kube, logger, metrics, clock, namespaces: options.namespaces };
  const stores = new Informer<GlanceStoreObject>({
    ...common,
    type: customResourceType<GlanceStoreObject>({ group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_PLURAL, kind: GLANCE_STORE_KIND }),
  });
  const storeLookup = indexStores(stores);
  // Secrets: every one's metadata, and in full only the operator's own; a credentials Secret's data is read with a GET
  // when a reconcile needs it (SecretData). A namespace's other Secrets, Helm releases included, cost only their metadata.
  const secretMetadata = new Informer<PartialObjectMetadata>({ ...common, type: SECRET_METADATA });
  const ownSecrets = new Informer<V1Secret>({ ...common, type: SECRETS, labelSelector: MANAGED_SELECTOR });
  const secretData = new SecretData({
    metadata: secretMetadata,
    owned: ownSecrets,
    fetch: secretFetcher(kube),
    referenced: (namespace, name) => storeLookup.referencing(namespace, name).length > 0,
  });
  const configMaps = new Informer<V1ConfigMap>({ ...common, type: CONFIG_MAPS, labelSelector: OWNED_SELECTOR });
  // Workloads are watched only when they are rolled: without it the operator needs no permission on them.
  const workloads =
    options.rolloutWorkloads === true
      ? { deployments: new Informer<V1Deployment>({ ...common, type: DEPLOYMENTS }), statefulSets: new Informer<V1StatefulSet>({ ...common, type: STATEFUL_SETS }) }
      : undefined;
  // GlanceStoreTargets are optional, and so is their CRD: `helm upgrade` does not install a CRD new to the chart.
  const targetsServed = await servesResource(kube, GLANCE_STORE_GROUP, GLANCE_STORE_VERSION, GLANCE_STORE_TARGET_PLURAL, logger);
  const targets = targetsServed
    ? new Informer<GlanceStoreTargetObject>({
        ...common,
        type: customResourceType<GlanceStoreTargetObject>({ group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_TARGET_PLURAL, kind: GLANCE_STORE_TARGET_KIND }),
      })
    : undefined;
  const informers: Informer<KubernetesObject>[] = [stores, secretMetadata, ownSecrets, configMaps, ...(targets ? [targets] : []), ...(workloads ? [workloads.deployments, workloads.statefulSets] : [])] as Informer<KubernetesObject>[];

  const reconciler = new TargetReconciler({
    caches: {
      stores: storeLookup,
      secrets: secretData,
      configMaps,
      ...(targets ? { targets } : {}),
      ...(workloads ? { deployments: indexWorkloads(workloads.deployments), statefulSets: indexWorkloads(workloads.statefulSets) } : {}),
    },
    writer,
    checker,
    clock,
    logger: logger.child({ component: "reconciler" }),
    metrics,
    recheckPeriodMs: options.recheckPeriodMs,
    policy: { glanceStoreVersion: options.glanceStoreVersion ?? DEFAULT_GLANCE_STORE_VERSION },
  });

  // The queue exists only while this replica leads; events before that only warm the caches.
  let queue: WorkQueue | undefined;
  const enqueue = (keys: Iterable<string>): void => {
    if (queue === undefined) return;
    for (const key of keys) queue.add(key);
  };
  // The data of a Secret no store references any more is not kept.
  const unreferenced = (store: GlanceStoreObject): void => {
    const namespace = store.metadata?.namespace ?? "";
    const name = credentialsSecretNameOf(store);
    if (name !== undefined && storeLookup.referencing(namespace, name).length === 0) secretData.forget(namespace, name);
  };
  stores.addHandlers({
    add: (object) => enqueue(targetsOfStoreChange(undefined, object)),
    update: (old, object) => {
      unreferenced(old);
      enqueue(targetsOfStoreChange(old, object));
    },
    delete: (object) => {
      unreferenced(object);
      enqueue(targetsOfStoreChange(undefined, object));
    },
  });
  const onSecret = (object: PartialObjectMetadata, old?: PartialObjectMetadata): void => enqueue(targetsOfSecret(object, old, storeLookup.referencing));
  secretMetadata.addHandlers({
    add: (o) => onSecret(o),
    update: (old, o) => onSecret(o, old),
    delete: (o) => {
      secretData.forget(o.metadata.namespace ?? "", o.metadata.name ?? "");
      onSecret(o);
    },
  });
  const onOwnSecret = (object: V1Secret): void => enqueue(targetsOfOwnSecret(object));
  ownSecrets.addHandlers({ add: onOwnSecret, update: (_old, o) => onOwnSecret(o), delete: onOwnSecret });
  targets?.addHandlers({
    add: (object) => enqueue(targetsOfTargetObject(undefined, object)),
    update: (old, object) => enqueue(targetsOfTargetObject(old, object)),
    delete: (object) => enqueue(targetsOfTargetObject(undefined, object)),
  });
  const onConfigMap = (object: V1ConfigMap): void => enqueue(targetsOfConfigMap(object));
  configMaps.addHandlers({ add: onConfigMap, update: (_old, o) => onConfigMap(o), delete: onConfigMap });
  for (const informer of (workloads ? [workloads.deployments, workloads.statefulSets] : []) as Informer<V1Deployment | V1StatefulSet>[]) {
    informer.addHandlers({
      add: (o) => enqueue(targetsOfWorkload(undefined, o)),
      update: (old, o) => enqueue(targetsOfWorkload(old, o)),
    });
  }

  const servers: { metrics?: RunningServer; health?: RunningServer } = {};
  let elector: LeaderElector | undefined;
  // Ends the election (the elector then releases the Lease) or, without election, the leading itself.
  const leadership = new AbortController();

  const lead = async (leaderSignal: AbortSignal, lost: AbortSignal): Promise<void> => {
    logger.info({ identity }, "leading: starting reconciles");
    if (leaderSignal.aborted || lost.aborted) return;
    // Lost the Lease: another replica may lead already, so not one more write. On a shutdown the Lease is still
    // held (and renewed) while in-flight reconciles drain; the fence goes up once they are done, before the release.
    const stopWriting = (): void => {
      fence = `${identity} lost the leader Lease (${describeReason(lost.reason)})`;
    };
    fence = undefined;
    lost.addEventListener("abort", stopWriting, { once: true });
    const workQueue = new WorkQueue({
      handler: (key, context) => reconciler.reconcile(key, context.signal),
      concurrency: options.concurrency,
      clock,
      metrics,
      logger: logger.child({ component: "workqueue" }),
    });
    queue = workQueue;
    // Level-triggered: every target the cache knows is reconciled once on taking over.
    const all = new Set<string>();
    for (const key of storeLookup.targetKeys()) all.add(key);
    for (const object of targets?.list() ?? []) for (const key of targetsOfTargetObject(undefined, object)) all.add(key);
    enqueue(all);
    await new Promise<void>((resolve) => {
      if (leaderSignal.aborted) resolve();
      else leaderSignal.addEventListener("abort", () => resolve(), { once: true });
    });
    queue = undefined;
    // The fence is up already: what still runs can finish reading, not writing. The Lease is released only after this returns.
    // 12 s to finish, 5 more once aborted: within the 19 s of its shutdown step, so OpenStack connections close after.
    const drained = await workQueue.shutDown({ deadlineMs: 12_000, abortGraceMs: 5_000 });
    fence ??= `${identity} stopped leading`;
    logger.info({ drained: drained.drained, abandoned: drained.abandoned }, "stopped reconciling");
  };

  let leaderRun: Promise<void> = Promise.resolve();
  const stopLeading = async (): Promise<void> => {
    leadership.abort(new Error("shutting down"));
    await leaderRun;
  };
  const shutDown = (): Promise<ShutdownReport> =>
    runShutdown(
      [
        { name: "stop informers", run: () => Promise.all(informers.map((informer) => informer.stop())), timeoutMs: 5_000 },
        // The elector releases the Lease once its run ends, after the queue drained.
        { name: "drain work queue and release the Lease", run: () => stopLeading(), timeoutMs: 19_000 },
        { name: "close OpenStack connections", run: () => checker.close(), timeoutMs: 2_000 },
        { name: "close servers", run: () => Promise.all([servers.metrics?.close(1_000), servers.health?.close(1_000)]), timeoutMs: 3_000 },
      ],
      { logger, clock },
    );

  try {
    for (const informer of informers) informer.start();
    const checks = healthChecks(informers, () => elector);
    if (options.metricsAddress) servers.metrics = await startHttpEndpoints({ ...options.metricsAddress, registry, logger, ...options.metricsSecurity });
    if (options.healthAddress) servers.health = await startHttpEndpoints({ ...options.healthAddress, liveness: checks.liveness, readiness: checks.readiness, logger });
    options.onListening?.(servers);
    await Promise.all(informers.map((informer) => informer.waitForSync(signal)));
  } catch (error) {
    const report = await shutDown();
    if (signal.aborted) return report;
    throw error;
  }
  logger.info({ namespaces: options.namespaces.length === 0 ? "all" : options.namespaces, rolloutWorkloads: workloads !== undefined, identity }, "caches synced");

  if (options.leaderElection.enabled) {
    elector = new LeaderElector({
      api: kubeLeaseApi(kube),
      namespace: options.leaderElection.namespace,
      name: options.leaderElection.name,
      identity,
      timing: { ...DEFAULT_LEADER_ELECTION_TIMING, ...options.leaderElection.timing },
      logger: logger.child({ component: "leader-election" }),
      clock,
      metrics,
      onStartedLeading: (leaderSignal, lost) => lead(leaderSignal, lost),
      onNewLeader: (leader) => logger.info({ leader }, "leader observed"),
    });
    leaderRun = elector.run(leadership.signal);
  } else {
    metrics.setLeader(true);
    leaderRun = lead(leadership.signal, new AbortController().signal);
  }

  const stopRequested = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  const leadershipEnded = leaderRun.then(
    () => "ended" as const,
    (error: unknown) => {
      logger.error({ err: error }, "leader election failed");
      return "ended" as const;
    },
  );
  const why = await Promise.race([stopRequested.then(() => "stop" as const), leadershipEnded]);
  const report = await shutDown();
  if (why === "ended" && !signal.aborted) {
    // As controller-runtime does: a replica that lost the Lease exits and restarts as a standby.
    throw new Error("lost the leader election Lease; exiting so that this replica restarts as a standby");
  }
  return report;
}

/**
 * Whether the apiserver serves a resource (its CRD is installed), asked
 * once at start: an operator upgraded before its new CRD is applied runs
 * without that kind and says so, instead of never becoming ready.
 */
async function servesResource(kube: KubeClient, group: string, version: string, plural: string, logger: Logger): Promise<boolean> {
  try {
    const list = await kube.request<V1APIResourceList>({ method: "GET", path: `/apis/${group}/${version}` });
    if (list.resources.some((resource) => resource.name === plural)) return true;
  } catch (error) {
    logger.debug({ err: error }, "API discovery failed");
  }
  logger.warn({ resource: `${plural}.${group}` }, `the apiserver does not serve ${plural}.${group}: apply the operator's CRDs (kubectl apply -f crds/) and restart it to use them; until then every target works without one`);
  return false;
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? "leadership ended");
}

function healthChecks(informers: readonly Informer<KubernetesObject>[], elector: () => LeaderElector | undefined): { liveness: HealthCheck[]; readiness: HealthCheck[] } {
  const leaderCheck: HealthCheck = {
    name: "leader-election",
    check: () => {
      const current = elector();
      return current === undefined ? { ok: true, detail: "leader election off or not started" } : leadership(current).check();
    },
  };
  return { liveness: [informersLive(informers)], readiness: [informersSynced(informers), leaderCheck] };
}
