import test from "ava";
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import { GlanceStoreSpecSchema, type GlanceStoreSpecInput } from "../../src/api/glancestore.js";
import { decideTarget, NO_MEMORY, type CheckOutcome, type ObservedStore, type PreviousConfig, type StoreDecision, type TargetDecision, type TargetObservation } from "../../src/controller/decide.js";
import { parseRenderedConfig, type RenderedStore } from "../../src/render/parse.js";

const KEYSTONE = "https://keystone.example.com/v3";

function credentials(password = "pw-1", username = "glance"): ResolvedCredentials {
  return { auth: { kind: "password", authUrl: KEYSTONE, username, password, projectName: "service", userDomainName: "Default", projectDomainName: "Default" } };
}

const SERVICE_PROJECT = "project-service-id";
const found = (name: string, projectId = SERVICE_PROJECT): CheckOutcome => ({ ok: true, volumeType: { id: `id-${name}`, name }, resolvedDefault: false, projectId });
const failed = (reason: string): CheckOutcome => ({
  ok: false,
  reason,
  message: `${reason} happened`,
  authenticated: reason === "VolumeTypeNotFound" || reason === "VolumeTypeNotAccessible" || reason === "EndpointNotFound",
});

let clock = 0;
function observed(name: string, spec: Partial<GlanceStoreSpecInput> = {}, overrides: Partial<ObservedStore> = {}): ObservedStore {
  clock += 1;
  const parsed = GlanceStoreSpecSchema.parse({ credentialsSecretRef: { name: "glance-cinder" }, volumeType: `type-${name}`, ...spec });
  return {
    key: `openstack/${name}`,
    name,
    uid: `uid-${name}`,
    generation: 1,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString(),
    storeId: parsed.storeId ?? name,
    spec: parsed,
    deleting: false,
    forceDelete: false,
    memory: NO_MEMORY,
    credentials: { ok: true, credentials: credentials() },
    check: found(parsed.volumeType ?? "__DEFAULT__"),
    imageVolumes: undefined,
    ...overrides,
  };
}

function observe(stores: ObservedStore[], previous?: PreviousConfig): TargetObservation {
  return { namespace: "openstack", target: "glance-api", stores, previous };
}

/** The files a decision writes, read back: what Glance would run. */
function writtenConfig(decision: TargetDecision): PreviousConfig {
  if (decision.action.kind !== "write") throw new Error(`expected a write, got ${JSON.stringify(decision.action)}`);
  const parsed = parseRenderedConfig(decision.action.config.storesConf, decision.action.config.credentialsConf, decision.action.config.caFiles);
  if (!parsed.ok) throw new Error(parsed.message);
  if (parsed.unreadable.length > 0) throw new Error(JSON.stringify(parsed.unreadable));
  return parsed;
}

function written(decision: TargetDecision): readonly RenderedStore[] {
  return writtenConfig(decision).stores;
}

function of(decision: TargetDecision, name: string): StoreDecision {
  const found = decision.stores.find((s) => s.key === `openstack/${name}`);
  if (!found) throw new Error(`no decision for ${name}`);
  return found;
}

function condition(decision: StoreDecision, type: string): { status: string; reason: string; message: string } {
  const c = decision.conditions.find((x) => x.type === type);
  if (!c) throw new Error(`no ${type} condition`);
  return c;
}

/** A previous config: render these stores and read them back, as the controller finds them in the cluster. */
function previousOf(stores: ObservedStore[]): PreviousConfig {
  return writtenConfig(decideTarget(observe(stores)));
}

test("two healthy stores: both rendered, the default one default, both Ready", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow")]));
  const stores = written(decision);
  t.deepEqual(stores.map((s) => [s.storeId, s.isDefault, s.spec.volumeType]), [
    ["fast", true, "type-fast"],
    ["slow", false, "type-slow"],
  ]);
  for (const name of ["fast", "slow"]) {
    const d = of(decision, name);
    t.true(d.rendered && d.addDeleteEnabled && d.needsFinalizer);
    t.is(condition(d, "Ready").status, "True");
    t.is(condition(d, "CredentialsConsistent").status, "True");
  }
});

