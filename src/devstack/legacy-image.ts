/**
 * Images as a single-store Glance on Cinder left them, for tests of what a
 * multi-store Glance makes of them. glance_store's cinder driver, with no
 * `enabled_backends`, names the volume `image-<image id>`, creates it in the
 * project of `cinder_store_*` credentials (here the stack's `glance` user in
 * project `service`) with metadata glance_image_id, image_size and
 * image_owner, and returns the location `cinder://<volume id>` with empty
 * metadata; Glance then writes the `images` row and an `image_locations` row
 * (glance/db/sqlalchemy/models.py: `meta_data` is JSON text, `{}`).
 *
 * Only cinder-api runs here (no scheduler, no volume service): the volume
 * stays `creating`, which is enough for Glance, which reads only its type
 * when it maps a legacy location to a store (glance/common/store_utils.py
 * `_update_cinder_location_and_store_id`). The image row is written into
 * Glance's database directly, as the upload would have left it.
 */
import { createHash, randomUUID } from "node:crypto";
import type { GlanceApi } from "./glance.js";
import type { OpenStackServices } from "./openstack.js";
import type { PasswordCredentials } from "./openstack-admin.js";

/** The database of Glance on the stack's PostgreSQL (src/devstack/openstack.ts, connectionUrl("glance")). */
const GLANCE_DATABASE = "glance";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type ImageVisibility = "private" | "public" | "shared" | "community";

export interface LegacyImageOptions {
  /** The type of the image's volume (a name Cinder knows). */
  readonly volumeType: string;
  /** images.owner and the volume's image_owner: the project that uploaded it. Default: the stack admin's project. */
  readonly owner?: string;
  /** Default `legacy-<image id>`. */
  readonly name?: string;
  /** Default "private". */
  readonly visibility?: ImageVisibility;
  /** Default "raw". */
  readonly diskFormat?: string;
  /** Default "bare". */
  readonly containerFormat?: string;
  /** What the image's data would be: its size and hashes go into the row (the volume holds nothing). Default a short text naming the image. */
  readonly content?: Uint8Array;
}

export interface LegacyImage {
  readonly imageId: string;
  readonly volumeId: string;
  /** The location Glance wrote: `cinder://<volume id>`. */
  readonly locationUrl: string;
  readonly owner: string;
  readonly size: number;
  readonly checksum: string;
  readonly osHashValue: string;
}

/** One `image_locations` row as it is in Glance's database. */
export interface ImageLocationRow {
  readonly id: number;
  readonly value: string;
  /** `meta_data` decoded from its JSON text. */
  readonly metaData: Record<string, unknown> | null;
  /** `meta_data` as stored. */
  readonly metaDataText: string | null;
  readonly status: string;
  readonly deleted: boolean;
}

/** GET /v2/images/<id> as the stack admin. */
export interface GlanceImageView {
  readonly id: string;
  readonly status: string;
  /** Only shown with `show_multiple_locations = true` in glance-api.conf. */
  readonly locations: readonly { readonly url: string; readonly metadata: Record<string, unknown> }[] | undefined;
  /** Comma-separated store ids from the locations' metadata; absent when no location names a store. */
  readonly stores: string | undefined;
  /** Only shown with `show_image_direct_url = true`. */
  readonly directUrl: string | undefined;
  /** The whole answer. */
  readonly body: Readonly<Record<string, unknown>>;
}

/**
 * Writes an image the way a single-store Glance on Cinder would have: a
 * volume `image-<id>` of `options.volumeType` in the project of the stack's
 * Glance store credentials, an active `images` row and one active
 * `image_locations` row `cinder://<volume id>` with metadata `{}`.
 */
export async function createLegacyCinderImage(openstack: OpenStackServices, options: LegacyImageOptions): Promise<LegacyImage> {
  const imageId = randomUUID();
  const owner = options.owner ?? (await openstack.admin.token()).projectId;
  const content = options.content ?? Buffer.from(`legacy image ${imageId}\n`);
  const size = content.byteLength;
  const checksum = createHash("md5").update(content).digest("hex");
  const osHashValue = createHash("sha512").update(content).digest("hex");
  const volume = await openstack.admin.createVolume({
    name: `image-${imageId}`,
    volumeType: options.volumeType,
    sizeGb: Math.max(1, Math.ceil(size / 2 ** 30)),
    owner: openstack.glanceCredentials,
    metadata: { glance_image_id: imageId, image_size: String(size), image_owner: owner },
  });
  const locationUrl = `cinder://${volume.id}`;
  const now = "(now() AT TIME ZONE 'utc')";
  try {
    // One psql -c: one transaction.
    await openstack.postgres.sql(
      GLANCE_DATABASE,
      [
        "INSERT INTO images (id, name, disk_format, container_format, size, virtual_size, status, visibility, checksum, os_hash_algo, os_hash_value,",
        "  min_disk, min_ram, owner, protected, os_hidden, created_at, updated_at, deleted)",
        `VALUES (${literal(imageId)}, ${literal(options.name ?? `legacy-${imageId}`)}, ${literal(options.diskFormat ?? "raw")}, ${literal(options.containerFormat ?? "bare")},`,
        `  ${size}, NULL, 'active', ${literal(options.visibility ?? "private")}, ${literal(checksum)}, 'sha512', ${literal(osHashValue)},`,
        `  0, 0, ${literal(owner)}, false, false, ${now}, ${now}, false);`,
        "INSERT INTO image_locations (image_id, value, meta_data, status, created_at, updated_at, deleted)",
        // glance's JSONEncodedDict writes jsonutils.dumps({}): the text `{}`.
        `VALUES (${literal(imageId)}, ${literal(locationUrl)}, '{}', 'active', ${now}, ${now}, false);`,
      ].join("\n"),
    );
  } catch (error) {
    await openstack.purgeVolume(volume.id);
    throw error;
  }
  return { imageId, volumeId: volume.id, locationUrl, owner, size, checksum, osHashValue };
}

