/**
 * `glance-store-operator migrate`, pure: glance-api.conf texts in, through
 * runMigrate with its files and Cinder faked, manifests and report out.
 * Every manifest is validated with the API's schemas and rendered again;
 * the rendered files are read back as oslo.config reads them and compared
 * with the source file, option by option.
 */
import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { decodeSecretData, parseCredentialsSecret, type ResolvedCredentials } from "../../src/api/credentials.js";
import { effectiveStoreId, GlanceStoreSchema, type GlanceStore } from "../../src/api/glancestore.js";
import { GlanceStoreTargetSchema, type GlanceStoreTarget } from "../../src/api/glancestoretarget.js";
import { MIGRATE_USAGE, runMigrate } from "../../src/cli/migrate.js";
import type { CinderFacts } from "../../src/migrate/cinder-check.js";
import { driverOfOption, FIELD_OPTIONS } from "../../src/migrate/glance-conf.js";
import { osloBoolean, osloDict, osloInteger, osloStringValue, parseOsloIni, type IniFile } from "../../src/migrate/ini.js";
import { renderStoresConfig, type StoreToRender } from "../../src/render/render.js";
import type { ImageVolumesByTypeResult, StoreCheckResult } from "../../src/openstack/client.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "dist/src/cli/main.js");

const PASSWORD = 'pa$$word "q" #x ;y';
/** What oslo.config reads from PASSWORD as written in a file: `$$` is one `$`. */
const PASSWORD_READ = 'pa$word "q" #x ;y';
const SLOW_PASSWORD = "slow-Secret-77";

/** The blueprint's before-config: a single-store Glance on Cinder, volume type glance-old. */
const LEGACY = `[DEFAULT]
bind_host = 0.0.0.0
show_image_direct_url = true

[database]
connection = postgresql://glance:db-password-1@db/glance

[keystone_authtoken]
password = authtoken-password-1

[glance_store]
stores = cinder
default_store = cinder
cinder_volume_type = glance-old
cinder_store_auth_address = https://keystone.example.com/v3
cinder_store_user_name = glance
cinder_store_password = "${PASSWORD}"
cinder_store_project_name = service
cinder_store_user_domain_name = Default
cinder_store_project_domain_name = Default
cinder_catalog_info = volumev3::publicURL
cinder_http_retries = 5
cinder_state_transition_timeout = 600
cinder_use_multipath = yes
cinder_mount_point_base: /var/lib/glance/mnt
rootwrap_config = /etc/glance/rootwrap.conf
`;

const MULTI = `[DEFAULT]
enabled_backends = fast:cinder, slow:cinder, local:file

[glance_store]
default_backend = local

[fast]
store_description = "Fast SSD, $$5/GB"
cinder_volume_type = glance-fast
cinder_store_auth_address = https://keystone.example.com/v3
cinder_store_user_name = glance
cinder_store_password = ${PASSWORD}
cinder_store_project_name = service
os_region_name = RegionOne
weight = 10
cinder_future_option = "on $$ off"

[slow]
store_description = Slow HDD
cinder_volume_type = glance-slow
cinder_store_auth_address = https://keystone.example.com/v3
cinder_store_user_name = glance
cinder_store_password = ${PASSWORD}
cinder_store_project_name = service
cinder_api_insecure = True

[local]
filesystem_store_datadir = /var/lib/glance/images

[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging
`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly written: Map<string, string>;
}

async function migrate(files: Record<string, string>, args: readonly string[], cinder?: CinderFacts): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const written = new Map<string, string>();
  const code = await runMigrate(args, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readFile: async (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error("not found"), { code: "ENOENT" });
      return text;
    },
    writeFile: async (path, content) => void written.set(path, content),
    ...(cinder === undefined ? {} : { cinder: () => cinder }),
  });
  return { code, stdout, stderr, written };
}

interface Manifests {
  readonly target: GlanceStoreTarget;
  readonly stores: GlanceStore[];
  readonly secrets: { name: string; data: Record<string, string>; annotations: Record<string, string> | undefined }[];
  readonly kinds: string[];
}

