import { randomBytes } from "node:crypto";
import type { V1ConfigMap, V1OwnerReference, V1Secret } from "@kubernetes/client-node";
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL, GLANCE_STORE_VERSION } from "../api/glancestore.js";
import { GLANCE_STORE_TARGET_PLURAL } from "../api/glancestoretarget.js";
import { JSON_PATCH, MERGE_PATCH, microTime, type KubeClient } from "../kube/client.js";
import { apiStatusOf } from "../kube/errors.js";
import { REPORTING_CONTROLLER } from "./naming.js";

/**
 * Every write the reconcile makes to Kubernetes, behind one small
 * interface so the reconcile can be read as a sequence of intents. The
 * implementation sends each to the apiserver with a deadline.
 */
export interface KubeWriter {
  /** Creates the object, or replaces it when `resourceVersion` is given (optimistic concurrency). Returns the stored object. */
  putConfigMap(object: V1ConfigMap, resourceVersion: string | undefined): Promise<V1ConfigMap>;
  putSecret(object: V1Secret, resourceVersion: string | undefined): Promise<V1Secret>;
  deleteConfigMap(namespace: string, name: string): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  /** JSON merge patch of a GlanceStore's status subresource. */
  patchStoreStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  /** JSON merge patch of a GlanceStoreTarget's status subresource. */
  patchTargetStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  /** Sets a GlanceStore's finalizers; fails with a conflict if the object changed since `resourceVersion`. */
  setStoreFinalizers(namespace: string, name: string, finalizers: readonly string[], resourceVersion: string | undefined): Promise<void>;
  /**
   * Removes one finalizer, with a precondition: a JSON patch that tests the
   * finalizer is still at `index` before removing it there, so a finalizer
   * another controller added meanwhile is never dropped (the apiserver
   * answers 422 when the test fails; the reconcile then runs again).
   */
  removeStoreFinalizer(namespace: string, name: string, finalizer: string, index: number): Promise<void>;
  /** Sets one annotation on the pod template of a Deployment or StatefulSet. */
  annotatePodTemplate(kind: "Deployment" | "StatefulSet", namespace: string, name: string, key: string, value: string): Promise<void>;
  emitEvent(event: StoreEvent): Promise<void>;
}

export interface StoreEvent {
  readonly namespace: string;
  readonly regarding: { readonly name: string; readonly uid: string };
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly note: string;
  readonly action: string;
}

/** The KubeWriter of a running operator: each call one request to the apiserver, with the client's deadline (30 s). */
export class ApiServerKubeWriter implements KubeWriter {
  readonly #kube: KubeClient;
  readonly #reportingInstance: string;
  readonly #now: () => Date;

  constructor(kube: KubeClient, options: { reportingInstance: string; now?: () => Date }) {
    this.#kube = kube;
    this.#reportingInstance = options.reportingInstance;
    this.#now = options.now ?? (() => new Date());
  }

  async putConfigMap(object: V1ConfigMap, resourceVersion: string | undefined): Promise<V1ConfigMap> {
    return this.#put("configmaps", object, resourceVersion);
  }

  async putSecret(object: V1Secret, resourceVersion: string | undefined): Promise<V1Secret> {
    return this.#put("secrets", object, resourceVersion);
  }

  async #put<T extends V1ConfigMap | V1Secret>(resource: "configmaps" | "secrets", object: T, resourceVersion: string | undefined): Promise<T> {
    const namespace = object.metadata?.namespace ?? "";
    const name = object.metadata?.name ?? "";
    const kind = resource === "configmaps" ? "ConfigMap" : "Secret";
    const body = { apiVersion: "v1", kind, ...object };
    if (resourceVersion === undefined) return this.#kube.request<T>({ method: "POST", path: `/api/v1/namespaces/${namespace}/${resource}`, body });
    return this.#kube.request<T>({
      method: "PUT",
      path: `/api/v1/namespaces/${namespace}/${resource}/${name}`,
      body: { ...body, metadata: { ...object.metadata, resourceVersion } },
    });
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.#kube.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}/configmaps/${name}`, answer: "none" }));
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await ignoreNotFound(this.#kube.request({ method: "DELETE", path: `/api/v1/namespaces/${namespace}/secrets/${name}`, answer: "none" }));
  }

  async patchStoreStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.#kube.request({ method: "PATCH", path: `${customObjectPath(GLANCE_STORE_PLURAL, namespace, name)}/status`, body: { status }, answer: "none", contentType: MERGE_PATCH });
  }

  async patchTargetStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.#kube.request({ method: "PATCH", path: `${customObjectPath(GLANCE_STORE_TARGET_PLURAL, namespace, name)}/status`, body: { status }, answer: "none", contentType: MERGE_PATCH });
  }

  async setStoreFinalizers(namespace: string, name: string, finalizers: readonly string[], resourceVersion: string | undefined): Promise<void> {
    await this.#kube.request({
      method: "PATCH",
      path: customObjectPath(GLANCE_STORE_PLURAL, namespace, name),
      body: { metadata: { finalizers: [...finalizers], ...(resourceVersion === undefined ? {} : { resourceVersion }) } },
      answer: "none", contentType: MERGE_PATCH,
    });
  }

  async removeStoreFinalizer(namespace: string, name: string, finalizer: string, index: number): Promise<void> {
    await this.#kube.request({
      method: "PATCH",
      path: customObjectPath(GLANCE_STORE_PLURAL, namespace, name),
      body: [
        { op: "test", path: `/metadata/finalizers/${index}`, value: finalizer },
        { op: "remove", path: `/metadata/finalizers/${index}` },
      ],
      answer: "none", contentType: JSON_PATCH,
    });
  }

  async annotatePodTemplate(kind: "Deployment" | "StatefulSet", namespace: string, name: string, key: string, value: string): Promise<void> {
    const resource = kind === "Deployment" ? "deployments" : "statefulsets";
    await this.#kube.request({
      method: "PATCH",
      path: `/apis/apps/v1/namespaces/${namespace}/${resource}/${name}`,
      body: { spec: { template: { metadata: { annotations: { [key]: value } } } } },
      answer: "none", contentType: MERGE_PATCH,
    });
  }

  async emitEvent(event: StoreEvent): Promise<void> {
    const now = this.#now();
    await this.#kube.request({
      method: "POST",
      path: `/apis/events.k8s.io/v1/namespaces/${event.namespace}/events`,
      answer: "none",
      body: {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        // As client-go's recorder names them: the object's name and the time in hex nanoseconds, plus a random tail.
        metadata: { name: `${event.regarding.name}.${(BigInt(now.getTime()) * 1_000_000n).toString(16)}${randomBytes(2).toString("hex")}`, namespace: event.namespace },
        eventTime: microTime(now.getTime()),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.#reportingInstance,
        action: event.action,
        reason: event.reason,
        // The apiserver refuses notes over 1 kB.
        note: event.note.length > 1000 ? `${event.note.slice(0, 997)}...` : event.note,
        type: event.type,
        regarding: { apiVersion: `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`, kind: "GlanceStore", namespace: event.namespace, name: event.regarding.name, uid: event.regarding.uid },
      },
    });
  }
}