test("rule 3: a new store whose volume type is missing is not rendered and says why", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow", {}, { check: failed("VolumeTypeNotFound") })]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  const slow = of(decision, "slow");
  t.false(slow.rendered);
  t.false(slow.addDeleteEnabled);
  t.false(slow.needsFinalizer);
  t.is(condition(slow, "VolumeTypeAvailable").reason, "VolumeTypeNotFound");
  t.deepEqual([condition(slow, "Rendered").status, condition(slow, "Rendered").reason], ["False", "VolumeTypeNotFound"]);
  t.is(condition(slow, "Ready").reason, "VolumeTypeNotFound");
});

test("rule 1: a new store whose credentials fail is not rendered", (t) => {
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { credentials: { ok: true, credentials: credentials("wrong") }, check: failed("AuthFailed") })]),
  );
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  t.is(condition(of(decision, "slow"), "CredentialsValid").status, "False");
  t.is(condition(of(decision, "slow"), "CredentialsValid").reason, "AuthFailed");
});

test("rule 2: a rendered store stays rendered, exactly as it was, when Cinder is unreachable", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const now = [observed("fast", { default: true }, { check: failed("Unreachable") }), observed("slow", { description: "changed meanwhile" }, { check: failed("Unreachable") })];
  const decision = decideTarget(observe(now, previous));
  t.deepEqual(written(decision), previous.stores);
  for (const name of ["fast", "slow"]) {
    const d = of(decision, name);
    t.true(d.rendered);
    t.false(d.addDeleteEnabled);
    t.is(condition(d, "Rendered").reason, "KeptLastGood");
    t.deepEqual([condition(d, "Ready").status, condition(d, "Ready").reason], ["False", "Unreachable"]);
    t.is(condition(d, "CredentialsValid").status, "Unknown");
  }
});

test("rule 2: a rendered store keeps its last password when its Secret is deleted", (t) => {
  const previous = previousOf([observed("fast", { default: true })]);
  clock = 0;
  const decision = decideTarget(
    observe([observed("fast", { default: true }, { credentials: { ok: false, reason: "SecretNotFound", message: "Secret glance-cinder not found" }, check: undefined })], previous),
  );
  const [fast] = written(decision);
  t.is(fast?.credentials.auth.kind === "password" ? fast.credentials.auth.password : undefined, "pw-1");
  t.is(condition(of(decision, "fast"), "Ready").reason, "SecretNotFound");
});

test("a rotated password that Keystone accepts is rendered; one it refuses is not", (t) => {
  const previous = previousOf([observed("fast", { default: true })]);
  const rotated = (password: string, check: CheckOutcome) => {
    clock = 0;
    const decision = decideTarget(observe([observed("fast", { default: true }, { credentials: { ok: true, credentials: credentials(password) }, check })], previous));
    const auth = written(decision)[0]?.credentials.auth;
    return auth?.kind === "password" ? auth.password : undefined;
  };
  t.is(rotated("pw-2", found("type-fast")), "pw-2");
  t.is(rotated("pw-bad", failed("AuthFailed")), "pw-1");
});

test("rule 5: of two defaults the older wins; the newer is rendered as non-default and says so", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow", { default: true })]));
  t.deepEqual(written(decision).map((s) => [s.storeId, s.isDefault]), [
    ["fast", true],
    ["slow", false],
  ]);
  t.is(condition(of(decision, "slow"), "Rendered").reason, "DefaultConflict");
  t.regex(condition(of(decision, "slow"), "Rendered").message, /store "fast" is the default of target glance-api/);
  t.is(condition(of(decision, "fast"), "Ready").status, "True");
});

test("rule 5: of two stores with one id the older wins and the newer is not rendered", (t) => {
  const decision = decideTarget(observe([observed("alpha", { default: true, storeId: "images" }), observed("beta", { storeId: "images", volumeType: "other" })]));
  t.deepEqual(written(decision).map((s) => [s.storeId, s.spec.volumeType]), [["images", "type-alpha"]]);
  t.false(of(decision, "beta").rendered);
  t.is(condition(of(decision, "beta"), "Rendered").reason, "DuplicateStoreId");
  t.regex(condition(of(decision, "beta"), "Rendered").message, /GlanceStore alpha, which is older/);
  t.true(of(decision, "alpha").addDeleteEnabled);
});

