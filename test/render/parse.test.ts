import test from "ava";
import fc from "fast-check";
import { encodeOsloString, unrepresentableReason } from "../../src/render/oslo-value.js";
import { decodeRenderedValue, parseRenderedConfig } from "../../src/render/parse.js";
import { renderStoresConfig, type StoreToRender } from "../../src/render/render.js";
import { NASTY_VALUES, osloString } from "./arbitraries.js";
import { GOLDEN_SCENARIOS, passwordCredentials, store } from "./scenarios.js";

/** What the controller does with a parsed store: give back the object's reference fields and render again. */
function rerender(storesConf: string, credentialsConf: string, caFiles: Record<string, string> = {}) {
  const parsed = parseRenderedConfig(storesConf, credentialsConf, caFiles);
  if (!parsed.ok) throw new Error(parsed.message);
  if (parsed.unreadable.length > 0) throw new Error(JSON.stringify(parsed.unreadable));
  const stores: StoreToRender[] = parsed.stores.map((s) => ({
    storeId: s.storeId,
    spec: { ...s.spec, credentialsSecretRef: { name: "glance-cinder" }, target: "glance-api" },
    credentials: s.credentials,
    source: `GlanceStore openstack/${s.storeId}`,
  }));
  return renderStoresConfig(stores);
}

test("decodeRenderedValue inverts encodeOsloString for the values that broke configs before", (t) => {
  for (const value of NASTY_VALUES) t.is(decodeRenderedValue(encodeOsloString(value)), value, JSON.stringify(value));
});

