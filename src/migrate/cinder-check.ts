import { credentialsKey, type ResolvedCredentials } from "../api/credentials.js";
import type { CinderTarget, OpenStackClient, RoundOptions, StoreCheckRequest, StoreCheckResult } from "../openstack/client.js";
import type { OpenStackError } from "../openstack/errors.js";
import { isImageVolumeName } from "../openstack/volumes.js";
import type { CinderVolume } from "../openstack/cinder.js";

/**
 * What `migrate --check-cinder` asks Cinder, with the credentials of the
 * file: the default volume type of the project Glance uses (GET
 * /types/default, which honours a per-project default), whether the types
 * the stores name exist, and the project's image volumes (`image-<uuid>`)
 * per volume type.
 *
 * The result types are those of OpenStackClient.defaultVolumeType and
 * imageVolumesByType (branch osclient). Until that branch is merged,
 * `cinderFacts` builds them from the client's public calls (checkStores,
 * listVolumes); once it is, `cinderFacts(client)` can return the client
 * itself.
 */

export type DefaultVolumeTypeResult =
  | { readonly ok: true; readonly volumeType: { readonly id: string; readonly name: string }; readonly projectId: string }
  | { readonly ok: false; readonly error: OpenStackError };

export interface ImageVolumesByTypeRequest extends CinderTarget {
  readonly key: string;
}

/** How many image volumes one volume type holds. */
export interface ImageVolumeTypeCount {
  /** The type's name as Cinder lists it on the volume; undefined for a volume without a type. */
  readonly volumeType: string | undefined;
  readonly count: number;
}

export type ImageVolumesByTypeResult =
  | { readonly ok: true; readonly projectId: string; readonly byType: readonly ImageVolumeTypeCount[] }
  | { readonly ok: false; readonly error: OpenStackError };

export interface CinderFacts {
  checkStores(requests: readonly StoreCheckRequest[], options?: RoundOptions): Promise<Map<string, StoreCheckResult>>;
  defaultVolumeType(target: CinderTarget, options?: RoundOptions): Promise<DefaultVolumeTypeResult>;
  imageVolumesByType(requests: readonly ImageVolumesByTypeRequest[], options?: RoundOptions): Promise<Map<string, ImageVolumesByTypeResult>>;
  close(): Promise<void>;
}

/** The calls --check-cinder makes, on the operator's client. */
export function cinderFacts(client: OpenStackClient): CinderFacts {
  return {
    checkStores: (requests, options) => client.checkStores(requests, options),
    defaultVolumeType: async (target, options) => {
      // checkStores resolves a store that names no type to Cinder's default for its project.
      const result = (await client.checkStores([{ ...target, key: "default", volumeType: undefined }], options)).get("default");
      if (result === undefined) throw new Error("programming error: checkStores gave no result");
      return result.ok ? { ok: true, volumeType: { id: result.volumeType.id, name: result.volumeType.name }, projectId: result.projectId } : { ok: false, error: result.error };
    },
    imageVolumesByType: async (requests, options) => {
      const results = new Map<string, ImageVolumesByTypeResult>();
      for (const request of requests) {
        try {
          const [volumes, identity] = await Promise.all([client.listVolumes(request, options), client.verifyCredentials(request, options)]);
          results.set(request.key, { ok: true, projectId: identity.projectId, byType: countImageVolumesByType(volumes) });
        } catch (error) {
          results.set(request.key, { ok: false, error: error as OpenStackError });
        }
      }
      return results;
    },
    close: () => client.close(),
  };
}