test("rule 5 is decided by age, not by the order the cache lists the stores", (t) => {
  const older = observed("zeta", { default: true, storeId: "images" });
  const newer = observed("alpha", { storeId: "images" });
  const decision = decideTarget(observe([newer, older]));
  t.true(of(decision, "zeta").rendered);
  t.false(of(decision, "alpha").rendered);
});

test("a store id that is a prefix of an older store's id is not rendered", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("fast2")]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  t.is(condition(of(decision, "fast2"), "Rendered").reason, "AmbiguousStoreId");
});

test("no store asks to be the default: the current default stays the default and says so, and the others are rendered", (t) => {
  const previous = previousOf([observed("fast", { default: true })]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: false }), observed("slow")], previous));
  t.deepEqual(written(decision).map((s) => [s.storeId, s.isDefault]), [
    ["fast", true],
    ["slow", false],
  ]);
  t.is(condition(of(decision, "fast"), "Rendered").reason, "KeptAsDefault");
  t.is(condition(of(decision, "fast"), "Ready").status, "True");
  t.is(condition(of(decision, "slow"), "Ready").status, "True");
});

test("no default and nothing rendered yet: nothing is written", (t) => {
  const decision = decideTarget(observe([observed("fast"), observed("slow")]));
  t.is(decision.action.kind, "keep");
  t.deepEqual(decision.renderedStoreIds, []);
  t.is(condition(of(decision, "fast"), "Ready").status, "False");
});

test("a default store that cannot be checked but was rendered stays the default", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }, { check: failed("Timeout") }), observed("slow")], previous));
  t.deepEqual(written(decision).map((s) => [s.storeId, s.isDefault]), [
    ["fast", true],
    ["slow", false],
  ]);
  t.true(of(decision, "slow").addDeleteEnabled);
  t.false(of(decision, "fast").addDeleteEnabled);
});

test("rule 4: a deleted store with image volumes left stays rendered and gives the count", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow", {}, { deleting: true, imageVolumes: { ok: true, count: 3 } })], previous));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast", "slow"]);
  const slow = of(decision, "slow");
  t.true(slow.rendered);
  t.false(slow.releaseFinalizer);
  t.is(slow.imageVolumes, 3);
  t.deepEqual([condition(slow, "Ready").reason], ["DeletionBlocked"]);
  t.regex(condition(slow, "Ready").message, /3 image volume\(s\)/);
});

test("rule 4: a deleted store whose image volumes cannot be counted is held", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { deleting: true, imageVolumes: { ok: false, reason: "Unreachable", message: "Cinder is down" } })], previous),
  );
  t.true(of(decision, "slow").rendered);
  t.false(of(decision, "slow").releaseFinalizer);
  t.regex(condition(of(decision, "slow"), "Ready").message, /cannot count/);
});

for (const [name, overrides] of [
  ["no image volume left", { imageVolumes: { ok: true, count: 0 } }],
  ["the force annotation", { forceDelete: true, imageVolumes: { ok: true, count: 7 } }],
] as const) {
  test(`rule 4: a deleted store with ${name} leaves the config and releases its finalizer`, (t) => {
    const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
    clock = 0;
    const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow", {}, { deleting: true, ...overrides })], previous));
    t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
    t.true(of(decision, "slow").releaseFinalizer);
    t.false(of(decision, "slow").rendered);
  });
}

test("every store deleted and releasable: the target's files are removed", (t) => {
  const previous = previousOf([observed("fast", { default: true })]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }, { deleting: true, imageVolumes: { ok: true, count: 0 } })], previous));
  t.is(decision.action.kind, "remove");
  t.true(of(decision, "fast").releaseFinalizer);
});

test("stores with different credentials are flagged: glance_store shares the first store's session", (t) => {
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { credentials: { ok: true, credentials: credentials("pw-1", "other-user") } })]),
  );
  for (const name of ["fast", "slow"]) {
    t.is(condition(of(decision, name), "CredentialsConsistent").reason, "MixedCredentials");
    t.is(condition(of(decision, name), "Ready").status, "True");
  }
});

test("the ConfigMap is gone but the status remembers a rendered store: rendered again from its spec during an outage", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }, { memory: { ...NO_MEMORY, rendered: true }, check: failed("Unreachable") })]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  t.false(of(decision, "fast").addDeleteEnabled);
});

test("...but not when Keystone refuses its credentials", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }, { memory: { ...NO_MEMORY, rendered: true }, check: failed("AuthFailed") })]));
  t.is(decision.action.kind, "keep");
});

