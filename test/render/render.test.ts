import test from "ava";
import fc from "fast-check";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { encodeOsloString } from "../../src/render/oslo-value.js";
import { renderedFiles, renderStoresConfig, type RenderErrorCode, type StoreToRender } from "../../src/render/render.js";
import { GOLDEN_SCENARIOS, passwordCredentials, store } from "./scenarios.js";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/render/", import.meta.url));
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

for (const [name, stores] of Object.entries(GOLDEN_SCENARIOS)) {
  test(`golden: ${name}`, async (t) => {
    const result = renderStoresConfig(stores);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    for (const [suffix, content] of [
      ["stores.conf", result.config.storesConf],
      ["credentials.conf", result.config.credentialsConf],
      ...Object.entries(result.config.caFiles).map(([file, pem]) => [file, pem] as const),
    ] as const) {
      const path = `${FIXTURES}${name}.${suffix}`;
      if (UPDATE) {
        await mkdir(FIXTURES, { recursive: true });
        await writeFile(path, content);
      }
      const golden = await readFile(path, "utf8").catch(() => undefined);
      t.is(golden ?? "(no golden file)", content, `${path} differs: if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff`);
    }
  });
}

test("the same stores in any order give the same bytes (property)", (t) => {
  const stores = [...(GOLDEN_SCENARIOS["special-values"] ?? []), store("zeta"), store("alpha")];
  const reference = renderStoresConfig(stores);
  fc.assert(
    fc.property(fc.shuffledSubarray(stores, { minLength: stores.length, maxLength: stores.length }), (shuffled) => {
      const again = renderStoresConfig(shuffled);
      return JSON.stringify(again) === JSON.stringify(reference);
    }),
  );
  t.true(reference.ok);
});

test("credentials go to the credentials file only, whole, and every store of the stores file has its section there", (t) => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }), (p1, p2) => {
      const passwordA = `ZQX1${p1.replace(/[\n\r\u0000]/g, "")}`;
      const secretB = `ZQX2${p2.replace(/[\n\r\u0000]/g, "")}`;
      const result = renderStoresConfig([
        store("a", { default: true }, passwordCredentials(passwordA)),
        store("b", {}, { auth: { kind: "applicationCredential", authUrl: "https://k/v3", applicationCredentialId: "id", applicationCredentialSecret: secretB } }),
      ]);
      if (!result.ok) return false;
      const { storesConf, credentialsConf } = result.config;
      return (
        !storesConf.includes("ZQX") &&
        credentialsConf.includes(`cinder_store_password = ${encodeOsloString(passwordA)}`) &&
        credentialsConf.includes(`cinder_store_application_credential_secret = ${encodeOsloString(secretB)}`) &&
        credentialsConf.includes("cinder_store_application_credential_id = \"id\"") &&
        credentialsConf.includes("cinder_store_user_name = \"glance\"") &&
        !/cinder_store_|password|secret/.test(storesConf.replace(/^#.*$/gm, ""))
      );
    }),
  );
  t.pass();
});

test("the two files are named for the config dir and marked secret or not", (t) => {
  const result = renderStoresConfig(GOLDEN_SCENARIOS["one-store"] ?? []);
  if (!result.ok) throw new Error("one-store must render");
  t.deepEqual(
    renderedFiles(result.config).map((f) => [f.name, f.secret]),
    [
      ["glance-api-stores.conf", false],
      ["glance-api-stores-credentials.conf", true],
    ],
  );
});

