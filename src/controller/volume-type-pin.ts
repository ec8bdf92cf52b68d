import type { VolumeTypeRef } from "../openstack/volumes.js";

export type { VolumeTypeRef };

/**
 * Images stay on the volume type they were written to: a store's volume
 * type is pinned when it is first rendered, and a change of it (an edited
 * spec.volumeType, or Cinder's default type moving under a store that
 * leaves it unset) is applied only when confirmed. Two references name the
 * same type when their ids agree, or, when an id is unknown, their names.
 */
export function sameVolumeType(a: VolumeTypeRef, b: VolumeTypeRef): boolean {
  if (a.id !== undefined && b.id !== undefined) return a.id === b.id;
  return a.name === b.name;
}

/** Adds `type` to a history unless it is there already (by id or name). */
export function withVolumeType(history: readonly VolumeTypeRef[], type: VolumeTypeRef): VolumeTypeRef[] {
  return history.some((known) => sameVolumeType(known, type)) ? [...history] : [...history, type];
}

/**
 * Every type a store's images may be on, oldest first: what its status
 * remembers, and the type the rendered files name when the status lost it.
 * The last entry is the pinned type, what Glance runs the store with.
 */
export function volumeTypeHistory(remembered: readonly VolumeTypeRef[], renderedName: string | undefined): VolumeTypeRef[] {
  return renderedName === undefined ? [...remembered] : withVolumeType(remembered, { name: renderedName });
}