test("an object that fails the schema is reported and not rendered", (t) => {
  const bad = observed("bad", {}, { spec: undefined, specProblem: "spec.volumeType: must not contain line breaks", credentials: undefined, check: undefined });
  const decision = decideTarget(observe([observed("fast", { default: true }), bad]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  t.deepEqual([condition(of(decision, "bad"), "Rendered").reason, condition(of(decision, "bad"), "Ready").reason], ["InvalidSpec", "InvalidSpec"]);
});

test("the same observation always gives the same files, whatever the order of the stores", (t) => {
  const stores = [observed("a", { default: true }), observed("b"), observed("c"), observed("d")];
  const first = decideTarget(observe(stores));
  const second = decideTarget(observe([...stores].reverse()));
  t.deepEqual(second.action, first.action);
});

test("files that cannot be written keep the current ones, and the stores that would be new say why", (t) => {
  const previous = previousOf([observed("fast", { default: true })]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow")], previous), { writeBlocked: "ConfigMap x is not ours" });
  t.is(decision.action.kind, "keep");
  t.true(of(decision, "fast").rendered);
  t.false(of(decision, "slow").rendered);
  t.regex(condition(of(decision, "slow"), "Rendered").message, /ConfigMap x is not ours/);
});

test("catalogInfo and endpointTemplate that glance_store ignores with service credentials are flagged", (t) => {
  const decision = decideTarget(
    observe([observed("fast", { default: true, catalogInfo: "volumev3:cinder:internalURL", endpointTemplate: "https://cinder.example.com/v3/%(tenant)s" }), observed("slow")]),
  );
  const flagged = condition(of(decision, "fast"), "OptionsEffective");
  t.is(flagged.reason, "IgnoredWithServiceCredentials");
  t.regex(flagged.message, /catalogInfo and endpointTemplate are ignored/);
  t.false(of(decision, "slow").conditions.some((c) => c.type === "OptionsEffective"));
  t.is(condition(of(decision, "fast"), "Ready").status, "True");
});

// ---------------------------------------------------------------- the memory of what Glance runs (rule 4 under hand edits)

/** The previous config as the controller reads it when the rendered Secret was deleted by hand. */
function withoutSecret(previous: PreviousConfig): PreviousConfig {
  return { ...previous, stores: [], unreadable: previous.storeIds.map((storeId) => ({ storeId, message: "incomplete (the rendered Secret is missing)" })) };
}

const REMEMBERED = { rendered: true, volumeTypes: [{ name: "type-slow", id: "id-type-slow" }], projectId: SERVICE_PROJECT };

test("rule 4: the rendered Secret deleted by hand while a deletion is held: the store stays in Glance's config and keeps its finalizer", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { deleting: true, memory: REMEMBERED, imageVolumes: { ok: true, count: 1 } })], withoutSecret(previous)),
  );
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast", "slow"]);
  const slow = of(decision, "slow");
  t.true(slow.rendered);
  t.false(slow.releaseFinalizer);
  t.is(condition(slow, "Ready").reason, "DeletionBlocked");
});

test("rule 4: both rendered objects deleted by hand: the status' memory still guards the deleting store", (t) => {
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }, { memory: { ...REMEMBERED, volumeTypes: [] } }), observed("slow", {}, { deleting: true, memory: REMEMBERED, imageVolumes: { ok: true, count: 2 } })]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast", "slow"]);
  t.false(of(decision, "slow").releaseFinalizer);
  t.is(of(decision, "slow").imageVolumes, 2);
});

test("rule 4: a deleting store that Glance ran but that can be neither kept nor rendered again is held, not released, and says what to do", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(
    observe(
      [
        observed("fast", { default: true }),
        observed("slow", {}, { deleting: true, memory: REMEMBERED, credentials: { ok: false, reason: "SecretNotFound", message: "Secret glance-slow not found" }, check: undefined, imageVolumes: { ok: false, reason: "NoCredentials", message: "no credentials" } }),
      ],
      withoutSecret(previous),
    ),
  );
  const slow = of(decision, "slow");
  t.false(slow.rendered);
  t.false(slow.releaseFinalizer, "only a count of zero or the force annotation lets it go");
  t.is(condition(slow, "Rendered").reason, "NotRestorable");
  t.regex(condition(slow, "Ready").message, /cannot count.*Restore its credentials Secret/);
});

