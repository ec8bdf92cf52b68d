/**
 * Names, labels and annotations the operator reads and writes: one place,
 * because the chart, the docs and the tests depend on them too.
 */
import { GLANCE_STORE_GROUP } from "../api/glancestore.js";

/** Holds a GlanceStore until Glance no longer runs it and no image volume is left (rule 4 in docs/foundations.md). */
export const FINALIZER = `${GLANCE_STORE_GROUP}/image-volumes`;

/** On a GlanceStore: "true" removes it from Glance even while image volumes remain. */
export const FORCE_DELETE_ANNOTATION = `${GLANCE_STORE_GROUP}/force-delete`;

/** On a GlanceStore: confirms a change of a rendered store's volume type; its value names the new type. */
export const CONFIRM_VOLUME_TYPE_ANNOTATION = `${GLANCE_STORE_GROUP}/confirm-volume-type`;

/** On the rendered ConfigMap and Secret: the target they belong to. */
export const TARGET_LABEL = `${GLANCE_STORE_GROUP}/target`;
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "glance-store-operator";
/** Selects the operator's own ConfigMaps and Secrets. */
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${TARGET_LABEL}`;
/**
 * Selects the Secrets the reconcile takes for its own (`owned` in
 * reconciler.ts): the managed-by label alone, so one that lost its target
 * label is still ours and gets it back, as before Secrets were watched
 * through a label selector.
 */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/** On a Deployment or StatefulSet: the target whose stores it runs; it then rolls when they change. */
export const WORKLOAD_TARGET_ANNOTATION = `${GLANCE_STORE_GROUP}/target`;
/** Written into an opted-in workload's pod template: changes exactly when the rendered files change. */
export const CONFIG_HASH_ANNOTATION = `${GLANCE_STORE_GROUP}/config-hash`;
/** On the rendered Secret: a random key for the config hash, so the hash reveals nothing about the passwords. */
export const HASH_KEY_ANNOTATION = `${GLANCE_STORE_GROUP}/hash-key`;

export const REPORTING_CONTROLLER = `${GLANCE_STORE_GROUP}/glance-store-operator`;

export function configMapName(target: string): string {
  return `${target}-stores`;
}

export function credentialsSecretName(target: string): string {
  return `${target}-stores-credentials`;
}

/** The work queue's key: one target of one namespace. */
export function targetKey(namespace: string, target: string): string {
  return `${namespace}/${target}`;
}

export function parseTargetKey(key: string): { namespace: string; target: string } {
  const slash = key.indexOf("/");
  if (slash <= 0 || slash === key.length - 1) throw new Error(`not a target key (namespace/target): ${JSON.stringify(key)}`);
  return { namespace: key.slice(0, slash), target: key.slice(slash + 1) };
}
