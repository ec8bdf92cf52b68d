/**
 * Older names of modelled options (oslo.config `deprecated_name`) in
 * spec.extraOptions. Why they are refused, shown with the REAL oslo.config
 * and glance_store of Debian's python3: glance_store reads the alias as the
 * modelled option, so an alias would set behind the typed field what the
 * operator checks. And that MODELLED_OPTION_ALIASES is exactly what the
 * installed glance_store declares for the options the API models.
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlanceStoreSpecSchema, MODELLED_OPTION_ALIASES, MODELLED_OPTION_NAMES } from "../../src/api/glancestore.js";
import { fieldProblems } from "../../src/api/issues.js";
import { runCommand } from "../../src/devstack/command.js";
import { CREDENTIALS_CONF_FILE, renderStoresConfig, STORES_CONF_FILE } from "../../src/render/render.js";
import { store } from "./scenarios.js";

const PYTHON_ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONIOENCODING: "utf-8" };

/** Every deprecated name of every option of glance_store's cinder driver and of its generic per-store options. */
const LIST_ALIASES = String.raw`
import json
from glance_store import driver
from glance_store._drivers import cinder
# glance_store < 4.3.0 has the driver in cinder.py; newer releases in cinder/store.py, which cinder/__init__.py re-exports.
options = list(cinder.Store.OPTIONS) + list(getattr(driver.Store, 'MULTI_BACKEND_OPTIONS', None) or [])
out = []
for opt in options:
    for old in opt.deprecated_opts:
        out.append({'option': opt.name, 'alias': old.name or opt.name, 'group': old.group})
print(json.dumps(out))
`;

/** The value of each store's cinder_os_region_name as glance_store reads it from a config dir. */
const READ_REGION = String.raw`
import json, sys
from oslo_config import cfg
from glance_store import multi_backend
conf = cfg.ConfigOpts()
conf.register_opt(cfg.DictOpt('enabled_backends'))
conf(args=['--config-dir', sys.argv[1]], project='gso-alias-check', default_config_files=[], default_config_dirs=[])
multi_backend.register_store_opts(conf)
print(json.dumps({store: conf[store].cinder_os_region_name for store in conf.enabled_backends}))
`;

let scratch: string;
test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "gso-aliases-"));
});
test.after.always(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function regionsAsGlanceStoreReadsThem(files: Record<string, string>): Promise<Record<string, string | null>> {
  const dir = await mkdtemp(join(scratch, "conf-"));
  await Promise.all(Object.entries(files).map(([name, content]) => writeFile(join(dir, name), content)));
  const result = await runCommand("/usr/bin/python3", ["-c", READ_REGION, dir], { env: PYTHON_ENV, timeoutMs: 60_000 });
  return JSON.parse(result.stdout) as Record<string, string | null>;
}

/** Adds `line` at the end of section `[id]` of a rendered file, where extraOptions would have put it. */
function appendToSection(conf: string, id: string, line: string): string {
  const lines = conf.split("\n");
  const start = lines.indexOf(`[${id}]`);
  if (start < 0) throw new Error(`no section [${id}]`);
  let end = lines.findIndex((text, index) => index > start && text.startsWith("["));
  if (end < 0) end = lines.length;
  while (end > start + 1 && (lines[end - 1] === "" || lines[end - 1]?.startsWith("#"))) end -= 1;
  return [...lines.slice(0, end), line, ...lines.slice(end)].join("\n");
}

test("MODELLED_OPTION_ALIASES is every deprecated name the installed glance_store declares for a modelled option", async (t) => {
  const result = await runCommand("/usr/bin/python3", ["-c", LIST_ALIASES], { env: PYTHON_ENV, timeoutMs: 60_000 });
  const declared = JSON.parse(result.stdout) as { option: string; alias: string; group: string | null }[];
  const modelled: ReadonlySet<string> = new Set(MODELLED_OPTION_NAMES);
  const ofModelled = declared.filter((entry) => modelled.has(entry.option));
  // Same group as the option: in multi-store mode, the store's own section, where extraOptions are written.
  t.deepEqual(
    ofModelled.map((entry) => entry.group),
    ofModelled.map(() => null),
  );
  t.deepEqual(
    Object.fromEntries(ofModelled.map((entry) => [entry.alias, entry.option])),
    Object.fromEntries(Object.entries(MODELLED_OPTION_ALIASES).map(([alias, { option }]) => [alias, option])),
  );
});

test("why: glance_store reads os_region_name in a store's section as its cinder_os_region_name", async (t) => {
  // Rendered as before this rule: fast without regionName, slow with it; then the alias added to both sections.
  const rendered = renderStoresConfig([store("fast", { default: true }), store("slow", { regionName: "RegionOne" })]);
  if (!rendered.ok) throw new Error(JSON.stringify(rendered.errors));
  t.deepEqual(await regionsAsGlanceStoreReadsThem({ [STORES_CONF_FILE]: rendered.config.storesConf, [CREDENTIALS_CONF_FILE]: rendered.config.credentialsConf }), {
    fast: null,
    slow: "RegionOne",
  });
  let withAlias = appendToSection(rendered.config.storesConf, "fast", 'os_region_name = "Elsewhere"');
  withAlias = appendToSection(withAlias, "slow", 'os_region_name = "Elsewhere"');
  // regionName unset: the operator looks Cinder up in no particular region, glance_store in Elsewhere.
  // regionName set, in the same file: oslo.config takes the current name first, so here the field still wins...
  t.deepEqual(await regionsAsGlanceStoreReadsThem({ [STORES_CONF_FILE]: withAlias, [CREDENTIALS_CONF_FILE]: rendered.config.credentialsConf }), {
    fast: "Elsewhere",
    slow: "RegionOne",
  });
  // ...but any file read later (another file in the config dir) overrides it through the alias.
  t.deepEqual(
    await regionsAsGlanceStoreReadsThem({
      [STORES_CONF_FILE]: rendered.config.storesConf,
      [CREDENTIALS_CONF_FILE]: rendered.config.credentialsConf,
      "zz-later.conf": '[slow]\nos_region_name = "Elsewhere"\n',
    }),
    { fast: null, slow: "Elsewhere" },
  );
});

for (const [alias, { option, field }] of Object.entries(MODELLED_OPTION_ALIASES)) {
  test(`zod refuses ${alias} in extraOptions and names ${field}`, (t) => {
    const result = GlanceStoreSpecSchema.safeParse({ credentialsSecretRef: { name: "s" }, extraOptions: { [alias]: "x" } });
    if (result.success) {
      t.fail("accepted");
      return;
    }
    const problems = fieldProblems(result.error.issues, ["spec"]);
    t.true(
      problems.some((p) => p.field === "spec.extraOptions" && p.message.includes(`${alias} is ${option}, set ${field} instead`)),
      JSON.stringify(problems),
    );
  });

  test(`the renderer refuses ${alias} in extraOptions even when the schema was bypassed`, (t) => {
    const bypassed = store("fast", { default: true });
    const result = renderStoresConfig([{ ...bypassed, spec: { ...bypassed.spec, extraOptions: { [alias]: "Elsewhere" } } }]);
    if (result.ok) {
      t.fail(`rendered: ${result.config.storesConf}`);
      return;
    }
    t.deepEqual(
      result.errors.map((error) => [error.code, error.field]),
      [["InvalidOptionName", `spec.extraOptions.${alias}`]],
    );
  });
}