test("rule 4: a deleting store that Glance never ran leaves at once", (t) => {
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow", {}, { deleting: true })]));
  t.true(of(decision, "slow").releaseFinalizer);
});

test("a store whose section and Secret are both lost, not being deleted, keeps its finalizer and says it cannot be restored", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { memory: REMEMBERED, credentials: { ok: false, reason: "SecretNotFound", message: "gone" }, check: undefined })], withoutSecret(previous)),
  );
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  const slow = of(decision, "slow");
  t.true(slow.needsFinalizer);
  t.is(condition(slow, "Rendered").reason, "NotRestorable");
});

// ---------------------------------------------------------------- deleting the default store

test("deleting the default store while another store exists: it stays the default, held, and says to mark another default", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }, { deleting: true, memory: REMEMBERED, imageVolumes: { ok: true, count: 0 } }), observed("slow")], previous));
  t.deepEqual(written(decision).map((s) => [s.storeId, s.isDefault]), [
    ["fast", true],
    ["slow", false],
  ]);
  const fast = of(decision, "fast");
  t.false(fast.releaseFinalizer);
  t.is(condition(fast, "Ready").reason, "DeletionBlocked");
  t.regex(condition(fast, "Ready").message, /Mark another store of the target default/);
  const slow = of(decision, "slow");
  t.is(condition(slow, "Ready").status, "True", "the other store keeps its true status");
  t.true(slow.addDeleteEnabled);
});

test("deleting the default store: once another store asks to be the default, it takes over in one write, and the old default leaves when empty", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const held = decideTarget(observe([observed("fast", { default: true }, { deleting: true, memory: REMEMBERED, imageVolumes: { ok: true, count: 3 } }), observed("slow", { default: true })], previous));
  t.deepEqual(written(held).map((s) => [s.storeId, s.isDefault]), [
    ["fast", false],
    ["slow", true],
  ]);
  t.false(of(held, "fast").releaseFinalizer);
  t.is(condition(of(held, "slow"), "Ready").status, "True");
  clock = 0;
  const gone = decideTarget(observe([observed("fast", { default: true }, { deleting: true, memory: REMEMBERED, imageVolumes: { ok: true, count: 0 } }), observed("slow", { default: true })], previous));
  t.deepEqual(written(gone).map((s) => [s.storeId, s.isDefault]), [["slow", true]]);
  t.true(of(gone, "fast").releaseFinalizer);
});

test("the files kept (they cannot be written): stores Glance runs exactly as their spec says stay Ready", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("slow"), observed("new")], previous), { writeBlocked: "ConfigMap x is not ours" });
  t.is(decision.action.kind, "keep");
  t.is(condition(of(decision, "fast"), "Ready").status, "True");
  t.is(condition(of(decision, "slow"), "Ready").status, "True");
  t.is(condition(of(decision, "new"), "Ready").status, "False");
});

// ---------------------------------------------------------------- volume types are pinned

test("a store that leaves its type unset is rendered with the resolved type's name, and the status remembers it", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true, volumeType: undefined }, { check: { ok: true, volumeType: { id: "id-__DEFAULT__", name: "__DEFAULT__" }, resolvedDefault: true, projectId: SERVICE_PROJECT } })]));
  t.is(written(decision)[0]?.spec.volumeType, "__DEFAULT__");
  t.deepEqual(of(decision, "fast").volumeTypes, [{ id: "id-__DEFAULT__", name: "__DEFAULT__" }]);
});

