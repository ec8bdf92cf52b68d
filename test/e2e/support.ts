/**
 * End-to-end scaffolding: the real stack, the CRD, a namespace with a
 * credentials Secret, and the operator as a child process, the way it runs
 * in a pod (its own process, talking to the apiserver over TLS).
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { allCrdsYaml } from "../../src/api/crd.js";
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../../src/api/glancestore.js";
import type { KubeCluster } from "../../src/devstack/kube.js";
import type { PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import type { ManagedProcess } from "../../src/devstack/processes.js";
import { startDevStack, type DevStack, type DevStackOptions } from "../../src/devstack/stack.js";
import type { GlanceApi, GlanceMainConfig, GlanceServer } from "../../src/devstack/glance.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { CREDENTIALS_CONF_FILE, STORES_CONF_FILE } from "../../src/render/render.js";

export const NAMESPACE = "openstack";
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface StoreJson {
  metadata: { name: string; uid: string; generation: number; finalizers?: string[]; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: {
    storeId?: string;
    volumeType?: string;
    volumeTypeId?: string;
    addDelete?: string;
    addDeleteEnabled?: boolean;
    rendered?: boolean;
    imageVolumes?: number;
    renderedVolumeTypes?: { name: string; id?: string }[];
    projectId?: string;
    credentialsRefusal?: { secretName: string; secretUID: string; secretResourceVersion: string; refusedAt: string; retryAt: string };
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

export class E2E {
  readonly kubeConfig: KubeConfig;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;

  private constructor(readonly stack: DevStack) {
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(this.kube.kubeconfigPath);
    this.#custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#core = this.kubeConfig.makeApiClient(CoreV1Api);
  }

  static async start(options: DevStackOptions = {}): Promise<E2E> {
    const stack = await startDevStack(options);
    try {
      const e2e = new E2E(stack);
      await e2e.kube.kubectl(["apply", "--server-side", "-f", "-"], { input: allCrdsYaml() });
      await waitFor(async () => ((await e2e.kube.kubectl(["get", "glancestores,glancestoretargets", "-A"], { allowFailure: true })).code === 0 ? true : undefined), {
        what: "the GlanceStore and GlanceStoreTarget CRDs to be served",
        timeoutMs: 30_000,
      });
      await e2e.kube.kubectl(["create", "namespace", NAMESPACE]);
      await e2e.putCredentialsSecret("glance-cinder", e2e.openstack.glanceCredentials);
      return e2e;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  get kube(): KubeCluster {
    if (!this.stack.kube) throw new Error("no Kubernetes in this stack");
    return this.stack.kube;
  }

  get openstack(): NonNullable<DevStack["openstack"]> {
    if (!this.stack.openstack) throw new Error("no OpenStack in this stack");
    return this.stack.openstack;
  }

  async putCredentialsSecret(name: string, credentials: PasswordCredentials): Promise<void> {
    await this.kube.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: NAMESPACE },
        stringData: {
          authUrl: credentials.authUrl,
          username: credentials.username,
          password: credentials.password,
          projectName: credentials.projectName,
        },
      }),
    });
  }

  /** Starts `glance-store-operator run` as a child process of the stack (stopped with it). */
  async startOperator(
    options: {
      name?: string;
      recheckPeriod?: string;
      leaderElect?: boolean;
      kubeconfig?: string;
      leaderElectionNamespace?: string;
      extraArgs?: string[];
      /** Added to the environment, e.g. POD_NAME, which prefixes the replica's identity in the Lease. */
      env?: Record<string, string>;
    } = {},
  ): Promise<OperatorProcess> {
    const metricsPort = await this.stack.ports.allocate();
    const healthPort = await this.stack.ports.allocate();
    const process_ = this.stack.supervisor.start({
      name: options.name ?? "operator",
      command: process.execPath,
      args: [
        CLI,
        "run",
        `--kubeconfig=${options.kubeconfig ?? this.kube.kubeconfigPath}`,
        `--recheck-period=${options.recheckPeriod ?? "5s"}`,
        `--metrics-address=127.0.0.1:${metricsPort}`,
        // Plain HTTP on loopback, so tests read /metrics without a token (test/chart/least-privilege.test.ts covers HTTPS).
        "--metrics-secure=false",
        `--health-address=127.0.0.1:${healthPort}`,
        `--leader-elect=${options.leaderElect ?? false}`,
        `--leader-election-namespace=${options.leaderElectionNamespace ?? "default"}`,
        "--lease-duration=6s",
        "--renew-deadline=4s",
        "--retry-period=1s",
        "--log-level=debug",
        ...(options.extraArgs ?? []),
      ],
      env: { ...process.env, GSO_LOG_LEVEL: "debug", ...options.env },
    });
    const operator = new OperatorProcess(process_, `http://127.0.0.1:${metricsPort}`, `http://127.0.0.1:${healthPort}`);
    await waitFor(async () => ((await fetch(`${operator.healthUrl}/healthz`)).ok ? true : undefined), {
      what: "the operator's /healthz",
      timeoutMs: 60_000,
      abortIf: () => (process_.exitInfo() ? `the operator exited: ${JSON.stringify(process_.exitInfo())}` : undefined),
    });
    return operator;
  }

  async apply(manifest: object): Promise<void> {
    await this.kube.kubectl(["apply", "-f", "-"], { input: JSON.stringify(manifest) });
  }

  store(name: string, spec: Record<string, unknown>): object {
    return {
      apiVersion: `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`,
      kind: "GlanceStore",
      metadata: { name, namespace: NAMESPACE },
      spec: { credentialsSecretRef: { name: "glance-cinder" }, ...spec },
    };
  }

  async getStore(name: string): Promise<StoreJson | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: GLANCE_STORE_GROUP,
        version: GLANCE_STORE_VERSION,
        plural: GLANCE_STORE_PLURAL,
        namespace: NAMESPACE,
        name,
      })) as StoreJson;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  /** Waits until the store satisfies `predicate`; the error shows its last status. */
  async waitForStore(name: string, what: string, predicate: (store: StoreJson) => boolean, timeoutMs = 60_000): Promise<StoreJson> {
    let last: StoreJson | undefined;
    try {
      return await waitFor(
        async () => {
          last = await this.getStore(name);
          return last !== undefined && predicate(last) ? last : undefined;
        },
        { what: `GlanceStore ${name}: ${what}`, timeoutMs, intervalMs: 250 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nlast seen: ${JSON.stringify(last?.status ?? last, null, 1)}`, { cause: error });
    }
  }

  async waitForGone(name: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => ((await this.getStore(name)) === undefined ? true : undefined), { what: `GlanceStore ${name} to be gone`, timeoutMs, intervalMs: 250 });
  }

  /** The target's two files as the kubelet would mount them into glance-api's config dir; undefined while either is missing. */
  async renderedFiles(target = "glance-api"): Promise<{ storesConf: string; credentialsConf: string } | undefined> {
    try {
      const configMap = await this.#core.readNamespacedConfigMap({ namespace: NAMESPACE, name: `${target}-stores` });
      const secret = await this.#core.readNamespacedSecret({ namespace: NAMESPACE, name: `${target}-stores-credentials` });
      const storesConf = configMap.data?.[STORES_CONF_FILE];
      const encoded = secret.data?.[CREDENTIALS_CONF_FILE];
      if (storesConf === undefined || encoded === undefined) return undefined;
      return { storesConf, credentialsConf: Buffer.from(encoded, "base64").toString("utf8") };
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  /** Every key of the target's ConfigMap and Secret as a file, as the kubelet mounts a projected volume of both. */
  async configDir(target = "glance-api"): Promise<string> {
    const configMap = await this.#core.readNamespacedConfigMap({ namespace: NAMESPACE, name: `${target}-stores` });
    const secret = await this.#core.readNamespacedSecret({ namespace: NAMESPACE, name: `${target}-stores-credentials` });
    if (configMap.data?.[STORES_CONF_FILE] === undefined || secret.data?.[CREDENTIALS_CONF_FILE] === undefined) throw new Error(`target ${target} has no rendered files`);
    const dir = await mkdtemp(join(this.stack.directory, "glance-conf-d-"));
    for (const [name, content] of Object.entries(configMap.data ?? {})) await writeFile(join(dir, name), content);
    for (const [name, encoded] of Object.entries(secret.data ?? {})) await writeFile(join(dir, name), Buffer.from(encoded, "base64"));
    return dir;
  }

  /**
   * A real glance-api started from the target's files mounted where the docs
   * say (GLANCE_CONF_DIR, no --config-dir), served the way `server` says;
   * `mainConfig` adds to the main glance-api.conf what a site keeps there
   * besides the operator's files (e.g. a `file` store's section).
   */
  async startGlance(target = "glance-api", server: GlanceServer = "eventlet", options: { mainConfig?: GlanceMainConfig } = {}): Promise<GlanceApi> {
    return this.openstack.startGlance({
      configDir: await this.configDir(target),
      mountPath: GLANCE_CONF_DIR,
      server,
      ...(options.mainConfig === undefined ? {} : { mainConfig: options.mainConfig }),
    });
  }

  async stop(): Promise<void> {
    await this.stack.stop();
  }
}

export class OperatorProcess {
  constructor(
    readonly process: ManagedProcess,
    readonly metricsUrl: string,
    readonly healthUrl: string,
  ) {}

  async metrics(): Promise<string> {
    return (await fetch(`${this.metricsUrl}/metrics`)).text();
  }

  async readyz(): Promise<{ status: number; body: string }> {
    const response = await fetch(`${this.healthUrl}/readyz`);
    return { status: response.status, body: await response.text() };
  }

  async logs(): Promise<string> {
    return this.process.logTail(100_000);
  }
}

export function condition(store: StoreJson | undefined, type: string): Condition | undefined {
  return store?.status?.conditions?.find((c) => c.type === type);
}

export function isReady(store: StoreJson): boolean {
  return condition(store, "Ready")?.status === "True" && store.status?.observedGeneration === store.metadata.generation;
}

let counter = 0;
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}
