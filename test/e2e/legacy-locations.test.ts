/**
 * Images a single-store Glance on Cinder wrote (`cinder://<volume>`, no
 * store in the location metadata), read through a REAL glance-api that runs
 * the renderer's multi-store config the way production runs it (the WSGI
 * app under uWSGI, the files mounted at GLANCE_CONF_DIR): Glance rewrites
 * such a location on GET to the first store, in enabled_backends order,
 * whose cinder_volume_type is the volume's type, and keeps it as it was when
 * no store has that type (glance/common/store_utils.py,
 * update_store_in_locations). And a site's own non-Cinder store, declared in
 * the main glance-api.conf, served next to the rendered Cinder stores.
 *
 * The operator's pure renderer is enough here: no Kubernetes.
 */
import test, { type ExecutionContext } from "ava";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GlanceStoreSpecSchema } from "../../src/api/glancestore.js";
import type { GlanceApi, GlanceMainConfig } from "../../src/devstack/glance.js";
import { createImageVolumes, createLegacyCinderImage, deleteImageVolumes, deleteLegacyCinderImage, imageLocationRows, readGlanceImage, type LegacyImage } from "../../src/devstack/legacy-image.js";
import { issueToken, type VolumeType } from "../../src/devstack/openstack-admin.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { CREDENTIALS_CONF_FILE, renderStoresConfig, STORES_CONF_FILE, type RenderedConfig, type StoreToRender } from "../../src/render/render.js";
import { useStack } from "../support/stack.js";

const local = useStack({ kube: false });
const openstack = local.openstack;

const types: VolumeType[] = [];
local.beforeStop(async () => {
  for (const type of types) await openstack().admin.deleteVolumeType(type.id);
});

/** What the stack's base glance-api.conf does not set and the GETs below read: `locations` and `direct_url` of an image. */
const SHOW_LOCATIONS: GlanceMainConfig = { DEFAULT: { show_multiple_locations: "true", show_image_direct_url: "true" } };

let rendered: RenderedConfig;
/** The same stores with glance-api's own file store `local` in enabled_backends (a GlanceStoreTarget's otherStores). */
let renderedWithFileStore: RenderedConfig;

test.serial.before("volume types glance-old, glance-fast and glance-orphan; the renderer's files for stores glance-old and fast", async () => {
  const os = openstack();
  for (const name of ["glance-old", "glance-fast", "glance-orphan"]) types.push(await os.admin.createVolumeType(name));
  const spec = (fields: Record<string, unknown>) => GlanceStoreSpecSchema.parse({ credentialsSecretRef: { name: "glance-cinder" }, regionName: os.region, ...fields });
  const credentials = { auth: { kind: "password" as const, ...os.glanceCredentials } };
  const stores: StoreToRender[] = [
    { storeId: "glance-old", spec: spec({ volumeType: "glance-old" }), credentials, source: "GlanceStore legacy/glance-old" },
    { storeId: "fast", spec: spec({ volumeType: "glance-fast", default: true }), credentials, source: "GlanceStore legacy/fast" },
  ];
  const result = renderStoresConfig(stores);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  rendered = result.config;
  const withFile = renderStoresConfig(stores, { otherStores: [{ id: "local", type: "file" }] });
  if (!withFile.ok) throw new Error(JSON.stringify(withFile.errors));
  renderedWithFileStore = withFile.config;
});

async function configDir(name: string, storesConf: string): Promise<string> {
  const dir = join(local.stack().directory, "legacy-locations", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, STORES_CONF_FILE), storesConf);
  await writeFile(join(dir, CREDENTIALS_CONF_FILE), rendered.credentialsConf, { mode: 0o600 });
  return dir;
}

/** A WSGI glance-api from `dir` mounted at GLANCE_CONF_DIR, stopped when the test ends. */
async function startGlance(t: ExecutionContext, name: string, dir: string, mainConfig: GlanceMainConfig): Promise<GlanceApi> {
  const glance = await openstack().startGlance({ configDir: dir, mountPath: GLANCE_CONF_DIR, server: "wsgi", name, mainConfig });
  t.teardown(() => glance.stop());
  return glance;
}