test("a changed spec.volumeType is not applied until confirmed: Glance keeps the pinned type and the store says how to confirm", (t) => {
  const previous = previousOf([observed("fast", { default: true, volumeType: "gold" }, { check: found("gold") })]);
  const pinned = { rendered: true, volumeTypes: [{ name: "gold", id: "id-gold" }], projectId: SERVICE_PROJECT };
  clock = 0;
  const pending = decideTarget(observe([observed("fast", { default: true, volumeType: "platinum" }, { memory: pinned, check: found("platinum") })], previous));
  t.is(written(pending)[0]?.spec.volumeType, "gold");
  const store = of(pending, "fast");
  t.deepEqual([condition(store, "Ready").status, condition(store, "Ready").reason], ["False", "VolumeTypeChangeNotConfirmed"]);
  t.regex(condition(store, "Ready").message, /glance.stores.dev\/confirm-volume-type=platinum/);
  t.true(store.addDeleteEnabled, "Glance still adds images, to the pinned type");
  t.deepEqual(store.volumeTypes, [{ name: "gold", id: "id-gold" }]);

  clock = 0;
  const confirmed = decideTarget(observe([observed("fast", { default: true, volumeType: "platinum" }, { memory: pinned, check: found("platinum"), confirmVolumeType: "platinum" })], previous));
  t.is(written(confirmed)[0]?.spec.volumeType, "platinum");
  t.is(condition(of(confirmed, "fast"), "Ready").status, "True");
  t.deepEqual(of(confirmed, "fast").volumeTypes, [
    { name: "gold", id: "id-gold" },
    { id: "id-platinum", name: "platinum" },
  ], "both types are remembered: deletion counts image volumes of each");
});

// ---------------------------------------------------------------- one project per target

test("a new store whose credentials name another project is not rendered: glance_store would put its images in the first store's project", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }), observed("other", {}, { credentials: { ok: true, credentials: credentials("pw", "other-user") }, check: found("type-other", "project-elsewhere") })]));
  t.deepEqual(written(decision).map((s) => s.storeId), ["fast"]);
  const other = of(decision, "other");
  t.deepEqual([condition(other, "Rendered").status, condition(other, "Rendered").reason], ["False", "MixedCredentials"]);
  t.regex(condition(other, "Ready").message, /project project-elsewhere.*\(project-service-id\)/);
});

test("a rendered store whose Secret switches to another project keeps running as it was", (t) => {
  const previous = previousOf([observed("fast", { default: true }), observed("slow")]);
  clock = 0;
  const decision = decideTarget(
    observe(
      [
        observed("fast", { default: true }, { memory: { ...REMEMBERED, volumeTypes: [] } }),
        observed("slow", {}, { memory: REMEMBERED, credentials: { ok: true, credentials: credentials("pw", "mover") }, check: found("type-slow", "project-elsewhere") }),
      ],
      previous,
    ),
  );
  t.deepEqual(written(decision), previous.stores);
  t.is(condition(of(decision, "slow"), "Rendered").reason, "KeptLastGood");
  t.is(condition(of(decision, "slow"), "Ready").reason, "MixedCredentials");
});

// ---------------------------------------------------------------- refusals

test("a store whose credentials Keystone refused carries the refusal, for the status that makes other replicas hold off too", (t) => {
  const refusal = { refusedAt: "2026-11-30T10:00:00Z", retryAt: "2026-11-30T11:00:00Z" };
  const decision = decideTarget(
    observe([observed("fast", { default: true }), observed("slow", {}, { check: { ok: false, reason: "AuthFailed", message: "refused; held until 2026-11-30T11:00:00Z", authenticated: false, refusal } })]),
  );
  t.deepEqual(of(decision, "slow").refusal, refusal);
  t.is(of(decision, "fast").refusal, undefined);
  t.is(condition(of(decision, "slow"), "CredentialsValid").reason, "AuthFailed");
});

test("KeystoneRejected (a 403 or 404 at authUrl) is not a refusal of the credentials", (t) => {
  const decision = decideTarget(observe([observed("fast", { default: true }, { check: { ok: false, reason: "KeystoneRejected", message: "404 at authUrl", authenticated: false } })]));
  const fast = of(decision, "fast");
  t.deepEqual([condition(fast, "CredentialsValid").status, condition(fast, "CredentialsValid").reason], ["Unknown", "KeystoneRejected"]);
  t.is(fast.refusal, undefined);
});

test("rule 4: a store whose section was lost (not rendered now) is still guarded when deleted: its status remembers the types it ran with", (t) => {
  const decision = decideTarget(
    observe([
      observed("fast", { default: true }),
      observed("slow", {}, { deleting: true, memory: { rendered: false, volumeTypes: [{ name: "type-slow" }], projectId: SERVICE_PROJECT }, imageVolumes: { ok: true, count: 1 } }),
    ]),
  );
  const slow = of(decision, "slow");
  t.false(slow.releaseFinalizer);
  t.is(condition(slow, "Ready").reason, "DeletionBlocked");
  t.true(slow.rendered, "rendered again from its spec and Secret while the guard holds");
});

