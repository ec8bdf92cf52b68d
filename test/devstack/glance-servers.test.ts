/**
 * Glance reads what the operator renders however it is served: the real
 * glance-api as the eventlet server and as a WSGI app under uWSGI, each with
 * several workers and no --config-dir, with the rendered files mounted only
 * at GLANCE_CONF_DIR (/etc/glance/glance.conf.d), in a mount namespace of its
 * own, as a pod's volume would be. And the controls that show why that
 * path: the WSGI app does not read /etc/glance/glance-api.conf.d, where the
 * eventlet server alone would have found the files
 * (docs/foundations.md section 2).
 */
import test from "ava";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GlanceStoreSpecSchema } from "../../src/api/glancestore.js";
import { GlanceStartError, type GlanceApi, type GlanceServer } from "../../src/devstack/glance.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { CREDENTIALS_CONF_FILE, renderStoresConfig, STORES_CONF_FILE, type RenderedConfig, type StoreToRender } from "../../src/render/render.js";
import { useStack } from "../support/stack.js";

const local = useStack({ kube: false });
const openstack = local.openstack;

/** Where the docs told users to mount the files before: read by the eventlet server only. */
const OLD_MOUNT_PATH = "/etc/glance/glance-api.conf.d";

let stores: StoreToRender[];
let rendered: RenderedConfig;
let configDir: string;

test.serial.before("render two stores with real volume types", async () => {
  const os = openstack();
  const fast = await os.admin.createVolumeType(`servers-fast-${process.pid}`);
  const slow = await os.admin.createVolumeType(`servers-slow-${process.pid}`);
  const spec = (fields: Record<string, unknown>) => GlanceStoreSpecSchema.parse({ credentialsSecretRef: { name: "glance-cinder" }, regionName: os.region, ...fields });
  const credentials = { auth: { kind: "password" as const, ...os.glanceCredentials } };
  stores = [
    { storeId: "fast", spec: spec({ volumeType: fast.name, description: 'Fast "SSD" $tier # not a comment', default: true }), credentials, source: "GlanceStore servers/fast" },
    { storeId: "slow", spec: spec({ volumeType: slow.name }), credentials, source: "GlanceStore servers/slow" },
  ];
  const result = renderStoresConfig(stores);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  rendered = result.config;
  configDir = join(local.stack().directory, "glance-servers", "rendered");
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, STORES_CONF_FILE), rendered.storesConf);
  await writeFile(join(configDir, CREDENTIALS_CONF_FILE), rendered.credentialsConf, { mode: 0o600 });
});

/** Pids of the processes in a process group (the server and what it forked). */
function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // state, ppid, pgrp: a zombie is already gone.
      if (Number(fields[2]) === pgid && fields[0] !== "Z") pids.push(Number(entry));
    } catch {
      // Exited while listing.
    }
  }
  return pids;
}

const commandLine = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((part) => part !== "");

/** Starts glance-api as a pod would run it, checks what the test needs, and stops it whatever happened. */
async function withGlance(server: GlanceServer, mountPath: string, check: (glance: GlanceApi) => Promise<void>): Promise<void> {
  const glance = await openstack().startGlance({ configDir, server, mountPath, workers: 2, name: `glance-${server}-${mountPath.split("/").pop() ?? ""}` });
  try {
    await check(glance);
  } finally {
    await glance.stop();
  }
  // The wrapper exec'd into the server: stopping its group stopped everything it forked.
  await waitFor(() => (processGroup(glance.process.pid).length === 0 ? true : undefined), { what: `process group ${glance.process.pid} gone after stop`, timeoutMs: 10_000 });
}

const expectedStores = () =>
  stores.map((store) => ({ id: store.storeId, ...(store.spec.description === undefined ? {} : { description: store.spec.description }), ...(store.spec.default ? { default: "true" } : {}) }));