function customObjectPath(plural: string, namespace: string, name: string): string {
  return `/apis/${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}/namespaces/${namespace}/${plural}/${name}`;
}

/** A write attempted by a replica that no longer leads: refused before it reaches the apiserver. */
export class NotLeadingError extends Error {
  override readonly name = "NotLeadingError";
}

/**
 * A KubeWriter that refuses every write once `fence` says this replica may
 * no longer write (it lost or gave up the leader Lease): in-flight
 * reconciles of a former leader then fail at their next write instead of
 * racing the new leader.
 */
export class FencedKubeWriter implements KubeWriter {
  readonly #inner: KubeWriter;
  readonly #fence: () => string | undefined;

  /** `fence` returns why writing is no longer allowed, or undefined while it is. */
  constructor(inner: KubeWriter, fence: () => string | undefined) {
    this.#inner = inner;
    this.#fence = fence;
  }

  #check(): void {
    const why = this.#fence();
    if (why !== undefined) throw new NotLeadingError(`write refused: ${why}`);
  }

  async putConfigMap(object: V1ConfigMap, resourceVersion: string | undefined): Promise<V1ConfigMap> {
    this.#check();
    return this.#inner.putConfigMap(object, resourceVersion);
  }

  async putSecret(object: V1Secret, resourceVersion: string | undefined): Promise<V1Secret> {
    this.#check();
    return this.#inner.putSecret(object, resourceVersion);
  }

  async deleteConfigMap(namespace: string, name: string): Promise<void> {
    this.#check();
    return this.#inner.deleteConfigMap(namespace, name);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.#check();
    return this.#inner.deleteSecret(namespace, name);
  }

  async patchStoreStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    this.#check();
    return this.#inner.patchStoreStatus(namespace, name, status);
  }

  async patchTargetStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    this.#check();
    return this.#inner.patchTargetStatus(namespace, name, status);
  }

  async setStoreFinalizers(namespace: string, name: string, finalizers: readonly string[], resourceVersion: string | undefined): Promise<void> {
    this.#check();
    return this.#inner.setStoreFinalizers(namespace, name, finalizers, resourceVersion);
  }

  async removeStoreFinalizer(namespace: string, name: string, finalizer: string, index: number): Promise<void> {
    this.#check();
    return this.#inner.removeStoreFinalizer(namespace, name, finalizer, index);
  }

  async annotatePodTemplate(kind: "Deployment" | "StatefulSet", namespace: string, name: string, key: string, value: string): Promise<void> {
    this.#check();
    return this.#inner.annotatePodTemplate(kind, namespace, name, key, value);
  }

  async emitEvent(event: StoreEvent): Promise<void> {
    this.#check();
    return this.#inner.emitEvent(event);
  }
}

async function ignoreNotFound(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (apiStatusOf(error) !== 404) throw error;
  }
}

/** Owner references of a target's files: every store of the target, none of them the controller. */
export function ownerReferencesOf(stores: readonly { name: string; uid: string }[]): V1OwnerReference[] {
  return [...stores]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((store) => ({
      apiVersion: `${GLANCE_STORE_GROUP}/${GLANCE_STORE_VERSION}`,
      kind: "GlanceStore",
      name: store.name,
      uid: store.uid,
      controller: false,
      blockOwnerDeletion: false,
    }));
}
