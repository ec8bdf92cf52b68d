/**
 * The Kubernetes permissions the operator needs, next to the code that
 * uses them. The Helm chart's ClusterRole (charts/.../_helpers.tpl,
 * gso.managerRules) must grant exactly these; a test renders the chart and
 * compares, and the end-to-end tests run the operator with nothing more.
 */
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL } from "../api/glancestore.js";

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/** Namespaced rules, granted cluster-wide or per watched namespace. */
export const MANAGER_RULES: readonly PolicyRule[] = [
  // Informer, finalizers.
  { apiGroups: [GLANCE_STORE_GROUP], resources: [GLANCE_STORE_PLURAL], verbs: ["get", "list", "watch", "update", "patch"] },
  { apiGroups: [GLANCE_STORE_GROUP], resources: [`${GLANCE_STORE_PLURAL}/status`], verbs: ["get", "update", "patch"] },
  // Owner references to GlanceStores on the rendered objects.
  { apiGroups: [GLANCE_STORE_GROUP], resources: [`${GLANCE_STORE_PLURAL}/finalizers`], verbs: ["update"] },
  // Credentials Secrets (read), the rendered ConfigMap and Secret (write).
  { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  // Opted-in workloads get the rollout hash.
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["get", "list", "watch", "patch"] },
];

/** In the operator's own namespace. */
export const LEADER_ELECTION_RULES: readonly PolicyRule[] = [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }];
