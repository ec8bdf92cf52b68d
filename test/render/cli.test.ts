/**
 * `glance-store-operator render` as a person runs it: a subprocess over
 * the manifests in test/fixtures/render/manifests, its output read back by
 * the real oslo.config.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readWithOslo } from "./oslo-reader.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "dist/src/cli/main.js");
const MANIFESTS = join(ROOT, "test/fixtures/render/manifests");
const FIXTURES = join(ROOT, "test/fixtures/render");
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

let scratch: string;
test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "gso-cli-"));
});
test.after.always(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function render(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, "render", ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}

const outDir = (): Promise<string> => mkdtemp(join(scratch, "out-"));

test("one target: both files written flat into --out, matching the golden files, readable by oslo.config", async (t) => {
  const out = await outDir();
  const run = await render(["-f", join(MANIFESTS, "one-target"), "--out", out]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, `openstack/glance-api: fast (default), slow -> ${out}\n`);
  t.regex(run.stderr, /ignored \(neither GlanceStore nor Secret\): ConfigMap openstack\/unrelated/);
  t.deepEqual((await readdir(out)).sort(), ["glance-api-stores-credentials.conf", "glance-api-stores.conf"]);
  t.is((await stat(join(out, "glance-api-stores-credentials.conf"))).mode & 0o777, 0o600);
  t.is((await stat(join(out, "glance-api-stores.conf"))).mode & 0o777, 0o644);

  for (const [file, golden] of [
    ["glance-api-stores.conf", "cli-one-target.stores.conf"],
    ["glance-api-stores-credentials.conf", "cli-one-target.credentials.conf"],
  ] as const) {
    const content = await readFile(join(out, file), "utf8");
    if (UPDATE) await writeFile(join(FIXTURES, golden), content);
    t.is(await readFile(join(FIXTURES, golden), "utf8").catch(() => "(no golden file)"), content, `${golden}: rerun with UPDATE_GOLDEN=1 if intended`);
  }

  const read = await readWithOslo(out);
  t.deepEqual(read["DEFAULT"]?.["enabled_backends"], { fast: "cinder", slow: "cinder" });
  t.is(read["glance_store"]?.["default_backend"], "fast");
  t.is(read["fast"]?.["cinder_store_password"], ' pa$$word "quoted" # ; \\$ ünï 🔑 ');
  t.is(read["fast"]?.["store_description"], "Really fast and expensive storage ($$$)");
  t.is(read["slow"]?.["cinder_store_password"], 'slow-$ecret "x" #1');
  t.is(read["slow"]?.["store_description"], '  Slow "archive" tier # cheap; big  ');
  t.is(read["slow"]?.["cinder_store_user_domain_name"], "Users");
});

test("-R reads subfolders too", async (t) => {
  const out = await outDir();
  const run = await render(["-R", "-f", join(MANIFESTS, "one-target"), "--out", out]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /fast \(default\), nested, slow/);
});

test("several targets: one folder per namespace and target", async (t) => {
  const out = await outDir();
  const run = await render(["-f", join(MANIFESTS, "two-targets.yaml"), "-o", out]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, `default/glance-internal: images (default) -> ${join(out, "default/glance-internal")}\nopenstack/glance-api: public (default) -> ${join(out, "openstack/glance-api")}\n`);
  const internal = await readWithOslo(join(out, "default/glance-internal"));
  t.is(internal["images"]?.["cinder_store_password"], "p");
  const publicStores = await readFile(join(out, "openstack/glance-api/glance-api-stores.conf"), "utf8");
  t.notRegex(publicStores, /cinder_store_application_credential|app \$/);
  const publicCredentials = await readFile(join(out, "openstack/glance-api/glance-api-stores-credentials.conf"), "utf8");
  t.regex(publicCredentials, /cinder_store_application_credential_id = "app-id"/);
  t.regex(publicCredentials, /cinder_store_application_credential_secret = "app \$\$ecret"/);
});

test("invalid input: nothing written, exit 1, every object and field named, no secret printed", async (t) => {
  const out = join(await outDir(), "never-created");
  const run = await render(["-f", join(MANIFESTS, "invalid"), "--out", out]);
  t.is(run.code, 1);
  t.is(run.stdout, "");
  await t.throwsAsync(stat(out));
  for (const expected of [
    /^nothing written: 4 problem\(s\)$/m,
    /^GlanceStore openstack\/too-many-retries \(\S+stores\.yaml#1\): spec\.httpRetries: /m,
    /^GlanceStore openstack\/orphan \(\S+#2\): spec\.credentialsSecretRef\.name: Secret openstack\/missing is not among the manifests given$/m,
    /^GlanceStore openstack\/echoed \(\S+#5\): spec\.credentialsSecretRef: Secret "echoed-password" key password contains a line break.*echo/m,
    /^target openstack\/glance-api: stores "first" \(GlanceStore openstack\/first\), "second" \(GlanceStore openstack\/second\) are all marked default/m,
  ]) {
    t.regex(run.stderr, expected);
  }
  t.notRegex(run.stderr, /hunter2/);
});

test("manifests on stdin, and the default namespace from -n", async (t) => {
  const out = await outDir();
  const manifest = [
    "apiVersion: glance.stores.dev/v1alpha1",
    "kind: GlanceStore",
    "metadata: {name: only}",
    "spec: {default: true, credentialsSecretRef: {name: c}}",
    "---",
    "apiVersion: v1",
    "kind: Secret",
    "metadata: {name: c}",
    'stringData: {authUrl: "http://k/v3", username: u, password: "$$", projectName: p}',
  ].join("\n");
  const run = await render(["-f", "-", "-n", "glance", "--out", out], manifest);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, `glance/glance-api: only (default) -> ${out}\n`);
  t.is((await readWithOslo(out))["only"]?.["cinder_store_password"], "$$");
});

test("usage errors exit 2 and explain; a YAML error names file, document and line but not the text", async (t) => {
  const noOut = await render(["-f", MANIFESTS]);
  t.is(noOut.code, 2);
  t.regex(noOut.stderr, /needs at least one -f PATH and --out DIR/);
  const unknown = await render(["--frobnicate"]);
  t.is(unknown.code, 2);
  const help = await render(["--help"]);
  t.is(help.code, 0);
  t.regex(help.stdout, /DIR\/<namespace>\/<target>\//);
  t.true(help.stdout.includes(GLANCE_CONF_DIR));
  t.false(help.stdout.includes("glance-api.conf.d"));

  const broken = join(scratch, "broken.yaml");
  await writeFile(broken, "apiVersion: v1\nkind: Secret\nstringData: {password: [hunter2\n");
  const run = await render(["-f", broken, "--out", await outDir()]);
  t.is(run.code, 1);
  t.regex(run.stderr, /broken\.yaml#1: not valid YAML at line \d+, column \d+/);
  t.notRegex(run.stderr, /hunter2/);
  const missing = await render(["-f", join(scratch, "nope.yaml"), "--out", await outDir()]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /nope\.yaml: no such file or folder/);
});