/** A legacy image, removed (rows and volume) when the test ends. */
async function legacyImage(t: ExecutionContext, volumeType: string): Promise<LegacyImage> {
  const image = await createLegacyCinderImage(openstack(), { volumeType });
  t.teardown(() => deleteLegacyCinderImage(openstack(), image));
  return image;
}

test.serial("GET rewrites a legacy location to the store of its volume's type, in the response and in the database; a volume type no store has stays as it was", async (t) => {
  const os = openstack();
  const old = await legacyImage(t, "glance-old");
  const orphan = await legacyImage(t, "glance-orphan");
  // As a single-store Glance wrote them.
  for (const image of [old, orphan]) {
    t.like(await imageLocationRows(os, image.imageId), [{ value: `cinder://${image.volumeId}`, metaDataText: "{}", status: "active", deleted: false }]);
  }
  t.regex(rendered.storesConf, /^enabled_backends = fast:cinder, glance-old:cinder$/m);

  const glance = await startGlance(t, "glance-legacy", await configDir("rendered", rendered.storesConf), SHOW_LOCATIONS);

  const seen = await readGlanceImage(glance, old.imageId);
  t.is(seen.status, "active");
  t.deepEqual(seen.locations, [{ url: `cinder://glance-old/${old.volumeId}`, metadata: { store: "glance-old" } }]);
  t.is(seen.stores, "glance-old");
  t.is(seen.directUrl, `cinder://glance-old/${old.volumeId}`);
  const rows = await imageLocationRows(os, old.imageId);
  t.is(rows.length, 1, "the row is updated, not replaced");
  t.like(rows[0], { value: `cinder://glance-old/${old.volumeId}`, metaData: { store: "glance-old" }, status: "active", deleted: false });

  const kept = await readGlanceImage(glance, orphan.imageId);
  t.deepEqual(kept.locations, [{ url: `cinder://${orphan.volumeId}`, metadata: {} }]);
  t.is(kept.stores, undefined);
  t.false("stores" in kept.body);
  t.is(kept.directUrl, `cinder://${orphan.volumeId}`);
  t.like(await imageLocationRows(os, orphan.imageId), [{ value: `cinder://${orphan.volumeId}`, metaDataText: "{}", status: "active", deleted: false }]);

  // Once rewritten, a second GET reads the new location as it is.
  t.deepEqual((await readGlanceImage(glance, old.imageId)).locations, seen.locations);
});

test.serial("control: without show_multiple_locations and show_image_direct_url Glance hides the locations, yet still rewrites the legacy one and shows its store", async (t) => {
  const os = openstack();
  const old = await legacyImage(t, "glance-old");
  const glance = await startGlance(t, "glance-hidden-locations", await configDir("rendered", rendered.storesConf), {});
  const seen = await readGlanceImage(glance, old.imageId);
  t.is(seen.locations, undefined);
  t.is(seen.directUrl, undefined);
  t.is(seen.stores, "glance-old");
  t.like(await imageLocationRows(os, old.imageId), [{ value: `cinder://glance-old/${old.volumeId}`, metaData: { store: "glance-old" } }]);
});

