import test from "ava";
import type { V1Deployment, V1Secret } from "@kubernetes/client-node";
import type { GlanceStoreObject } from "../../src/controller/observe.js";
import { targetsOfConfigMap, targetsOfSecret, targetsOfStoreChange, targetsOfWorkload } from "../../src/controller/triggers.js";

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

const secret = (name: string, data: Record<string, string>, labels?: Record<string, string>): V1Secret => ({ metadata: { name, namespace: "openstack", ...(labels ? { labels } : {}) }, data });

test("a credentials Secret queues the targets of the stores that use it, only when its data changes", (t) => {
  const stores = () => [store("fast"), store("slow", { target: "other" }), store("x", { secret: "unrelated" })];
  t.deepEqual(targetsOfSecret(secret("glance-cinder", { a: "MQ==" }), undefined, stores).sort(), ["openstack/glance-api", "openstack/other"]);
  t.deepEqual(targetsOfSecret(secret("glance-cinder", { a: "MQ==" }), secret("glance-cinder", { a: "MQ==" }), stores), []);
  t.deepEqual(targetsOfSecret(secret("glance-cinder", { a: "Mg==" }), secret("glance-cinder", { a: "MQ==" }), stores).sort(), ["openstack/glance-api", "openstack/other"]);
});

test("the operator's own Secret and ConfigMap queue their target on any change (a hand edit is put back)", (t) => {
  const labels = { "app.kubernetes.io/managed-by": "glance-store-operator", "glance.stores.dev/target": "glance-api" };
  t.deepEqual(targetsOfSecret(secret("glance-api-stores-credentials", { a: "MQ==" }, labels), secret("glance-api-stores-credentials", { a: "MQ==" }, labels), () => []), ["openstack/glance-api"]);
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
