import type { VolumeTypeInfo } from "./cinder.js";
import { VolumeTypeNotAccessibleError, VolumeTypeNotFoundError, type OpenStackError } from "./errors.js";

/**
 * What one check round learned about the volume types of one (credential
 * set, endpoint): fetched once and shared by every store that uses them.
 */
export interface TypeView {
  readonly endpoint: string;
  readonly projectId: string;
  readonly projectName: string | undefined;
  /** `GET /types`: public types plus the private ones the project was given. */
  readonly accessible: readonly VolumeTypeInfo[];
  /** `GET /types?is_public=None`; undefined when no store needed it. */
  readonly all?: readonly VolumeTypeInfo[] | undefined;
  /**
   * Whether `all` really is every type: only for a Cinder admin. Cinder
   * answers anyone else's `is_public=None` with the accessible list.
   */
  readonly allIsAuthoritative: boolean;
  /** `GET /types/default`: undefined when not asked, null when Cinder has none. */
  readonly defaultType?: VolumeTypeInfo | null | undefined;
}

export type TypeResolution =
  | { readonly ok: true; readonly volumeType: VolumeTypeInfo; readonly resolvedDefault: boolean }
  | { readonly ok: false; readonly error: OpenStackError };

/** Cinder's own rule (`get_by_name_or_id`): an id first, then a name; names are unique. */
export function findType(types: readonly VolumeTypeInfo[], wanted: string): VolumeTypeInfo | undefined {
  return types.find((type) => type.id === wanted) ?? types.find((type) => type.name === wanted);
}

/**
 * The admin view is worth asking for only when some wanted type is missing
 * from the accessible list: then it tells "does not exist" from "private".
 */
export function needsAllTypes(wanted: readonly (string | undefined)[], accessible: readonly VolumeTypeInfo[], defaultType: VolumeTypeInfo | null | undefined): boolean {
  return wanted.some((name) => {
    if (name === undefined) return defaultType !== undefined && defaultType !== null && findType(accessible, defaultType.id) === undefined;
    return findType(accessible, name) === undefined;
  });
}

/**
 * Whether a view answers every wanted type from what the project may use:
 * a shared view is reused only then; a type it lacks (created since, or
 * never there) is asked of Cinder afresh.
 */
export function coversWanted(view: TypeView, wanted: readonly (string | undefined)[]): boolean {
  return wanted.every((name) => {
    if (name === undefined) return view.defaultType !== undefined && view.defaultType !== null && findType(view.accessible, view.defaultType.id) !== undefined;
    return findType(view.accessible, name) !== undefined;
  });
}

/**
 * Whether an `is_public=None` answer is the admin view: the token holds
 * Cinder's default `context_is_admin` role, or the answer shows a type the
 * project cannot use (which only an admin is shown).
 */
export function isAuthoritativeAllView(roles: readonly string[], accessible: readonly VolumeTypeInfo[], all: readonly VolumeTypeInfo[]): boolean {
  if (roles.includes("admin")) return true;
  const visible = new Set(accessible.map((type) => type.id));
  return all.some((type) => !visible.has(type.id));
}

const LISTED = 20;

function listNames(types: readonly VolumeTypeInfo[]): string {
  const names = types.map((type) => type.name).sort();
  if (names.length === 0) return "none";
  return names.length <= LISTED ? names.join(", ") : `${names.slice(0, LISTED).join(", ")} and ${names.length - LISTED} more`;
}

function projectLabel(view: TypeView): string {
  return view.projectName === undefined ? `project ${view.projectId}` : `project "${view.projectName}" (${view.projectId})`;
}

/** Resolves one store's `volumeType` (name, id, or undefined for Cinder's default) against a round's view. */
export function resolveVolumeType(wanted: string | undefined, view: TypeView): TypeResolution {
  const details = { service: "cinder" as const, url: `${view.endpoint}/types` };
  const project = projectLabel(view);
  if (wanted === undefined) {
    if (view.defaultType === undefined) throw new Error("programming error: the default type was not fetched for a store that names none");
    if (view.defaultType === null) {
      return {
        ok: false,
        error: new VolumeTypeNotFoundError(
          `the store names no volume type and Cinder at ${view.endpoint} has no default type for ${project} (GET /types/default answered 404). Set volumeType, or configure default_volume_type in Cinder`,
          { ...details, url: `${view.endpoint}/types/default`, status: 404 },
        ),
      };
    }
    const resolved = resolveNamed(view.defaultType.id, view, details, project, `Cinder's default type "${view.defaultType.name}"`);
    return resolved.ok ? { ...resolved, resolvedDefault: true } : resolved;
  }
  return resolveNamed(wanted, view, details, project, `volume type "${wanted}"`);
}

function resolveNamed(wanted: string, view: TypeView, details: { service: "cinder"; url: string }, project: string, subject: string): TypeResolution {
  const accessible = findType(view.accessible, wanted);
  if (accessible !== undefined) return { ok: true, volumeType: accessible, resolvedDefault: false };
  if (view.all === undefined) throw new Error(`programming error: the admin view was not fetched for ${subject}`);
  const existing = view.allIsAuthoritative ? findType(view.all, wanted) : undefined;
  if (existing !== undefined) {
    return {
      ok: false,
      error: new VolumeTypeNotAccessibleError(
        `${subject} (id ${existing.id}) exists in Cinder at ${view.endpoint} but is private and ${project} was not granted access to it. Only Cinder's admin override lets these credentials create volumes of it (an admin-role user may use any type), and a non-admin user of the project cannot. Grant access (openstack volume type set --project ${view.projectId} ${existing.name}) or choose another type`,
        details,
      ),
    };
  }
  if (view.allIsAuthoritative) {
    return {
      ok: false,
      error: new VolumeTypeNotFoundError(
        `${subject} does not exist in Cinder at ${view.endpoint} (types there: ${listNames(view.all)}). Create it (openstack volume type create ${wanted}) or correct volumeType`,
        details,
      ),
    };
  }
  return {
    ok: false,
    error: new VolumeTypeNotFoundError(
      `${subject} is not among the volume types ${project} can use in Cinder at ${view.endpoint} (${listNames(view.accessible)}). Either it does not exist, or it is private and the project has no access: these credentials are not a Cinder admin, so the two cannot be told apart. Create the type, or grant the project access (openstack volume type set --project ${view.projectId} ${wanted}), or correct volumeType`,
      details,
    ),
  };
}