test.serial("a file store declared in the main glance-api.conf is served next to the rendered Cinder stores, takes uploads, and legacy images still find their store", async (t) => {
  const os = openstack();
  const datadir = await os.newFileStoreDir("local");
  const withFileStore = renderedWithFileStore.storesConf;
  t.regex(withFileStore, /^enabled_backends = fast:cinder, glance-old:cinder, local:file$/m);
  const mainConfig: GlanceMainConfig = { ...SHOW_LOCATIONS, local: { filesystem_store_datadir: datadir, store_description: "Site disk" } };
  const glance = await startGlance(t, "glance-with-file-store", await configDir("with-file-store", withFileStore), mainConfig);

  t.deepEqual(
    [...(await glance.stores())].sort((a, b) => a.id.localeCompare(b.id)),
    [{ id: "fast", default: "true" }, { id: "glance-old" }, { id: "local", description: "Site disk" }],
  );
  const detail = Object.fromEntries((await glance.storesDetail()).map((store) => [store.id, store]));
  t.deepEqual(Object.keys(detail).sort(), ["fast", "glance-old", "local"]);
  t.is(detail["local"]?.type, "file");
  t.is(detail["fast"]?.type, "cinder");
  t.is(detail["glance-old"]?.type, "cinder");
  t.is(detail["glance-old"]?.properties?.["volume_type"], "glance-old");

  // The datadir is glance-api's to write: an upload to `local` lands there.
  const uploaded = await uploadImage(glance, "local", Buffer.from("bytes of the local store\n"));
  t.teardown(() => deleteImage(glance, uploaded));
  const view = await readGlanceImage(glance, uploaded);
  t.is(view.stores, "local");
  t.deepEqual(view.locations, [{ url: `file://${datadir}/${uploaded}`, metadata: { store: "local" } }]);
  t.deepEqual(await readdir(datadir), [uploaded]);

  // The Cinder stores' lazy update is unchanged by a file store beside them.
  const old = await legacyImage(t, "glance-old");
  t.deepEqual((await readGlanceImage(glance, old.imageId)).locations, [{ url: `cinder://glance-old/${old.volumeId}`, metadata: { store: "glance-old" } }]);
});

async function adminToken(): Promise<string> {
  return (await issueToken(openstack().adminCredentials)).token;
}

/** Creates an image and uploads `data` to `store` (multi-store: X-Image-Meta-Store); returns its id once active. */
async function uploadImage(glance: GlanceApi, store: string, data: Buffer): Promise<string> {
  const token = await adminToken();
  const created = await fetch(`${glance.url}/v2/images`, {
    method: "POST",
    headers: { "x-auth-token": token, "content-type": "application/json" },
    body: JSON.stringify({ name: "uploaded-to-local", disk_format: "raw", container_format: "bare" }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await created.text();
  if (created.status !== 201) throw new Error(`POST /v2/images answered ${created.status}: ${body.slice(0, 300)}`);
  const id = (JSON.parse(body) as { id: string }).id;
  const put = await fetch(`${glance.url}/v2/images/${id}/file`, {
    method: "PUT",
    headers: { "x-auth-token": token, "content-type": "application/octet-stream", "x-image-meta-store": store },
    body: data,
    signal: AbortSignal.timeout(60_000),
  });
  const putBody = await put.text();
  if (put.status !== 204) throw new Error(`PUT /v2/images/${id}/file answered ${put.status}: ${putBody.slice(0, 300)}`);
  return id;
}

async function deleteImage(glance: GlanceApi, id: string): Promise<void> {
  const response = await fetch(`${glance.url}/v2/images/${id}`, { method: "DELETE", headers: { "x-auth-token": await adminToken() }, signal: AbortSignal.timeout(30_000) });
  await response.arrayBuffer();
  if (response.status !== 204 && response.status !== 404) throw new Error(`DELETE /v2/images/${id} answered ${response.status}`);
}

test.serial("image volumes of a type in the service project: createImageVolumes makes them, named image-<uuid>, and deleteImageVolumes removes them", async (t) => {
  const os = openstack();
  const ids = await createImageVolumes(os, { volumeType: "glance-fast", count: 5 });
  t.teardown(() => deleteImageVolumes(os, ids));
  t.is(new Set(ids).size, 5);
  const inService = (await os.admin.listVolumes(os.serviceProjectId)).filter((volume) => ids.includes(volume.id));
  t.is(inService.length, 5);
  for (const volume of inService) {
    t.regex(volume.name ?? "", /^image-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    t.is(volume.volume_type, "glance-fast");
  }
  await deleteImageVolumes(os, ids);
  const left = (await os.admin.listVolumes(os.serviceProjectId)).filter((volume) => ids.includes(volume.id));
  t.deepEqual(left, []);
});