test("decodeRenderedValue inverts encodeOsloString for arbitrary strings", (t) => {
  fc.assert(
    fc.property(osloString, (value) => {
      fc.pre(unrepresentableReason(value) === undefined);
      return decodeRenderedValue(encodeOsloString(value)) === value;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

for (const [name, stores] of Object.entries(GOLDEN_SCENARIOS)) {
  test(`parsing the rendered ${name} files and rendering again gives the same bytes`, (t) => {
    const first = renderStoresConfig(stores);
    if (!first.ok) return t.fail(JSON.stringify(first.errors));
    const second = rerender(first.config.storesConf, first.config.credentialsConf, { ...first.config.caFiles });
    if (!second.ok) return t.fail(JSON.stringify(second.errors));
    t.is(second.config.storesConf, first.config.storesConf);
    t.is(second.config.credentialsConf, first.config.credentialsConf);
    t.deepEqual(second.config.caFiles, first.config.caFiles);
  });
}

test("any description and password survive a render, parse, render cycle", (t) => {
  fc.assert(
    fc.property(osloString, osloString, (description, password) => {
      fc.pre(description.length > 0 && password.length > 0);
      fc.pre(unrepresentableReason(description) === undefined && unrepresentableReason(password) === undefined);
      fc.pre(/^[^\x00-\x1F\x7F]+$/.test(description));
      const first = renderStoresConfig([store("fast", { default: true, description }, passwordCredentials(password)), store("slow")]);
      if (!first.ok) return true;
      const parsed = parseRenderedConfig(first.config.storesConf, first.config.credentialsConf);
      if (!parsed.ok) return false;
      const fast = parsed.stores.find((s) => s.storeId === "fast");
      return fast?.spec.description === description && fast.credentials.auth.kind === "password" && fast.credentials.auth.password === password && fast.isDefault;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

const broken: [string, string, string, RegExp][] = [
  ["no enabled_backends", "[glance_store]\ndefault_backend = a\n", "", /enabled_backends/],
  ["an entry without a type", "[DEFAULT]\nenabled_backends = a\n", "", /<id>:<type>/],
  ["a hand-edited line", "[DEFAULT]\nenabled_backends=a:cinder\n", "", /line 2/],
];

for (const [name, storesConf, credentialsConf, expected] of broken) {
  test(`parseRenderedConfig refuses ${name}`, (t) => {
    const result = parseRenderedConfig(storesConf, credentialsConf);
    t.false(result.ok);
    if (!result.ok) t.regex(result.message, expected);
  });
}

const GOOD_B = '[b]\ncinder_store_auth_address = "http://k/v3"\ncinder_store_user_name = "u"\ncinder_store_project_name = "p"\ncinder_store_password = "pw-b"\n';
const brokenStores: [string, string, string, RegExp][] = [
  ["a store without a section", "", "", /no section/],
  ["a missing password", '[a]\ncinder_store_auth_address = "http://k/v3"\ncinder_store_user_name = "u"\ncinder_store_project_name = "p"\n', "", /incomplete rendered credentials \(auth\.password\)/],
  ["an integer option that is not one", "[a]\ncinder_http_retries = many\n", "", /cinder_http_retries is not an integer/],
];

for (const [name, storesSection, credentialsSection, expected] of brokenStores) {
  test(`one unreadable store (${name}) does not discard the others`, (t) => {
    const result = parseRenderedConfig(`[DEFAULT]\nenabled_backends = a:cinder, b:cinder\n[glance_store]\ndefault_backend = b\n${storesSection}`, `${credentialsSection}\n${GOOD_B}`);
    if (!result.ok) return t.fail(result.message);
    t.deepEqual(result.storeIds, ["a", "b"]);
    t.deepEqual(result.stores.map((s) => s.storeId), ["b"]);
    t.is(result.defaultStoreId, "b");
    t.is(result.unreadable.length, 1);
    t.is(result.unreadable[0]?.storeId, "a");
    t.regex(result.unreadable[0]?.message ?? "", expected);
  });
}

test("a missing Secret leaves every store known by id, each unreadable and saying why", (t) => {
  const first = renderStoresConfig([store("fast", { default: true }), store("slow")]);
  if (!first.ok) return t.fail(JSON.stringify(first.errors));
  const result = parseRenderedConfig(first.config.storesConf, undefined);
  if (!result.ok) return t.fail(result.message);
  t.deepEqual(result.storeIds, ["fast", "slow"]);
  t.deepEqual(result.stores, []);
  t.deepEqual(result.unreadable.map((s) => s.storeId), ["fast", "slow"]);
  t.regex(result.unreadable[0]?.message ?? "", /rendered Secret is missing/);
});

test("files of an earlier release (credentials but the password in the stores file) read back the same", (t) => {
  const old =
    '[DEFAULT]\nenabled_backends = a:cinder\n[glance_store]\ndefault_backend = a\n[a]\ncinder_volume_type = "t"\ncinder_store_auth_address = "http://k/v3"\ncinder_store_user_name = "u"\ncinder_store_user_domain_name = "Default"\ncinder_store_project_name = "p"\ncinder_store_project_domain_name = "Default"\n';
  const result = parseRenderedConfig(old, '[a]\ncinder_store_password = "pw"\n');
  if (!result.ok) return t.fail(result.message);
  t.deepEqual(result.unreadable, []);
  const auth = result.stores[0]?.credentials.auth;
  t.like(auth, { kind: "password", username: "u", password: "pw", projectName: "p", authUrl: "http://k/v3" });
});

test("a parse error never quotes a password", (t) => {
  const result = parseRenderedConfig(
    '[DEFAULT]\nenabled_backends = a:cinder\n[a]\ncinder_store_auth_address = "not a url"\ncinder_store_user_name = "u"\ncinder_store_project_name = "p"\n',
    '[a]\ncinder_store_password = "hunter2-secret"\n',
  );
  if (!result.ok) {
    t.false(result.message.includes("hunter2-secret"));
    return;
  }
  t.is(result.unreadable.length, 1);
  t.false(JSON.stringify(result.unreadable).includes("hunter2-secret"));
});

test("an option an earlier release rendered and today's rules refuse (os_region_name) is read back and written again as it was", (t) => {
  const legacy =
    '[DEFAULT]\nenabled_backends = a:cinder\n[glance_store]\ndefault_backend = a\n[a]\ncinder_volume_type = "t"\nos_region_name = "RegionOne"\n';
  const credentials =
    '[a]\ncinder_store_auth_address = "http://k/v3"\ncinder_store_user_name = "u"\ncinder_store_user_domain_name = "Default"\ncinder_store_project_name = "p"\ncinder_store_project_domain_name = "Default"\ncinder_store_password = "pw"\n';
  const parsed = parseRenderedConfig(legacy, credentials);
  if (!parsed.ok) return t.fail(parsed.message);
  t.deepEqual(parsed.unreadable, []);
  const store = parsed.stores[0];
  t.deepEqual(store?.refusedToday, ["extraOptions"]);
  t.deepEqual(store?.spec.extraOptions, { os_region_name: "RegionOne" });
  const again = renderStoresConfig([
    { storeId: "a", spec: { ...store!.spec, credentialsSecretRef: { name: "x" }, target: "glance-api" }, credentials: store!.credentials, asRunning: true },
  ]);
  t.true(again.ok && again.config.storesConf.includes('os_region_name = "RegionOne"'));
  const fresh = renderStoresConfig([{ storeId: "a", spec: { ...store!.spec, credentialsSecretRef: { name: "x" }, target: "glance-api" }, credentials: store!.credentials }]);
  t.false(fresh.ok, "a new rendering of it is refused");
});

test("stores of other types in enabled_backends are read back as glance-api's own, and may be the default", (t) => {
  const rendered = renderStoresConfig([store("fast"), store("slow")], { otherStores: [{ id: "local", type: "file" }, { id: "ceph", type: "rbd" }], defaultStoreId: "ceph" });
  if (!rendered.ok) return t.fail(JSON.stringify(rendered.errors));
  t.regex(rendered.config.storesConf, /^enabled_backends = ceph:rbd, fast:cinder, local:file, slow:cinder$/m);
  t.regex(rendered.config.storesConf, /^default_backend = ceph$/m);
  t.notRegex(rendered.config.storesConf, /^\[(ceph|local)\]$/m, "their sections stay in glance-api's main configuration");
  const parsed = parseRenderedConfig(rendered.config.storesConf, rendered.config.credentialsConf);
  if (!parsed.ok) return t.fail(parsed.message);
  t.deepEqual(parsed.storeIds, ["fast", "slow"]);
  t.deepEqual(parsed.otherStores, [{ id: "ceph", type: "rbd" }, { id: "local", type: "file" }]);
  t.is(parsed.defaultStoreId, "ceph");
  t.false(parsed.stores.some((s) => s.isDefault));
});

test("the renderer refuses a target default that is no store, and an other store whose id a cinder store has", (t) => {
  const unknown = renderStoresConfig([store("fast"), store("slow")], { otherStores: [{ id: "local", type: "file" }], defaultStoreId: "nowhere" });
  t.false(unknown.ok);
  if (!unknown.ok) t.deepEqual(unknown.errors.map((e) => e.code), ["DefaultNotAStore"]);
  const clash = renderStoresConfig([store("fast", { default: true }), store("local")], { otherStores: [{ id: "local", type: "file" }] });
  t.false(clash.ok);
  if (!clash.ok) t.deepEqual(clash.errors.map((e) => e.code), ["DuplicateStoreId"]);
  const reserved = renderStoresConfig([store("fast", { default: true })], { otherStores: [{ id: "os_glance_x", type: "file" }] });
  t.false(reserved.ok);
  if (!reserved.ok) t.deepEqual(reserved.errors.map((e) => e.code), ["ReservedStoreIdPrefix"]);
});

test("a target default among the cinder stores overrides their spec.default", (t) => {
  const rendered = renderStoresConfig([store("fast"), store("slow")], { defaultStoreId: "slow" });
  if (!rendered.ok) return t.fail(JSON.stringify(rendered.errors));
  t.regex(rendered.config.storesConf, /^default_backend = slow$/m);
});
