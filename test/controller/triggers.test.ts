import test from "ava";
import type { V1Deployment, V1Secret } from "@kubernetes/client-node";
import type { GlanceStoreObject } from "../../src/controller/observe.js";
import { targetsOfConfigMap, targetsOfOwnSecret, targetsOfSecret, targetsOfStoreChange, targetsOfWorkload } from "../../src/controller/triggers.js";

function store(name: string, changes: { generation?: number; target?: string; secret?: string; status?: unknown; deleting?: boolean; annotations?: Record<string, string> } = {}): GlanceStoreObject {
  return {
    apiVersion: "glance.stores.dev/v1alpha1",
    kind: "GlanceStore",
    metadata: {
      name,
      namespace: "openstack",
      uid: `uid-${name}`,
      generation: changes.generation ?? 1,
      ...(changes.annotations ? { annotations: changes.annotations } : {}),
      ...(changes.deleting ? { deletionTimestamp: new Date("2026-01-01T00:00:00Z") } : {}),
    },
    spec: { credentialsSecretRef: { name: changes.secret ?? "glance-cinder" }, ...(changes.target ? { target: changes.target } : {}) },
    ...(changes.status ? { status: changes.status } : {}),
  };
}

test("a new store queues its target (glance-api by default)", (t) => {
  t.deepEqual(targetsOfStoreChange(undefined, store("fast")), ["openstack/glance-api"]);
  t.deepEqual(targetsOfStoreChange(undefined, store("fast", { target: "glance-internal" })), ["openstack/glance-internal"]);
});

test("a status-only update (the operator's own write) queues nothing", (t) => {
  t.deepEqual(targetsOfStoreChange(store("fast"), store("fast", { status: { rendered: true } })), []);
});

test("a spec change, a deletion or an annotation queues the target", (t) => {
  t.deepEqual(targetsOfStoreChange(store("fast"), store("fast", { generation: 2 })), ["openstack/glance-api"]);
  t.deepEqual(targetsOfStoreChange(store("fast"), store("fast", { deleting: true })), ["openstack/glance-api"]);
  t.deepEqual(targetsOfStoreChange(store("fast"), store("fast", { annotations: { "glance.stores.dev/force-delete": "true" } })), ["openstack/glance-api"]);
});

const secret = (name: string, resourceVersion: string, labels?: Record<string, string>): V1Secret => ({ metadata: { name, namespace: "openstack", resourceVersion, ...(labels ? { labels } : {}) } });

test("a credentials Secret queues the targets of the stores that use it, only when its resourceVersion changes", (t) => {
  const all = [store("fast"), store("slow", { target: "other" }), store("x", { secret: "unrelated" }), store("y", { target: "other" })];
  const referencing = (namespace: string, name: string) => all.filter((s) => s.metadata?.namespace === namespace && (s.spec as { credentialsSecretRef: { name: string } }).credentialsSecretRef.name === name);
  t.deepEqual(targetsOfSecret(secret("glance-cinder", "1"), undefined, referencing).sort(), ["openstack/glance-api", "openstack/other"]);
  t.deepEqual(targetsOfSecret(secret("glance-cinder", "1"), secret("glance-cinder", "1"), referencing), []);
  t.deepEqual(targetsOfSecret(secret("glance-cinder", "2"), secret("glance-cinder", "1"), referencing).sort(), ["openstack/glance-api", "openstack/other"]);
  t.deepEqual(targetsOfSecret(secret("helm-release", "2"), secret("helm-release", "1"), referencing), []);
});

test("the operator's own Secret and ConfigMap queue their target on any change (a hand edit is put back)", (t) => {
  const labels = { "app.kubernetes.io/managed-by": "glance-store-operator", "glance.stores.dev/target": "glance-api" };
  t.deepEqual(targetsOfOwnSecret(secret("glance-api-stores-credentials", "1", labels)), ["openstack/glance-api"]);
  t.deepEqual(targetsOfOwnSecret(secret("glance-api-stores-credentials", "1")), []);
  t.deepEqual(targetsOfConfigMap({ metadata: { name: "glance-api-stores", namespace: "openstack", labels } }), ["openstack/glance-api"]);
});

const workload = (annotations: Record<string, string>, hash?: string, replicas = 1): V1Deployment => ({
  metadata: { name: "glance-api", namespace: "openstack", annotations },
  spec: { replicas, selector: {}, template: { metadata: hash ? { annotations: { "glance.stores.dev/config-hash": hash } } : {} } },
});

test("a workload that opts in queues its target; a replica change does not", (t) => {
  const opted = { "glance.stores.dev/target": "glance-api" };
  t.deepEqual(targetsOfWorkload(undefined, workload(opted)), ["openstack/glance-api"]);
  t.deepEqual(targetsOfWorkload(workload(opted, "h"), workload(opted, "h", 3)), []);
  t.deepEqual(targetsOfWorkload(workload(opted, "h"), workload(opted, "other")), ["openstack/glance-api"]);
  t.deepEqual(targetsOfWorkload(undefined, workload({})), []);
  // Its rollout's progress does: a GlanceStoreTarget reports whether every replica runs the configuration.
  const progressed = { ...workload(opted, "h"), status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 } };
  t.deepEqual(targetsOfWorkload(workload(opted, "h"), progressed), ["openstack/glance-api"]);
  t.deepEqual(targetsOfWorkload(progressed, { ...progressed, metadata: { ...progressed.metadata, resourceVersion: "9" } }), []);
});
