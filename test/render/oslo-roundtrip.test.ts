/**
 * The renderer's output read back by the REAL oslo.config and glance_store
 * (Debian's python3): every value, for hundreds of arbitrary strings, comes
 * back exactly as it went in.
 */
import test from "ava";
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlanceStoreSpecSchema } from "../../src/api/glancestore.js";
import { unrepresentableReason } from "../../src/render/oslo-value.js";
import { CREDENTIALS_CONF_FILE, renderStoresConfig, STORES_CONF_FILE, type StoreToRender } from "../../src/render/render.js";
import { NASTY_VALUES, osloString } from "./arbitraries.js";
import { osloReadsValue } from "./oslo-model.js";
import { OsloReadError, readWithOslo } from "./oslo-reader.js";

let scratch: string;
test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "gso-oslo-"));
});
test.after.always(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function configDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(scratch, "conf-"));
  await Promise.all(Object.entries(files).map(([name, content]) => writeFile(join(dir, name), content)));
  return dir;
}

const KEYSTONE = "http://127.0.0.1:5000/v3";

/** Five values per store: description, volume type, region, an extra option, the password. */
function storesCarrying(values: readonly string[]): StoreToRender[] {
  const stores: StoreToRender[] = [];
  for (let index = 0; index * 5 < values.length; index += 1) {
    const [description, volumeType, regionName, extra, password] = [0, 1, 2, 3, 4].map((k) => values[index * 5 + k] ?? "filler");
    const spec = GlanceStoreSpecSchema.parse({ credentialsSecretRef: { name: "s" }, default: index === 0 });
    stores.push({
      storeId: `s${String(index).padStart(4, "0")}`,
      spec: { ...spec, description, volumeType, regionName, extraOptions: { x_value: extra ?? "" } },
      credentials: { auth: { kind: "password", authUrl: KEYSTONE, username: "glance", password: password ?? "", projectName: "service", userDomainName: "Default", projectDomainName: "Default" } },
    });
  }
  return stores;
}

test("hundreds of arbitrary strings, as every kind of value, read back exactly through oslo.config", async (t) => {
  const sampled = fc.sample(osloString, { seed: 20240501, numRuns: 600 }).filter((value) => unrepresentableReason(value) === undefined);
  const values = [...NASTY_VALUES, ...sampled];
  const stores = storesCarrying(values);
  const rendered = renderStoresConfig(stores);
  if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors.slice(0, 3)));
  const dir = await configDir({ [STORES_CONF_FILE]: rendered.config.storesConf, [CREDENTIALS_CONF_FILE]: rendered.config.credentialsConf });
  const read = await readWithOslo(dir);

  t.deepEqual(read["DEFAULT"]?.["enabled_backends"], Object.fromEntries(stores.map((s) => [s.storeId, "cinder"])));
  t.is(read["glance_store"]?.["default_backend"], "s0000");
  let compared = 0;
  for (const store of stores) {
    const section = read[store.storeId] ?? {};
    const auth = store.credentials.auth;
    const expected = {
      store_description: store.spec.description,
      cinder_volume_type: store.spec.volumeType,
      cinder_os_region_name: store.spec.regionName,
      x_value: store.spec.extraOptions?.["x_value"],
      cinder_store_password: auth.kind === "password" ? auth.password : undefined,
      cinder_http_retries: 3,
      cinder_api_insecure: false,
    };
    for (const [option, value] of Object.entries(expected)) {
      if (section[option] !== value) t.fail(`[${store.storeId}] ${option}: oslo.config read ${JSON.stringify(section[option])}, expected ${JSON.stringify(value)}`);
      compared += 1;
    }
  }
  t.is(compared, 7 * stores.length);
  t.true(5 * stores.length >= values.length && values.length > 500, `${values.length} values in ${stores.length} stores`);
});

test("the oslo model used by the fast property tests agrees with oslo.config", async (t) => {
  const values = [...NASTY_VALUES, ...fc.sample(osloString, { seed: 7, numRuns: 300 })].filter((v) => unrepresentableReason(v) === undefined);
  // Written raw (no escaping): where the model predicts a value, oslo.config must read that value.
  const lines = ["[DEFAULT]", "enabled_backends = m:cinder", "[glance_store]", "default_backend = m", "[m]"];
  const predicted: Record<string, string> = {};
  values.forEach((value, index) => {
    try {
      predicted[`v${index}`] = osloReadsValue(value);
      lines.push(`v${index} = ${value}`);
    } catch {
      // The model says oslo.config would interpolate: left out here, covered below.
    }
  });
  const dir = await configDir({ "model.conf": `${lines.join("\n")}\n` });
  const read = (await readWithOslo(dir))["m"] ?? {};
  for (const [option, value] of Object.entries(predicted)) if (read[option] !== value) t.fail(`${option}: oslo ${JSON.stringify(read[option])}, model ${JSON.stringify(value)}`);
  t.true(Object.keys(predicted).length > 200);
});

test("what the renderer refuses or avoids really breaks oslo.config", async (t) => {
  const base = "[DEFAULT]\nenabled_backends = m:cinder\n[glance_store]\ndefault_backend = m\n[m]\n";
  // "$ is written $$" does not hold after a backslash (docs/foundations.md section 2): oslo.config tries to interpolate an option y.
  const dollar = await configDir({ "a.conf": `${base}store_description = "x\\$$y"\n` });
  await t.throwsAsync(readWithOslo(dollar), { instanceOf: OsloReadError, message: /NoSuchOptError/ });
  // A carriage return ends the line: the rest is a line without "=".
  const cr = await configDir({ "a.conf": `${base}cinder_store_password = "a\rb"\n` });
  await t.throwsAsync(readWithOslo(cr), { instanceOf: OsloReadError, message: /ParseError|No ':' or '='/ });
  // Unquoted, surrounding spaces and one pair of quotes are lost.
  const bare = await configDir({ "a.conf": `${base}store_description =   "padded"  \n` });
  t.is((await readWithOslo(bare))["m"]?.["store_description"], "padded");
});
