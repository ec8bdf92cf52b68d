/**
 * Rendered configs mounted where the docs say, GLANCE_CONF_DIR, into a REAL
 * glance-api, one at a time, the eventlet server and the WSGI app under
 * uWSGI in turn: 1, 2 and 5 stores, the default in every position,
 * descriptions, volume types and passwords full of what oslo.config treats
 * specially. glance-api starting proves that Keystone accepted the rendered
 * password of the first store (it exits with 401 otherwise,
 * docs/foundations.md section 1); /v2/info/stores/detail must then report
 * exactly the rendered stores.
 */
import test from "ava";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GlanceStoreSpecSchema } from "../../src/api/glancestore.js";
import { GlanceStartError, type GlanceServer } from "../../src/devstack/glance.js";
import { issueToken } from "../../src/devstack/openstack-admin.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { useStack } from "../support/stack.js";
import { CREDENTIALS_CONF_FILE, renderStoresConfig, STORES_CONF_FILE, type StoreToRender } from "../../src/render/render.js";

const local = useStack({ kube: false });
const openstack = local.openstack;

/** Five stores whose ids sort in this order, so `position` is the position in enabled_backends. */
const STORE_SHAPES: readonly { id: string; volumeType?: string; description?: string }[] = [
  { id: "a-fast", volumeType: "glance fast #1", description: 'Fast $tier "quoted" \'single\'' },
  { id: "b-gold", volumeType: "tier;$gold", description: "  padded  " },
  { id: "c-plain" },
  { id: "d-unicode", volumeType: "größe-ü 🚀", description: "Schnell – größer 🚀 # not a comment ; nor this" },
  { id: "e-dollar", volumeType: '"quoted"', description: "C:\\$share $$ ${x} %(tenant)s" },
];

/** One Keystone user per row, each with a password that a naive config file would corrupt. */
const ROWS: readonly { stores: number; defaultAt: number; password: string }[] = [
  { stores: 1, defaultAt: 0, password: 'pa$$word "quoted"' },
  { stores: 2, defaultAt: 0, password: " spaced at both ends " },
  { stores: 2, defaultAt: 1, password: "#hash;semi=eq:colon" },
  { stores: 5, defaultAt: 0, password: "ünïcødé 密码 🔑" },
  { stores: 5, defaultAt: 1, password: "back\\$lash \\\\$ end\\" },
  { stores: 5, defaultAt: 2, password: `'single' "double"` },
  { stores: 5, defaultAt: 3, password: "${glance_store} $HOME %(x)s" },
  { stores: 5, defaultAt: 4, password: '"' },
];

let rowCounter = 0;

async function keystoneUserWithPassword(password: string): Promise<string> {
  const os = openstack();
  rowCounter += 1;
  const username = `gso-matrix-${rowCounter}`;
  const userId = await os.admin.createUser({ name: username, password, defaultProjectId: os.serviceProjectId });
  await os.admin.grantProjectRole(os.serviceProjectId, userId, "admin");
  // The user really has this password, before any config file is involved.
  await issueToken({ ...os.glanceCredentials, username, password });
  return username;
}

async function writeConfigDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(local.stack().directory, "matrix", name);
  await mkdir(dir, { recursive: true });
  await Promise.all(Object.entries(files).map(([file, content]) => writeFile(join(dir, file), content)));
  return dir;
}

function storesFor(row: (typeof ROWS)[number], username: string): StoreToRender[] {
  const os = openstack();
  return STORE_SHAPES.slice(0, row.stores).map((shape, index) => ({
    storeId: shape.id,
    spec: GlanceStoreSpecSchema.parse({
      credentialsSecretRef: { name: "glance-cinder" },
      default: index === row.defaultAt,
      regionName: os.region,
      ...(shape.volumeType === undefined ? {} : { volumeType: shape.volumeType }),
      ...(shape.description === undefined ? {} : { description: shape.description }),
    }),
    credentials: {
      auth: { kind: "password", authUrl: os.keystoneUrl, username, password: row.password, projectName: "service", userDomainName: "Default", projectDomainName: "Default" },
    },
    source: `GlanceStore matrix/${shape.id}`,
  }));
}

test.serial.before("the volume types exist in Cinder", async () => {
  for (const shape of STORE_SHAPES) if (shape.volumeType !== undefined) await openstack().admin.createVolumeType(shape.volumeType);
});

for (const [index, row] of ROWS.entries()) {
  const server: GlanceServer = index % 2 === 0 ? "eventlet" : "wsgi";
  test.serial(`${server} glance-api starts with ${row.stores} store(s), default at position ${row.defaultAt}, and reports exactly them (password ${JSON.stringify(row.password)})`, async (t) => {
    const username = await keystoneUserWithPassword(row.password);
    const stores = storesFor(row, username);
    // Handed over in reverse: the renderer's order must not depend on the caller's.
    const rendered = renderStoresConfig([...stores].reverse());
    if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
    const configDir = await writeConfigDir(`row-${rowCounter}`, { [STORES_CONF_FILE]: rendered.config.storesConf, [CREDENTIALS_CONF_FILE]: rendered.config.credentialsConf });

    const glance = await openstack().startGlance({ configDir, server, mountPath: GLANCE_CONF_DIR, name: `glance-matrix-${rowCounter}` });
    try {
      const detail = await glance.storesDetail();
      t.deepEqual(
        detail.map((s) => ({ id: s.id, default: s.default === "true", description: s.description, type: s.type, volumeType: s.properties?.["volume_type"] ?? null })),
        stores.map((s) => ({ id: s.storeId, default: s.spec.default, description: s.spec.description, type: "cinder", volumeType: s.spec.volumeType ?? null })),
      );
    } finally {
      await glance.stop();
    }
  });
}

test.serial("control: the same password written without the renderer's escaping keeps glance-api from starting", async (t) => {
  const row = { stores: 1, defaultAt: 0, password: "pa$$word" };
  const username = await keystoneUserWithPassword(row.password);
  const rendered = renderStoresConfig(storesFor(row, username));
  if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
  // oslo.config reads `pa$$word` unescaped as `pa$word`: Keystone refuses it.
  const naive = rendered.config.credentialsConf.replace('"pa$$$$word"', () => "pa$$word");
  t.not(naive, rendered.config.credentialsConf);
  const configDir = await writeConfigDir("naive", { [STORES_CONF_FILE]: rendered.config.storesConf, [CREDENTIALS_CONF_FILE]: naive });
  const error = await t.throwsAsync(openstack().startGlance({ configDir, mountPath: GLANCE_CONF_DIR, name: "glance-matrix-naive" }), { instanceOf: GlanceStartError });
  t.regex(error.log, /401/);
});