/** Removes what createLegacyCinderImage wrote: the image's rows (every location, members, properties, tags) and its volume. */
export async function deleteLegacyCinderImage(openstack: OpenStackServices, image: Pick<LegacyImage, "imageId" | "volumeId">): Promise<void> {
  const id = uuid(image.imageId);
  await openstack.postgres.sql(
    GLANCE_DATABASE,
    ["image_locations", "image_properties", "image_tags", "image_members"].map((table) => `DELETE FROM ${table} WHERE image_id = '${id}';`).join("\n") + `\nDELETE FROM images WHERE id = '${id}';`,
  );
  await openstack.purgeVolume(image.volumeId);
}

/** The image's `image_locations` rows, deleted ones included, in id order. */
export async function imageLocationRows(openstack: OpenStackServices, imageId: string): Promise<ImageLocationRow[]> {
  const out = await openstack.postgres.sql(
    GLANCE_DATABASE,
    `SELECT coalesce(json_agg(json_build_object('id', id, 'value', value, 'meta_data', meta_data, 'status', status, 'deleted', deleted) ORDER BY id), '[]') FROM image_locations WHERE image_id = '${uuid(imageId)}'`,
  );
  const rows = JSON.parse(out.trim()) as { id: number; value: string; meta_data: string | null; status: string; deleted: boolean }[];
  return rows.map((row) => ({
    id: row.id,
    value: row.value,
    metaData: row.meta_data === null ? null : (JSON.parse(row.meta_data) as Record<string, unknown>),
    metaDataText: row.meta_data,
    status: row.status,
    deleted: row.deleted,
  }));
}

/** GET /v2/images/<id> of a running glance-api as the stack admin; throws unless it answers 200. */
export async function readGlanceImage(glance: GlanceApi, imageId: string): Promise<GlanceImageView> {
  const path = `/v2/images/${uuid(imageId)}`;
  const { status, body } = await glance.get(path);
  if (status !== 200) throw new Error(`GET ${glance.url}${path} answered ${status}: ${body.slice(0, 300)}`);
  const image = JSON.parse(body) as Record<string, unknown>;
  const text = (key: string): string | undefined => (typeof image[key] === "string" ? (image[key] as string) : undefined);
  return {
    id: String(image["id"]),
    status: String(image["status"]),
    locations: Array.isArray(image["locations"]) ? (image["locations"] as GlanceImageView["locations"]) : undefined,
    stores: text("stores"),
    directUrl: text("direct_url"),
    body: image,
  };
}

/**
 * `count` volumes named `image-<new uuid>` of `volumeType` in the project of
 * `owner` (default: the stack's Glance store credentials, project `service`),
 * as image volumes of a store of that type would be; no image rows. Returns
 * their ids, in creation order. On a failure the ones made are removed.
 */
export async function createImageVolumes(
  openstack: OpenStackServices,
  options: { readonly volumeType: string; readonly count: number; readonly owner?: PasswordCredentials },
): Promise<string[]> {
  if (!Number.isInteger(options.count) || options.count < 0) throw new Error(`not a count: ${options.count}`);
  const ids: string[] = [];
  try {
    // A few at a time: cinder-api shares two cores with everything else.
    for (let start = 0; start < options.count; start += 4) {
      const batch = Array.from({ length: Math.min(4, options.count - start) }, () =>
        openstack.admin.createVolume({ name: `image-${randomUUID()}`, volumeType: options.volumeType, owner: options.owner ?? openstack.glanceCredentials }),
      );
      const settled = await Promise.allSettled(batch);
      for (const result of settled) if (result.status === "fulfilled") ids.push(result.value.id);
      const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    }
  } catch (error) {
    await deleteImageVolumes(openstack, ids);
    throw error;
  }
  return ids;
}

/** Removes volumes for good (OpenStackServices.purgeVolume: there is no volume service to delete them). */
export async function deleteImageVolumes(openstack: OpenStackServices, volumeIds: readonly string[]): Promise<void> {
  for (const id of volumeIds) await openstack.purgeVolume(id);
}

function uuid(value: string): string {
  if (!UUID.test(value)) throw new Error(`not a UUID: ${value}`);
  return value;
}

/** A PostgreSQL string literal (standard_conforming_strings: only the quote is special). */
function literal(value: string): string {
  if (value.includes("\0")) throw new Error("a NUL in an SQL string");
  return `'${value.replaceAll("'", "''")}'`;
}