/** The image volumes (`image-<uuid>`, any status) of a listing per volume type name, sorted by name, volumes without a type last. */
export function countImageVolumesByType(volumes: readonly CinderVolume[]): ImageVolumeTypeCount[] {
  const counts = new Map<string | undefined, number>();
  for (const volume of volumes) {
    if (!isImageVolumeName(volume.name)) continue;
    const type = volume.volume_type ?? undefined;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort(([a], [b]) => (a === b ? 0 : a === undefined ? 1 : b === undefined ? -1 : a < b ? -1 : 1))
    .map(([volumeType, count]) => ({ volumeType, count }));
}

/** One cinder store as the check sees it: how to reach Cinder, and the type it names. */
export interface StoreToCheck {
  /** Its position among the file's cinder stores. */
  readonly position: number;
  /** For messages: `store "fast"`, `the legacy cinder store`. */
  readonly label: string;
  readonly target: CinderTarget;
  readonly volumeType: string | undefined;
  /** For messages: where its credentials come from (`[glance_store]`), the Secret holding them, and their project name. */
  readonly section: string;
  readonly secretName: string;
  readonly projectName: string | undefined;
}

export interface ProjectImageVolumes {
  readonly secretName: string;
  readonly projectName: string | undefined;
  readonly projectId: string;
  readonly byType: readonly ImageVolumeTypeCount[];
}

export type CinderCheckOutcome =
  | {
      readonly ok: true;
      /** Cinder's default type, by store position, for stores that name none. */
      readonly pinned: ReadonlyMap<number, { readonly volumeType: string; readonly projectId: string }>;
      /** Stores whose named type Cinder does not offer them (the operator would not render them): why, by store position. */
      readonly typeProblems: ReadonlyMap<number, string>;
      /** One entry per credential set: the image volumes of its project. */
      readonly imageVolumes: readonly ProjectImageVolumes[];
    }
  | { readonly ok: false; readonly message: string };

/** Asks Cinder what --check-cinder needs to know. A failure to authenticate or to reach Cinder ends the check. */
export async function checkCinder(stores: readonly StoreToCheck[], facts: CinderFacts, options: RoundOptions = {}): Promise<CinderCheckOutcome> {
  const pinned = new Map<number, { volumeType: string; projectId: string }>();
  const typeProblems = new Map<number, string>();
  for (const store of stores.filter((s) => s.volumeType === undefined)) {
    const result = await facts.defaultVolumeType(store.target, options);
    if (!result.ok) return { ok: false, message: `cannot ask Cinder for the default volume type of ${store.label} (with the cinder_store_* options of [${store.section}], Secret ${store.secretName}): ${result.error.message}` };
    pinned.set(store.position, { volumeType: result.volumeType.name, projectId: result.projectId });
  }
  const named = stores.filter((s) => s.volumeType !== undefined);
  if (named.length > 0) {
    const results = await facts.checkStores(
      named.map((store) => ({ ...store.target, key: String(store.position), volumeType: store.volumeType })),
      options,
    );
    for (const store of named) {
      const result = results.get(String(store.position));
      if (result === undefined || result.ok) continue;
      if (!result.authenticated || (result.error.reason !== "VolumeTypeNotFound" && result.error.reason !== "VolumeTypeNotAccessible")) {
        return { ok: false, message: `cannot check ${store.label} against Cinder (with the cinder_store_* options of [${store.section}], Secret ${store.secretName}): ${result.error.message}` };
      }
      typeProblems.set(store.position, result.error.message);
    }
  }
  // One listing per credential set: glance_store keeps image volumes in the project of the credentials it uses.
  const sets = new Map<string, StoreToCheck>();
  for (const store of stores) {
    const key = credentialsKey(store.target.credentials);
    if (!sets.has(key)) sets.set(key, store);
  }
  const requests = [...sets.entries()].map(([key, store]) => ({ ...store.target, key }));
  const listed = await facts.imageVolumesByType(requests, options);
  const imageVolumes: ProjectImageVolumes[] = [];
  for (const [key, store] of sets) {
    const result = listed.get(key);
    if (result === undefined) return { ok: false, message: "programming error: no image volume listing for a credential set" };
    if (!result.ok) return { ok: false, message: `cannot list the image volumes with the cinder_store_* options of [${store.section}] (Secret ${store.secretName}): ${result.error.message}` };
    imageVolumes.push({ secretName: store.secretName, projectName: store.projectName, projectId: result.projectId, byType: result.byType });
  }
  return { ok: true, pinned, typeProblems, imageVolumes };
}

/** Credentials for the check: those of the Secret, with a CA bundle the file names when it can be read here. */
export function checkCredentials(credentials: ResolvedCredentials, caCertPem: string | undefined): ResolvedCredentials {
  return caCertPem === undefined || credentials.caCertPem !== undefined ? credentials : { ...credentials, caCertPem };
}
