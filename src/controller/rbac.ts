/**
 * The Kubernetes permissions the operator needs, next to the code that
 * uses them, each with the call that needs it. The Helm chart
 * (charts/.../_helpers.tpl) must grant exactly these; a test renders the
 * chart and compares, and another runs the operator under the chart's RBAC
 * and checks, in the apiserver's audit log, that it used every grant and
 * was refused nothing. docs/security.md explains each rule.
 */
import { GLANCE_STORE_GROUP, GLANCE_STORE_PLURAL } from "../api/glancestore.js";
import { GLANCE_STORE_TARGET_PLURAL } from "../api/glancestoretarget.js";

export interface PolicyRule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * Namespaced rules, granted per watched namespace (a Role each) or, for a
 * cluster-wide install, by a ClusterRole. `get` only on Secrets: every
 * other read goes through an informer (list and watch). No `update` on GlanceStores: finalizers are
 * patched. No `glancestores/finalizers`: the rendered objects' owner
 * references have blockOwnerDeletion false (ownerReferencesOf), which
 * OwnerReferencesPermissionEnforcement allows without it.
 */
export const MANAGER_RULES: readonly PolicyRule[] = [
  // Informer (list, watch); the finalizer added (merge patch) and released (JSON patch) on the main resource.
  { apiGroups: [GLANCE_STORE_GROUP], resources: [GLANCE_STORE_PLURAL], verbs: ["list", "watch", "patch"] },
  // The status, as a merge patch of the status subresource.
  { apiGroups: [GLANCE_STORE_GROUP], resources: [`${GLANCE_STORE_PLURAL}/status`], verbs: ["patch"] },
  // GlanceStoreTargets are only read (informer) and their status merge-patched: no write can touch their spec.
  { apiGroups: [GLANCE_STORE_GROUP], resources: [GLANCE_STORE_TARGET_PLURAL], verbs: ["list", "watch"] },
  { apiGroups: [GLANCE_STORE_GROUP], resources: [`${GLANCE_STORE_TARGET_PLURAL}/status`], verbs: ["patch"] },
  // Secrets: informers on every Secret's metadata and on the rendered Secrets in full (label selector), and `get` of
  // a credentials Secret a store references when a reconcile needs its data: so the operator keeps the data of only
  // those, not of every Secret of the namespace (Helm releases, tokens, certificates). Writes: create, then replace
  // (PUT, the `update` verb, with the resourceVersion read) and delete of the rendered Secret. `delete` is also what
  // OwnerReferencesPermissionEnforcement asks of a writer that sets owner references.
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "delete"] },
  // ConfigMaps: the informer on the rendered ones (label selector), and the same writes as for the rendered Secret.
  { apiGroups: [""], resources: ["configmaps"], verbs: ["list", "watch", "create", "update", "delete"] },
  // Events on transitions of Ready and Rendered; each one is created, never patched.
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"] },
];

/**
 * Only with --rollout-workloads=true (chart: rollout.enabled): informers on
 * Deployments and StatefulSets, and a merge patch of the pod template of
 * those annotated glance.stores.dev/target. RBAC cannot tell an annotated
 * workload from another; the chart's admission policy can.
 */
export const ROLLOUT_RULES: readonly PolicyRule[] = [{ apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["list", "watch", "patch"] }];

/**
 * Cluster-scoped, only with --metrics-secure=true: each scrape's bearer
 * token is checked with a TokenReview, and whether its user may `get`
 * /metrics with a SubjectAccessReview (as kubebuilder projects do).
 */
export const METRICS_AUTH_RULES: readonly PolicyRule[] = [
  { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
  { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
];

/** For Prometheus, not for the operator: bind it to the scraper's ServiceAccount. */
export const METRICS_READER_RULES: readonly PolicyRule[] = [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }];

/** The Lease's default name (--leader-election-id). */
export const DEFAULT_LEADER_ELECTION_ID = "glance-store-operator";

/**
 * In the Lease's namespace. `create` cannot be limited to a name (the
 * name is in the body, not the URL); reading and renewing can.
 */
export function leaderElectionRules(leaseName: string): readonly PolicyRule[] {
  return [
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [leaseName], verbs: ["get", "update"] },
  ];
}