for (const server of ["eventlet", "wsgi"] as const) {
  test.serial(`${server}: glance-api finds the rendered files mounted only at ${GLANCE_CONF_DIR}, with several workers and no --config-dir`, async (t) => {
    await withGlance(server, GLANCE_CONF_DIR, async (glance) => {
      t.deepEqual(await glance.stores(), expectedStores());
      const detail = await glance.storesDetail();
      t.deepEqual(
        detail.map((store) => [store.id, store.type, store.properties?.["volume_type"]]),
        stores.map((store) => [store.storeId, "cinder", store.spec.volumeType]),
      );

      const pid = glance.process.pid;
      const argv = commandLine(pid);
      // The pid the supervisor holds is the server itself, not unshare or the shell that made the mounts.
      t.regex(argv.join(" "), server === "eventlet" ? /^\S*python3\S* \/usr\/bin\/glance-api --config-file \/etc\/glance\/glance-api\.conf$/ : /^\/usr\/bin\/uwsgi-core --ini /);
      t.false(argv.includes("--config-dir"));
      // Master (or parent) plus two workers, all in the group the supervisor stops.
      t.true(processGroup(pid).length >= 3, `process group ${processGroup(pid).join(", ")}`);
      // Its own mount namespace: it sees the files at the documented path, this machine does not.
      t.not(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync("/proc/self/ns/mnt"));
      t.is(readFileSync(`/proc/${pid}/root${GLANCE_CONF_DIR}/${STORES_CONF_FILE}`, "utf8"), rendered.storesConf);
      t.is(readFileSync(`/proc/${pid}/root${GLANCE_CONF_DIR}/${CREDENTIALS_CONF_FILE}`, "utf8"), rendered.credentialsConf);
      // This machine's /etc never holds them.
      t.false(existsSync(join(GLANCE_CONF_DIR, STORES_CONF_FILE)));
      t.false(existsSync(join(OLD_MOUNT_PATH, STORES_CONF_FILE)));
    });
  });
}

test.serial(`control: the WSGI glance-api does not read ${OLD_MOUNT_PATH}, where the docs used to say to mount the files`, async (t) => {
  await withGlance("wsgi", OLD_MOUNT_PATH, async (glance) => {
    // It started without any of the rendered options: no enabled_backends, so no multi-store API.
    const answer = await glance.get("/v2/info/stores");
    t.is(answer.status, 404, answer.body);
    t.regex(answer.body, /Multi backend is not supported/);
    t.is(readFileSync(`/proc/${glance.process.pid}/root${OLD_MOUNT_PATH}/${STORES_CONF_FILE}`, "utf8"), rendered.storesConf);
  });
});

test.serial(`control: the eventlet glance-api does read ${OLD_MOUNT_PATH} (prog glance-api), which hid the mistake`, async (t) => {
  await withGlance("eventlet", OLD_MOUNT_PATH, async (glance) => {
    t.deepEqual(await glance.stores(), expectedStores());
  });
});

test.serial("wsgi: when glance-wsgi-api refuses the rendered files, the start fails with its log instead of waiting", async (t) => {
  const wrong = renderStoresConfig(stores.map((store) => ({ ...store, credentials: { auth: { ...store.credentials.auth, password: "not-the-password" } } }) as StoreToRender));
  if (!wrong.ok) throw new Error(JSON.stringify(wrong.errors));
  const dir = join(local.stack().directory, "glance-servers", "wrong-password");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, STORES_CONF_FILE), wrong.config.storesConf);
  await writeFile(join(dir, CREDENTIALS_CONF_FILE), wrong.config.credentialsConf, { mode: 0o600 });
  const error = await t.throwsAsync(openstack().startGlance({ configDir: dir, server: "wsgi", mountPath: GLANCE_CONF_DIR, name: "glance-wsgi-refused" }), { instanceOf: GlanceStartError });
  // uWSGI's need-app: a worker that cannot load the app ends the whole instance. Its exit code says
  // little (seen: 0, after a worker crashed on its way out), the log says why.
  t.regex(error.log, /HTTP 401/);
  t.regex(error.log, /no app loaded/);
});
