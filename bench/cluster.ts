/**
 * The benchmark's world: one local stack (kube-apiserver + etcd, Keystone
 * and Cinder), the CRDs, five Keystone users (the credential sets), ten
 * volume types, and helpers to fill namespaces with GlanceStores and their
 * credentials Secrets quickly, with the client library.
 */
import { randomBytes } from "node:crypto";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { allCrdsYaml } from "../src/api/crd.js";
import { GLANCE_STORE_API_VERSION, GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../src/api/glancestore.js";
import type { KubeCluster } from "../src/devstack/kube.js";
import type { PasswordCredentials } from "../src/devstack/openstack-admin.js";
import type { OpenStackServices } from "../src/devstack/openstack.js";
import { startDevStack, type DevStack } from "../src/devstack/stack.js";
import { waitFor } from "../src/devstack/wait.js";
import { pool } from "./measure.js";

/** The shape: stores spread over 20 targets and 5 credential sets. */
export const TARGETS = 20;
export const CREDENTIAL_SETS = 5;
export const VOLUME_TYPES = 10;
/** Requests the bench itself keeps in flight while it fills a namespace (not measured). */
export const CREATE_CONCURRENCY = 16;

export interface StorePlan {
  readonly name: string;
  readonly target: string;
  readonly secret: string;
  readonly volumeType: string;
  readonly default: boolean;
}

export interface Layout {
  readonly stores: readonly StorePlan[];
  readonly targets: readonly string[];
  readonly credentialSets: number;
}

/**
 * `count` stores over min(count, 20) targets; target t uses credential set
 * t mod 5 (glance_store runs one credential set per glance-api, so a
 * target's stores share one), store i goes to target i mod T and uses
 * volume type i mod 10; each target's first store is its default.
 * Names are fixed-width, so no store id is a prefix of another.
 */
export function layout(count: number, volumeTypes: readonly string[]): Layout {
  const targetCount = Math.min(TARGETS, count);
  const sets = Math.min(CREDENTIAL_SETS, targetCount);
  const targets = Array.from({ length: targetCount }, (_, t) => `t${String(t).padStart(2, "0")}`);
  const stores: StorePlan[] = [];
  for (let i = 0; i < count; i++) {
    const t = i % targetCount;
    stores.push({
      name: `s${String(t).padStart(2, "0")}-${String(i).padStart(5, "0")}`,
      target: targets[t] as string,
      secret: credentialsSecretName(t % sets),
      volumeType: volumeTypes[i % volumeTypes.length] as string,
      default: i < targetCount,
    });
  }
  return { stores, targets, credentialSets: sets };
}

export function credentialsSecretName(set: number): string {
  return `bench-cinder-${set}`;
}

export function storeManifest(namespace: string, store: StorePlan, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: GLANCE_STORE_API_VERSION,
    kind: "GlanceStore",
    metadata: { name: store.name, namespace },
    spec: { target: store.target, volumeType: store.volumeType, default: store.default, credentialsSecretRef: { name: store.secret }, ...extra },
  };
}

export class BenchCluster {
  readonly kubeConfig = new KubeConfig();
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly custom: CustomObjectsApi;

  private constructor(
    readonly stack: DevStack,
    readonly credentialSets: readonly PasswordCredentials[],
    readonly volumeTypes: readonly string[],
  ) {
    this.kubeConfig.loadFromFile(this.kube.kubeconfigPath);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = this.kubeConfig.makeApiClient(AppsV1Api);
    this.custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  static async start(log: (line: string) => void): Promise<BenchCluster> {
    const stack = await startDevStack({ log });
    try {
      const kube = stack.kube as KubeCluster;
      const openstack = stack.openstack as OpenStackServices;
      await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: allCrdsYaml() });
      await waitFor(async () => ((await kube.kubectl(["get", "glancestores,glancestoretargets", "-A"], { allowFailure: true })).code === 0 ? true : undefined), {
        what: "the GlanceStore and GlanceStoreTarget CRDs to be served",
        timeoutMs: 30_000,
      });
      // Five users with the role glance has in `service`: five credential sets, five tokens.
      const sets: PasswordCredentials[] = [];
      for (let i = 0; i < CREDENTIAL_SETS; i++) {
        const username = `bench-glance-${i}`;
        const password = `pw-${randomBytes(12).toString("base64url")}`;
        const userId = await openstack.admin.createUser({ name: username, password, defaultProjectId: openstack.serviceProjectId });
        await openstack.admin.grantProjectRole(openstack.serviceProjectId, userId, "admin");
        sets.push({ ...openstack.glanceCredentials, username, password });
      }
      const types: string[] = [];
      for (let i = 0; i < VOLUME_TYPES; i++) types.push((await openstack.admin.createVolumeType(`bench-type-${i}`)).name);
      return new BenchCluster(stack, sets, types);
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  get kube(): KubeCluster {
    return this.stack.kube as KubeCluster;
  }

  get openstack(): OpenStackServices {
    return this.stack.openstack as OpenStackServices;
  }

  /** A namespace with the five credentials Secrets. */
  async namespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } });
    for (const [i, credentials] of this.credentialSets.entries()) {
      await this.core.createNamespacedSecret({
        namespace: name,
        body: {
          metadata: { name: credentialsSecretName(i), namespace: name },
          stringData: { authUrl: credentials.authUrl, username: credentials.username, password: credentials.password, projectName: credentials.projectName },
        },
      });
    }
  }

  /** Creates the stores (not measured), CREATE_CONCURRENCY at once. */
  async createStores(namespace: string, stores: readonly StorePlan[]): Promise<void> {
    await pool(stores, CREATE_CONCURRENCY, async (store) => {
      await this.custom.createNamespacedCustomObject({ group: GLANCE_STORE_GROUP, version: GLANCE_STORE_VERSION, plural: GLANCE_STORE_PLURAL, namespace, body: storeManifest(namespace, store) });
    });
  }

  async stop(): Promise<void> {
    await this.stack.stop();
  }
}
