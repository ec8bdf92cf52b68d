import { credentialsKey, type ResolvedCredentials } from "../api/credentials.js";
import type {
  CinderTarget,
  DefaultVolumeTypeResult,
  ImageVolumesByTypeRequest,
  ImageVolumesByTypeResult,
  RoundOptions,
  StoreCheckRequest,
  StoreCheckResult,
} from "../openstack/client.js";
import type { ImageVolumeTypeCount } from "../openstack/volumes.js";

/**
 * What `migrate --check-cinder` asks Cinder, with the credentials of the
 * file, through the operator's OpenStack client: the default volume type of
 * the project Glance uses (GET /types/default, which honours a per-project
 * default), whether the types the stores name exist, and the project's
 * image volumes (`image-<uuid>`) per volume type.
 */

/** The client's calls the check makes (OpenStackClient has them); an interface so that a test can answer from a table. */
export interface CinderFacts {
  checkStores(requests: readonly StoreCheckRequest[], options?: RoundOptions): Promise<Map<string, StoreCheckResult>>;
  defaultVolumeType(target: CinderTarget, options?: RoundOptions): Promise<DefaultVolumeTypeResult>;
  imageVolumesByType(requests: readonly ImageVolumesByTypeRequest[], options?: RoundOptions): Promise<Map<string, ImageVolumesByTypeResult>>;
  close(): Promise<void>;
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