/** Parses the YAML and validates every object with the API's schemas. */
function manifests(t: ExecutionContext, yaml: string): Manifests {
  const documents = parseAllDocuments(yaml).map((document) => {
    t.deepEqual(document.errors, []);
    return document.toJS() as Record<string, unknown>;
  });
  const stores: GlanceStore[] = [];
  const secrets: Manifests["secrets"] = [];
  let target: GlanceStoreTarget | undefined;
  for (const object of documents) {
    if (object["kind"] === "GlanceStore") stores.push(GlanceStoreSchema.parse(object));
    else if (object["kind"] === "GlanceStoreTarget") target = GlanceStoreTargetSchema.parse(object);
    else if (object["kind"] === "Secret") {
      t.is(object["apiVersion"], "v1");
      t.is(object["type"], "Opaque");
      const metadata = object["metadata"] as { name: string; annotations?: Record<string, string> };
      const decoded = decodeSecretData({ stringData: object["stringData"] }, metadata.name);
      if (!decoded.ok) throw new Error(JSON.stringify(decoded.issues));
      secrets.push({ name: metadata.name, data: decoded.data, annotations: metadata.annotations });
    } else t.fail(`unexpected kind ${String(object["kind"])}`);
  }
  if (target === undefined) throw new Error("no GlanceStoreTarget");
  return { target, stores, secrets, kinds: documents.map((object) => String(object["kind"])) };
}

/** Renders the manifests as the controller renders a target: its otherStores and defaultStore, each store with its Secret. */
function renderManifests(m: Manifests) {
  const credentials = (name: string): ResolvedCredentials => {
    const secret = m.secrets.find((s) => s.name === name);
    if (secret === undefined) throw new Error(`no Secret ${name}`);
    const parsed = parseCredentialsSecret(secret.data, { name });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return parsed.credentials;
  };
  const stores: StoreToRender[] = m.stores.map((store) => ({ storeId: effectiveStoreId(store), spec: store.spec, credentials: credentials(store.spec.credentialsSecretRef.name) }));
  const result = renderStoresConfig(stores, { otherStores: m.target.spec.otherStores ?? [], ...(m.target.spec.defaultStore === undefined ? {} : { defaultStoreId: m.target.spec.defaultStore }) });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

function ini(text: string): IniFile {
  const parsed = parseOsloIni(text);
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return parsed.file;
}

/** What oslo.config hands Glance for an option, typed as glance_store declares it. */
function osloReads(name: string, raw: string): unknown {
  const text = osloStringValue(raw);
  if (!text.ok) throw new Error(`${name} interpolates`);
  const kind = (FIELD_OPTIONS as Record<string, { kind: string }>)[name]?.kind ?? "string";
  return kind === "integer" ? osloInteger(text.value) : kind === "boolean" ? osloBoolean(text.value) : text.value;
}

/** Options of a section as Glance reads them; the rendered files are merged as oslo.config merges a config dir. */
function sectionValues(file: IniFile, section: string): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const option of file.sections.get(section)?.options.values() ?? []) values.set(option.name, osloReads(option.name, option.raw));
  return values;
}

/** The options of a source section that a cinder store reads (a legacy [glance_store] holds others too), by the name the renderer writes. */
function cinderOptionName(name: string): string | undefined {
  if (name === "os_region_name") return "cinder_os_region_name";
  return driverOfOption(name) === "cinder" || name in FIELD_OPTIONS ? name : undefined;
}

/**
 * The round trip: every store option of `sourceSection` reads the same in
 * the rendered section; enabled_backends and default_backend are the
 * source's.
 */
function assertRoundTrip(t: ExecutionContext, source: IniFile, rendered: { storesConf: string; credentialsConf: string }, pairs: readonly [string, string][]): void {
  const storesFile = ini(rendered.storesConf);
  const credentialsFile = ini(rendered.credentialsConf);
  for (const [sourceSection, storeId] of pairs) {
    const before = sectionValues(source, sourceSection);
    const after = new Map([...sectionValues(credentialsFile, storeId), ...sectionValues(storesFile, storeId)]);
    let compared = 0;
    for (const [name, value] of before) {
      const renderedName = cinderOptionName(name);
      if (renderedName === undefined) continue;
      t.deepEqual(after.get(renderedName), value, `[${sourceSection}] ${name} reads the same in the rendered [${storeId}] ${renderedName}`);
      compared++;
    }
    t.true(compared >= 5, `${compared} options compared for [${sourceSection}]`);
  }
}