// A GlanceStoreTarget: other stores of glance-api's main configuration, and the default decided in one place.

function observeWithTarget(stores: ObservedStore[], targetObject: TargetObservation["targetObject"], previous?: PreviousConfig): TargetObservation {
  return { ...observe(stores, previous), targetObject };
}

test("the target's other stores are kept in enabled_backends, and its defaultStore moves the default in one step", (t) => {
  const stores = [observed("fast", { default: true }), observed("slow")];
  const first = decideTarget(observeWithTarget(stores, { otherStores: [{ id: "local", type: "file" }] }));
  const running = writtenConfig(first);
  t.deepEqual(running.otherStores, [{ id: "local", type: "file" }]);
  t.is(running.defaultStoreId, "fast");
  t.is(first.defaultStoreId, "fast");

  // One edit of the target: slow becomes the default although fast still says default: true.
  const moved = decideTarget(observeWithTarget(stores, { defaultStore: "slow", otherStores: [{ id: "local", type: "file" }] }, running));
  t.is(writtenConfig(moved).defaultStoreId, "slow");
  t.is(condition(of(moved, "fast"), "Ready").status, "True");
  t.is(condition(of(moved, "slow"), "Ready").status, "True");

  // The default may be one of the other stores.
  const toFile = decideTarget(observeWithTarget(stores, { defaultStore: "local", otherStores: [{ id: "local", type: "file" }] }, running));
  const config = writtenConfig(toFile);
  t.is(config.defaultStoreId, "local");
  t.false(config.stores.some((s) => s.isDefault));
  t.is(toFile.defaultStoreId, "local");
});

test("without a GlanceStoreTarget the other stores Glance runs are carried over, never dropped", (t) => {
  const stores = [observed("fast"), observed("slow")];
  const running = writtenConfig(decideTarget(observeWithTarget(stores, { defaultStore: "local", otherStores: [{ id: "local", type: "file" }] })));
  // The target object is deleted: the file store stays, and stays the default, since no cinder store asks.
  const after = decideTarget(observe(stores, running));
  t.deepEqual(writtenConfig(after).otherStores, [{ id: "local", type: "file" }]);
  t.is(writtenConfig(after).defaultStoreId, "local");
  // A cinder store that asks takes the default back.
  const asked = decideTarget(observe([observed("fast", { default: true }), observed("slow")], running));
  t.is(writtenConfig(asked).defaultStoreId, "fast");
  t.deepEqual(writtenConfig(asked).otherStores, [{ id: "local", type: "file" }]);
});

test("a target defaultStore that names no store leaves the default where Glance has it, and the default store says why", (t) => {
  const stores = [observed("fast", { default: true }), observed("slow")];
  const running = writtenConfig(decideTarget(observe(stores)));
  const decision = decideTarget(observeWithTarget(stores, { defaultStore: "nowhere", otherStores: [] }, running));
  t.is(writtenConfig(decision).defaultStoreId, "fast");
  const rendered = condition(of(decision, "fast"), "Rendered");
  t.is(rendered.reason, "KeptAsDefault");
  t.regex(rendered.message, /"nowhere".*spec\.defaultStore/);
  // Nothing rendered yet: no default to keep, so nothing is written.
  const fresh = decideTarget(observeWithTarget(stores, { defaultStore: "nowhere", otherStores: [] }));
  t.is(fresh.action.kind, "keep");
  if (fresh.action.kind === "keep") t.regex(fresh.action.reason, /"nowhere".*spec\.defaultStore/);
});

test("a deleting cinder default leaves at once when the target's default is another store", (t) => {
  const stores = [observed("fast", { default: true }), observed("slow")];
  const running = writtenConfig(decideTarget(observeWithTarget(stores, { otherStores: [{ id: "local", type: "file" }] })));
  const deleting = [observed("fast", { default: true }, { deleting: true, imageVolumes: { ok: true, count: 0 } }), observed("slow")];
  const decision = decideTarget(observeWithTarget(deleting, { defaultStore: "slow", otherStores: [{ id: "local", type: "file" }] }, running));
  const config = writtenConfig(decision);
  t.deepEqual(config.storeIds, ["slow"]);
  t.is(config.defaultStoreId, "slow");
  t.true(of(decision, "fast").releaseFinalizer);
});
