import type { CinderVolume } from "./cinder.js";

/** glance_store names the volume of image `<id>` `image-<id>`; image ids are UUIDs. */
const IMAGE_VOLUME_NAME = /^image-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isImageVolumeName(name: string | null | undefined): boolean {
  return typeof name === "string" && IMAGE_VOLUME_NAME.test(name);
}

/** The image id an image volume's name carries, or undefined for any other volume. */
export function imageIdOfVolume(name: string | null | undefined): string | undefined {
  return isImageVolumeName(name) ? (name as string).slice("image-".length).toLowerCase() : undefined;
}

export interface ImageVolume {
  readonly id: string;
  readonly name: string;
  readonly imageId: string;
  readonly status: string;
  readonly volumeType: string | undefined;
}

/** Which volumes belong to a store: glance compares the volume's type name with the store's. */
export interface VolumeTypeRef {
  readonly name: string;
  /** Also matched against `volume_type_id` when Cinder returns it (microversion >= 3.63). */
  readonly id?: string | undefined;
}

export function volumeHasType(volume: CinderVolume, type: VolumeTypeRef): boolean {
  if (volume.volume_type === type.name) return true;
  return type.id !== undefined && volume.volume_type_id === type.id;
}

/** The image volumes of one type: what still holds images of a store (rule 4 in docs/foundations.md). */
export function imageVolumesOfType(volumes: readonly CinderVolume[], type: VolumeTypeRef): ImageVolume[] {
  return imageVolumesOfTypes(volumes, [type]);
}

/** The image volumes of any of `types`: a store keeps images on every type it was ever rendered with. */
export function imageVolumesOfTypes(volumes: readonly CinderVolume[], types: readonly VolumeTypeRef[]): ImageVolume[] {
  const result: ImageVolume[] = [];
  for (const volume of volumes) {
    const imageId = imageIdOfVolume(volume.name);
    if (imageId === undefined || !types.some((type) => volumeHasType(volume, type))) continue;
    result.push({ id: volume.id, name: volume.name as string, imageId, status: volume.status, volumeType: volume.volume_type ?? undefined });
  }
  return result;
}

/** How many image volumes one volume type holds. */
export interface ImageVolumeTypeCount {
  /** The type's name as Cinder lists it on the volume; undefined for a volume without a type. */
  readonly volumeType: string | undefined;
  /** The type's id, when Cinder returns `volume_type_id` (microversion >= 3.63) and the volumes of the name agree on it. */
  readonly volumeTypeId?: string;
  readonly count: number;
}

/**
 * The image volumes (`image-<uuid>`, any status) of a listing per volume
 * type name, sorted by name in code-unit order, volumes without a type last.
 */
export function imageVolumesByType(volumes: readonly CinderVolume[]): ImageVolumeTypeCount[] {
  const groups = new Map<string | undefined, { count: number; ids: Set<string | undefined> }>();
  for (const volume of volumes) {
    if (!isImageVolumeName(volume.name)) continue;
    const name = volume.volume_type ?? undefined;
    const group = groups.get(name) ?? { count: 0, ids: new Set<string | undefined>() };
    group.count++;
    group.ids.add(volume.volume_type_id ?? undefined);
    groups.set(name, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === b ? 0 : a === undefined ? 1 : b === undefined ? -1 : a < b ? -1 : 1))
    .map(([volumeType, { count, ids }]) => {
      const [only] = ids;
      return { volumeType, ...(ids.size === 1 && only !== undefined ? { volumeTypeId: only } : {}), count };
    });
}