test("the blueprint's legacy config: one GlanceStore glance-old (default, volumeType glance-old), one Secret, a target; it renders back to the same options", async (t) => {
  const run = await migrate({ "/etc/glance/glance-api.conf": LEGACY }, ["--from", "/etc/glance/glance-api.conf"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.deepEqual(m.kinds, ["GlanceStoreTarget", "GlanceStore", "Secret"]);
  t.is(m.target.metadata.name, "glance-api");
  t.is(m.target.metadata.namespace, "openstack");
  t.deepEqual(m.target.spec, {});
  t.is(m.stores.length, 1);
  const store = m.stores[0] as GlanceStore;
  t.is(store.metadata.name, "glance-old");
  t.is(effectiveStoreId(store), "glance-old");
  t.is(store.spec.volumeType, "glance-old");
  t.true(store.spec.default);
  t.is(store.spec.target, "glance-api");
  t.deepEqual(store.spec.credentialsSecretRef, { name: "glance-cinder" });
  t.like(store.spec, { httpRetries: 5, stateTransitionTimeoutSeconds: 600, useMultipath: true, mountPointBase: "/var/lib/glance/mnt" });
  t.deepEqual(m.secrets, [
    {
      name: "glance-cinder",
      annotations: undefined,
      data: { authUrl: "https://keystone.example.com/v3", username: "glance", password: PASSWORD_READ, projectName: "service", userDomainName: "Default", projectDomainName: "Default" },
    },
  ]);

  const rendered = renderManifests(m);
  t.regex(rendered.storesConf, /^enabled_backends = glance-old:cinder$/m);
  t.regex(rendered.storesConf, /^default_backend = glance-old$/m);
  assertRoundTrip(t, ini(LEGACY), rendered, [["glance_store", "glance-old"]]);

  t.regex(run.stderr, /read: {2}single store \(legacy\): stores = cinder; default_store = cinder/);
  t.regex(run.stderr, /GlanceStore glance-old: store id glance-old, volume type glance-old, default, Secret glance-cinder/);
  t.regex(run.stderr, /\[glance_store\]: stores, default_store, cinder_volume_type, .*cinder_store_password/);
  // Glance's own options are not store options: not a word about them.
  t.notRegex(run.stderr, /database|keystone_authtoken|bind_host|show_image_direct_url/);
});

test("a multi-store config: two GlanceStores, the target keeps local:file and makes it the default; enabled_backends, default and every option come back", async (t) => {
  const run = await migrate({ "g.conf": MULTI }, ["--from", "g.conf", "-n", "glance", "--target", "images"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.deepEqual(m.kinds, ["GlanceStoreTarget", "GlanceStore", "GlanceStore", "Secret"]);
  t.deepEqual(m.target.metadata, { name: "images", namespace: "glance" });
  t.deepEqual(m.target.spec.otherStores, [{ id: "local", type: "file" }]);
  t.is(m.target.spec.defaultStore, "local");
  t.deepEqual(
    m.stores.map((s) => [s.metadata.name, s.spec.volumeType, s.spec.default, s.spec.target, s.spec.credentialsSecretRef.name]),
    [
      ["fast", "glance-fast", false, "images", "glance-cinder"],
      ["slow", "glance-slow", false, "images", "glance-cinder"],
    ],
  );
  t.like(m.stores[0]?.spec, { description: "Fast SSD, $5/GB", regionName: "RegionOne", weight: 10, extraOptions: { cinder_future_option: "on $ off" } });
  t.like(m.stores[1]?.spec, { description: "Slow HDD", apiInsecure: true });
  t.is(m.secrets.length, 1, "one credential set, one Secret");

  const rendered = renderManifests(m);
  const source = ini(MULTI);
  const sourceBackends = osloDict(source.sections.get("DEFAULT")?.options.get("enabled_backends")?.raw ?? "");
  const renderedBackends = osloDict(ini(rendered.storesConf).sections.get("DEFAULT")?.options.get("enabled_backends")?.raw ?? "");
  if (!sourceBackends.ok || !renderedBackends.ok) throw new Error("enabled_backends unreadable");
  t.deepEqual([...renderedBackends.entries].sort(), [...sourceBackends.entries].sort());
  t.is(ini(rendered.storesConf).sections.get("glance_store")?.options.get("default_backend")?.raw, "local");
  assertRoundTrip(t, source, rendered, [
    ["fast", "fast"],
    ["slow", "slow"],
  ]);
  t.regex(run.stderr, /keep the sections \[local\]: the operator only names these stores in enabled_backends/);
  t.regex(run.stderr, /\[fast\] \(the whole section\)/);
  // Glance's reserved staging store is not a store to migrate.
  t.notRegex(run.stderr, /os_glance_staging_store/);
});

test("a cinder default in a multi-store config is default: true on its GlanceStore; the target has no defaultStore", async (t) => {
  const run = await migrate({ "g.conf": MULTI.replace("default_backend = local", "default_backend = slow") }, ["--from", "g.conf"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.is(m.target.spec.defaultStore, undefined);
  t.deepEqual(
    m.stores.map((s) => [s.metadata.name, s.spec.default]),
    [
      ["fast", false],
      ["slow", true],
    ],
  );
  t.regex(renderManifests(m).storesConf, /^default_backend = slow$/m);
});

test("unknown, refused and other drivers' options are reported by section and name, never by value; unknown cinder options travel as extraOptions", async (t) => {
  const conf = MULTI.replace(
    "weight = 10\n",
    "weight = 10\ncinder_frobnicate = on\nswift_store_key = swift-Secret-9\ncinder_api_token = token-Secret-8\nNotAnOption = 1\nfilesystem_store_datadir = /x\n",
  ).replace("[glance_store]\n", "[glance_store]\nstores = cinder\ncinder_store_password = legacy-Secret-7\n");
  const run = await migrate({ "g.conf": conf }, ["--from", "g.conf"]);
  t.is(run.code, 0, run.stderr);
  for (const expected of [
    /\[fast\] cinder_api_token: looks like a secret.*not migrated/,
    /\[fast\] swift_store_key: an option of the swift driver, which a cinder store does not read: not migrated/,
    /\[fast\] filesystem_store_datadir: an option of the file driver/,
    /\[fast\] NotAnOption: not an option name a GlanceStore can carry/,
    /\[fast\] cinder_frobnicate: not an option this operator models: carried as spec.extraOptions/,
    /\[glance_store\] stores: a single-store option, which a multi-store Glance \(enabled_backends set\) does not read/,
    /\[glance_store\] cinder_store_password: a single-store option/,
  ]) {
    t.regex(run.stderr, expected);
  }
  for (const secret of ["swift-Secret-9", "token-Secret-8", "legacy-Secret-7"]) {
    t.false(run.stderr.includes(secret), secret);
    t.false(run.stdout.includes(secret), secret);
  }
  const m = manifests(t, run.stdout);
  t.deepEqual(m.stores[0]?.spec.extraOptions, { cinder_frobnicate: "on", cinder_future_option: "on $ off" });
});

test("stores with different credentials: two Secrets, and a warning that glance_store uses the first store's for all", async (t) => {
  const conf = MULTI.replace(/(\[slow\][^[]*?)cinder_store_user_name = glance\ncinder_store_password = [^\n]*\n/, `$1cinder_store_user_name = glance-slow\ncinder_store_password = ${SLOW_PASSWORD}\n`).replace(
    "enabled_backends = fast:cinder, slow:cinder",
    "enabled_backends = slow:cinder, fast:cinder",
  );
  const run = await migrate({ "g.conf": conf }, ["--from", "g.conf"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.deepEqual(
    m.secrets.map((s) => [s.name, s.data["username"]]),
    [
      ["glance-cinder", "glance"],
      ["glance-cinder-slow", "glance-slow"],
    ],
  );
  t.deepEqual(
    m.stores.map((s) => [s.metadata.name, s.spec.credentialsSecretRef.name]),
    [
      ["fast", "glance-cinder"],
      ["slow", "glance-cinder-slow"],
    ],
  );
  t.regex(run.stderr, /Warnings:\n {2}- the cinder stores use 2 different credential sets \(Secrets glance-cinder, glance-cinder-slow\): glance_store makes one Cinder session per glance-api process, with the credentials of the first cinder store of enabled_backends \("fast", Secret glance-cinder\)/);
  t.regex(run.stderr, /Your enabled_backends lists "slow" first, so Glance has used the credentials of Secret glance-cinder-slow so far/);
  renderManifests(m);
});

test("no password in the report, the --dry-run output or errors: only the Secret manifest holds it", async (t) => {
  const secrets = [PASSWORD, PASSWORD_READ, SLOW_PASSWORD, "authtoken-password-1", "db-password-1", "url-Secret-3", "word-Secret-2"];
  const multi = MULTI.replace(/(\[slow\][^[]*?)cinder_store_password = [^\n]*\n/, `$1cinder_store_password = ${SLOW_PASSWORD}\n`);
  const runs = {
    legacyDryRun: await migrate({ f: LEGACY }, ["--from", "f", "--dry-run"]),
    multiDryRun: await migrate({ f: multi }, ["--from", "f", "--dry-run"]),
    legacyToFile: await migrate({ f: LEGACY }, ["--from", "f", "--out", "/tmp/x.yaml"]),
    multiToStdout: await migrate({ f: multi }, ["--from", "f"]),
    refused: await migrate({ f: `${multi}\n[fast]\ncinder_volume_type = $cinder_store_password\n` }, ["--from", "f"]),
    badUrl: await migrate({ f: LEGACY.replace("https://keystone.example.com/v3", "https://glance:url-Secret-3@keystone.example.com/v3") }, ["--from", "f"]),
    interpolatedPassword: await migrate({ f: LEGACY.replace(`"${PASSWORD}"`, "pass$word-Secret-2") }, ["--from", "f"]),
  };
  for (const [name, run] of Object.entries(runs)) {
    for (const secret of secrets) {
      t.false(run.stderr.includes(secret), `${name}: stderr holds a secret`);
      if (name !== "multiToStdout") t.false(run.stdout.includes(secret), `${name}: stdout holds a secret`);
    }
  }
  t.is(runs.legacyDryRun.code, 0);
  t.regex(runs.legacyDryRun.stdout, /password: <redacted>/);
  t.regex(runs.legacyDryRun.stdout, /# What Glance would run: \/etc\/glance\/glance.conf.d\/glance-api-stores.conf \(ConfigMap glance-api-stores; it holds no secret\)\n# Generated by glance-store-operator/);
  t.regex(runs.legacyDryRun.stdout, /^# enabled_backends = glance-old:cinder\n# default_backend = glance-old$/m);
  t.regex(runs.legacyDryRun.stderr, /wrote: nothing \(--dry-run\)/);
  t.is(runs.legacyToFile.code, 0);
  t.true(runs.legacyToFile.written.get("/tmp/x.yaml")?.includes(`password: ${PASSWORD_READ}`) || runs.legacyToFile.written.get("/tmp/x.yaml")?.includes(`password: '${PASSWORD_READ}'`), "the file holds the Secret");
  t.regex(runs.legacyToFile.stdout, /wrote: \/tmp\/x.yaml \(mode 0600/);
  // With --out -, the manifests on stdout hold the password in the Secret only.
  const secretDocument = runs.multiToStdout.stdout.split("---\n").filter((document) => document.includes(SLOW_PASSWORD) || document.includes(PASSWORD_READ));
  t.true(secretDocument.length >= 1 && secretDocument.every((document) => /^kind: Secret$/m.test(document)));
  t.is(runs.refused.code, 1);
  t.regex(runs.refused.stderr, /\[fast\] cinder_volume_type: its value interpolates the option "cinder_store_password"/);
  t.is(runs.badUrl.code, 1);
  t.regex(runs.badUrl.stderr, /cinder_store_auth_address: Secret "glance-cinder" key authUrl holds user information/);
  t.is(runs.interpolatedPassword.code, 1);
  t.regex(runs.interpolatedPassword.stderr, /\[glance_store\] cinder_store_password: its value interpolates another option/);
});

test("no credentials in the file: a Secret template with empty values, marked, and a warning to create it by hand", async (t) => {
  const conf = LEGACY.split("\n").filter((line) => !line.startsWith("cinder_store_")).join("\n");
  const run = await migrate({ f: conf }, ["--from", "f"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.deepEqual(m.secrets[0]?.data, { authUrl: "", username: "", password: "", projectName: "" });
  t.deepEqual(m.secrets[0]?.annotations, { "glance.stores.dev/migrate-template": "fill in authUrl, username, password, projectName before applying" });
  t.regex(run.stdout, /# TEMPLATE: the file has no cinder_store_auth_address, cinder_store_user_name, cinder_store_password, cinder_store_project_name/);
  t.regex(run.stderr, /Secret glance-cinder: authUrl, username, password, projectName -- TEMPLATE: fill in/);
  t.regex(run.stderr, /the file sets no cinder_store_\* credentials .*create Secret glance-cinder by hand/);

  t.regex(run.stderr, /find out, once you know the credentials of Secret glance-cinder \(--check-cinder needs them in the file\)/);
  const check = await migrate({ f: conf }, ["--from", "f", "--check-cinder"], fakeCinder({ defaultType: "x", volumes: [] }));
  t.is(check.code, 1);
  t.regex(check.stderr, /--check-cinder needs the credentials glance_store uses, and \[glance_store\] lacks cinder_store_auth_address, cinder_store_user_name, cinder_store_password, cinder_store_project_name/);
});

test("a legacy store with other drivers: they become otherStores (file as local), and the report prints the lines to add without secrets", async (t) => {
  const conf = LEGACY.replace("stores = cinder\ndefault_store = cinder", "stores = file, cinder, http, swift\ndefault_store = file")
    .concat("filesystem_store_datadir = /var/lib/glance/images/\nswift_store_user = glance:swift\nswift_store_key = swift-Secret-5\nrbd_store_pool = images\nsome_new_option = 1\n");
  const run = await migrate({ f: conf }, ["--from", "f"]);
  t.is(run.code, 0, run.stderr);
  const m = manifests(t, run.stdout);
  t.deepEqual(m.target.spec.otherStores, [
    { id: "local", type: "file" },
    { id: "http", type: "http" },
    { id: "swift", type: "swift" },
  ]);
  t.is(m.target.spec.defaultStore, "local");
  t.false(m.stores[0]?.spec.default);
  const storesConf = renderManifests(m).storesConf;
  t.regex(storesConf, /^enabled_backends = glance-old:cinder, http:http, local:file, swift:swift$/m);
  t.regex(storesConf, /^default_backend = local$/m);
  t.regex(run.stderr, /the legacy file store becomes the store "local": "file" is the name of an option group glance-api already uses/);
  t.regex(run.stderr, / {4}\[local\]\n {4}filesystem_store_datadir = \/var\/lib\/glance\/images\/\n\n {4}\[swift\]\n {4}swift_store_user = glance:swift\n {4}swift_store_key = <the value of \[glance_store\] swift_store_key>/);
  t.regex(run.stderr, /\[glance_store\] rbd_store_pool: an option of the rbd driver, which is not among stores/);
  t.regex(run.stderr, /\[glance_store\] some_new_option: not a glance_store option this migration knows/);
  t.false(run.stderr.includes("swift-Secret-5"));
});

test("usage errors exit 2; a file that cannot be migrated exits 1 and writes nothing", async (t) => {
  const noFrom = await migrate({}, []);
  t.is(noFrom.code, 2);
  t.regex(noFrom.stderr, /--from PATH is required/);
  t.is((await migrate({}, ["--from", "f", "--frobnicate"])).code, 2);
  const help = await migrate({}, ["--help"]);
  t.is(help.code, 0);
  t.is(help.stdout, MIGRATE_USAGE);
  t.is((await migrate({ f: LEGACY }, ["--from", "f", "--target", "Glance_API"])).code, 2);
  t.is((await migrate({ f: LEGACY }, ["--from", "f", "--store-id", "file"])).code, 2);
  t.is((await migrate({ f: LEGACY }, ["--from", "f", "--secret-name", "glance-api-stores-credentials"])).code, 2);

  const multiWithId = await migrate({ f: MULTI }, ["--from", "f", "--store-id", "x"]);
  t.is(multiWithId.code, 2);
  t.regex(multiWithId.stderr, /--store-id is for a single-store \(legacy\) config/);

  const untyped = LEGACY.replace("cinder_volume_type = glance-old\n", "");
  const needsId = await migrate({ f: untyped }, ["--from", "f"]);
  t.is(needsId.code, 2);
  t.regex(needsId.stderr, /cinder_volume_type is unset: give --store-id ID, or --check-cinder/);
  const badType = await migrate({ f: LEGACY.replace("glance-old", "Ceph SSD") }, ["--from", "f"]);
  t.is(badType.code, 2);
  t.regex(badType.stderr, /store id "Ceph SSD" is not 1 to 63 characters.*: give --store-id ID/);
  const withId = await migrate({ f: untyped }, ["--from", "f", "--store-id", "old"]);
  t.is(withId.code, 0, withId.stderr);
  t.is(manifests(t, withId.stdout).stores[0]?.spec.volumeType, undefined);
  t.regex(withId.stderr, /Cinder's default volume type for the project of Secret glance-cinder: store old sets no cinder_volume_type/);
  t.regex(withId.stderr, /find out: glance-store-operator migrate --from f --store-id old --check-cinder --dry-run/);
  t.regex(withId.stderr, /openstack volume type list --default/);

  for (const [conf, expected] of [
    [MULTI.replace("default_backend = local\n", ""), /default_backend is unset: glance-api does not start without it/],
    [MULTI.replace("default_backend = local", "default_backend = nope"), /default_backend "nope" is not a store of enabled_backends/],
    [MULTI.replace("fast:cinder, slow:cinder, ", ""), /enabled_backends names no cinder store/],
    [MULTI.replace("local:file", "local:gridfs"), /store "local" has the type "gridfs"/],
    [MULTI.replace("fast:cinder", "os_glance_x:cinder"), /reserved prefix "os_glance_"/],
    [LEGACY.replace("stores = cinder", "stores = file"), /there is no cinder store among stores/],
    [LEGACY.replace("cinder_http_retries = 5", "cinder_http_retries = 500"), /cinder_http_retries \(spec.httpRetries\): Too big/],
    [LEGACY.replace("cinder_use_multipath = yes", "cinder_use_multipath = maybe"), /cinder_use_multipath: is not a boolean/],
    [LEGACY.replace("cinder_http_retries = 5", "cinder_http_retries = 5\n  6"), /cinder_http_retries: its value goes on over indented continuation lines/],
    [`cinder_volume_type = x\n${LEGACY}`, /line 1: an option before any \[section\]/],
    [MULTI.replace("fast:cinder", "fast:cinder, fast2:cinder"), /store id "fast" is a prefix of "fast2"/],
  ] as const) {
    const run = await migrate({ f: conf }, ["--from", "f"]);
    t.is(run.code, 1, `${String(expected)}: ${run.stderr}`);
    t.is(run.stdout, "");
    t.regex(run.stderr, /cannot be (migrated|read as an oslo.config file); nothing written/);
    t.regex(run.stderr, expected);
  }
  const clash = await migrate({ f: LEGACY.replace("stores = cinder", "stores = cinder, file").replace("glance-old", "local") }, ["--from", "f"]);
  t.is(clash.code, 2);
  t.regex(clash.stderr, /its volume type's name, "local", which is also the id of the legacy file store: give --store-id ID/);
  const emptyBackends = await migrate({ f: LEGACY.replace("[DEFAULT]\n", "[DEFAULT]\nenabled_backends =\n") }, ["--from", "f"]);
  t.is(emptyBackends.code, 0, emptyBackends.stderr);
  t.regex(emptyBackends.stderr, /\[DEFAULT\] enabled_backends: empty, so Glance runs a single store from \[glance_store\]/);
  const missing = await migrate({}, ["--from", "/nope.conf"]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot read \/nope.conf: ENOENT/);
});

test("store ids that are no object name: a sanitized metadata.name and spec.storeId", async (t) => {
  const conf = MULTI.replaceAll("slow", "slow_tier");
  const run = await migrate({ f: conf }, ["--from", "f"]);
  t.is(run.code, 0, run.stderr);
  const slow = manifests(t, run.stdout).stores.find((s) => s.spec.volumeType === "glance-slow_tier");
  t.is(slow?.metadata.name, "slow-tier");
  t.is(slow?.spec.storeId, "slow_tier");
  t.regex(run.stderr, /store "slow_tier" is the GlanceStore slow-tier \(an object name cannot be the id\) with spec.storeId "slow_tier"/);
});

/** A Cinder that answers from a table. */
function fakeCinder(options: { defaultType: string; volumes: { type: string | undefined; count: number }[]; missingTypes?: string[] }): CinderFacts & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    defaultVolumeType: async (target) => {
      asked.push(`default:${target.credentials.auth.kind === "password" ? target.credentials.auth.projectName : ""}`);
      return { ok: true, volumeType: { id: "id-1", name: options.defaultType }, projectId: "p-1" };
    },
    checkStores: async (requests) => {
      const results = new Map<string, StoreCheckResult>();
      for (const request of requests) {
        asked.push(`type:${request.volumeType}`);
        if (options.missingTypes?.includes(request.volumeType ?? "")) {
          const { VolumeTypeNotFoundError } = await import("../../src/openstack/errors.js");
          results.set(request.key, { ok: false, authenticated: true, error: new VolumeTypeNotFoundError(`volume type "${request.volumeType}" does not exist in Cinder`) });
        } else {
          results.set(request.key, { ok: true, volumeType: { id: "t", name: request.volumeType ?? "", isPublic: true }, resolvedDefault: false, endpoint: "http://cinder/v3/p-1", projectId: "p-1" });
        }
      }
      return results;
    },
    imageVolumesByType: async (requests) => {
      const results = new Map<string, ImageVolumesByTypeResult>();
      for (const request of requests) {
        asked.push("volumes");
        results.set(request.key, { ok: true, projectId: "p-1", byType: options.volumes.map((v) => ({ volumeType: v.type, count: v.count })) });
      }
      return results;
    },
    close: async () => {},
  };
}

test("--check-cinder (faked Cinder): pins the default type into spec.volumeType and the id, reports types no store covers with counts, and names types Cinder lacks", async (t) => {
  const untyped = LEGACY.replace("cinder_volume_type = glance-old\n", "");
  const cinder = fakeCinder({
    defaultType: "glance-old",
    volumes: [
      { type: "glance-old", count: 5 },
      { type: "glance-orphan", count: 3 },
      { type: undefined, count: 1 },
    ],
  });
  const run = await migrate({ f: untyped }, ["--from", "f", "--check-cinder"], cinder);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(cinder.asked, ["default:service", "volumes"]);
  const store = manifests(t, run.stdout).stores[0];
  t.is(store?.metadata.name, "glance-old");
  t.is(store?.spec.volumeType, "glance-old");
  t.regex(run.stderr, /Cinder \(--check-cinder\):\n {2}- cinder_volume_type was unset; Cinder's default type for project service \(p-1\) is glance-old; pinned \(GlanceStore glance-old, spec.volumeType\)/);
  t.regex(run.stderr, /image volumes in project service \(p-1\) \(Secret glance-cinder\): glance-old 5 \(store glance-old\), glance-orphan 3, \(no type\) 1/);
  t.regex(run.stderr, /- 3 image volumes of type glance-orphan: their legacy images would stay unmapped/);
  t.regex(run.stderr, /- 1 image volume without a volume type: their legacy images would stay unmapped/);
  t.notRegex(run.stderr, /Not known without --check-cinder/);

  const missing = fakeCinder({ defaultType: "x", volumes: [], missingTypes: ["glance-slow"] });
  const multi = await migrate({ f: MULTI }, ["--from", "f", "--check-cinder"], missing);
  t.is(multi.code, 0, multi.stderr);
  t.deepEqual(missing.asked, ["type:glance-fast", "type:glance-slow", "volumes"]);
  t.regex(multi.stderr, /store slow: volume type "glance-slow" does not exist in Cinder; the operator will not render the store until the type is usable/);
  t.regex(multi.stderr, /image volumes in project service \(p-1\) \(Secret glance-cinder\): none/);
});

test("the oslo.config reading: quotes, $ escapes, inline # kept, ':' as separator, section names lower-cased, last value wins", (t) => {
  const file = ini('[DEFAULT]\na = "x"\nb = \'y\'\n\n[Fast]\nc: 1 # not a comment\nd = p$$w\\$x\ne = 1\ne = 2\n  ; indented\n');
  t.deepEqual([...file.sections.keys()], ["DEFAULT", "fast"]);
  const fast = file.sections.get("fast");
  t.is(fast?.options.get("c")?.raw, "1 # not a comment");
  t.deepEqual(osloStringValue(fast?.options.get("d")?.raw ?? ""), { ok: true, value: "p$w$x" });
  t.is(fast?.options.get("e")?.raw, "2\n; indented");
  t.true(fast?.options.get("e")?.continued);
  t.true(fast?.repeated.has("e"));
  t.is(file.sections.get("DEFAULT")?.options.get("b")?.raw, "y");
  t.deepEqual(osloStringValue("a$b"), { ok: false, interpolates: "b" });
  t.deepEqual(osloStringValue("a${b.c}"), { ok: false, interpolates: "b.c" });
  t.deepEqual(osloStringValue("cost: 5$"), { ok: true, value: "cost: 5$" });
  const broken = parseOsloIni("[a\nx = 1\n");
  t.false(broken.ok);
});

test("glance-store-operator migrate --help through main", async (t) => {
  const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [MAIN, "migrate", "--help"], { timeout: 30_000 }, (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }));
  });
  t.is(run.code, 0);
  t.is(run.stdout, MIGRATE_USAGE);
  const top = await new Promise<string>((resolve) => execFile(process.execPath, [MAIN, "--help"], { timeout: 30_000 }, (_error, stdout) => resolve(stdout)));
  t.regex(top, /^ {2}migrate {3}Write the manifests/m);
});