const ERROR_ROWS: readonly { name: string; stores: StoreToRender[]; code: RenderErrorCode; storeIds: string[]; field?: string; message: RegExp }[] = [
  { name: "no store at all", stores: [], code: "NoStores", storeIds: [], message: /at least one store/ },
  { name: "no default", stores: [store("a"), store("b")], code: "NoDefault", storeIds: ["a", "b"], message: /set spec\.default: true on exactly one/ },
  { name: "two defaults", stores: [store("a", { default: true }), store("b", { default: true }), store("c")], code: "SeveralDefaults", storeIds: ["a", "b"], message: /exactly one store/ },
  { name: "the same id twice", stores: [store("a", { default: true }), { ...store("a"), source: "GlanceStore other/a" }], code: "DuplicateStoreId", storeIds: ["a"], message: /GlanceStore openstack\/a, GlanceStore other\/a/ },
  { name: "ids differing by case", stores: [store("fast", { default: true }), store("Fast")], code: "CaseCollidingStoreIds", storeIds: ["Fast", "fast"], message: /differ only by case/ },
  { name: "an id that is a prefix of another", stores: [store("fast", { default: true }), store("fast2")], code: "AmbiguousStoreIdPrefix", storeIds: ["fast", "fast2"], message: /prefix of "fast2"/ },
  { name: "a reserved os_glance_ id", stores: [store("os_glance_tasks_store", { default: true })], code: "ReservedStoreIdPrefix", storeIds: ["os_glance_tasks_store"], field: "storeId", message: /refuses to start/ },
  { name: "a glance group name as id", stores: [store("keystone_authtoken", { default: true })], code: "ReservedGroupName", storeIds: ["keystone_authtoken"], field: "storeId", message: /option group/ },
  { name: "an id enabled_backends cannot hold", stores: [store("a:b", { default: true })], code: "InvalidStoreId", storeIds: ["a:b"], field: "storeId", message: /a-z, 0-9/ },
  {
    name: "a password with a line break",
    stores: [store("a", { default: true }, passwordCredentials("hunter2\n"))],
    code: "UnrepresentableValue",
    storeIds: ["a"],
    field: "credentials.password",
    message: /^store "a" \(GlanceStore openstack\/a\): credentials\.password contains a line break/,
  },
  {
    name: "a description with NUL (bypassing the schema)",
    stores: [{ ...store("a", { default: true }), spec: { ...store("a").spec, default: true, description: "x\u0000y" } }],
    code: "UnrepresentableValue",
    storeIds: ["a"],
    field: "spec.description",
    message: /NUL/,
  },
  {
    name: "an extra option that looks like a secret (bypassing the schema)",
    stores: [{ ...store("a"), spec: { ...store("a").spec, default: true, extraOptions: { my_token: "x" } } }],
    code: "InvalidOptionName",
    storeIds: ["a"],
    field: "spec.extraOptions.my_token",
    message: /look like secrets/,
  },
  {
    name: "credentials with a project id only",
    stores: [store("a", { default: true }, { auth: { kind: "password", authUrl: "https://k/v3", username: "u", password: "p", projectId: "abc", userDomainName: "Default", projectDomainName: "Default" } })],
    code: "CredentialsNotRenderable",
    storeIds: ["a"],
    field: "credentials.projectName",
    message: /no projectName \(only projectId\).*cinder_store_project_name/,
  },
  {
    name: "credentials with a user domain id only",
    stores: [store("a", { default: true }, { auth: { kind: "password", authUrl: "https://k/v3", username: "u", password: "p", projectName: "s", userDomainId: "d", projectDomainName: "Default" } })],
    code: "CredentialsNotRenderable",
    storeIds: ["a"],
    field: "credentials.userDomainName",
    message: /only userDomainId/,
  },
];

for (const row of ERROR_ROWS) {
  test(`refuses with ${row.code}: ${row.name}`, (t) => {
    const result = renderStoresConfig(row.stores);
    if (result.ok) {
      t.fail("rendered");
      return;
    }
    const error = result.errors.find((e) => e.code === row.code);
    t.truthy(error, JSON.stringify(result.errors));
    t.deepEqual(error?.storeIds, row.storeIds);
    t.is(error?.field, row.field);
    t.regex(error?.message ?? "", row.message);
    t.false(JSON.stringify(result.errors).includes("hunter2"));
  });
}

test("all problems of a target are reported at once, in a stable order", (t) => {
  const stores = [store("b", {}, passwordCredentials("x\ry")), store("a"), store("ab")];
  const first = renderStoresConfig(stores);
  const second = renderStoresConfig([...stores].reverse());
  t.deepEqual(first, second);
  t.deepEqual(first.ok ? [] : first.errors.map((e) => e.code), ["NoDefault", "AmbiguousStoreIdPrefix", "UnrepresentableValue"]);
});
