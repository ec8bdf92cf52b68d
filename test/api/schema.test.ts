import test from "ava";
import {
  CINDER_DEFAULTS,
  DEFAULT_TARGET,
  effectiveStoreId,
  GlanceStoreSchema,
  GlanceStoreStatusSchema,
  updateProblems,
  type GlanceStore,
} from "../../src/api/glancestore.js";
import { fieldProblems, formatFieldProblem } from "../../src/api/issues.js";
import { ambiguousStoreIdPrefixes, RESERVED_GROUP_NAMES, storeIdProblem } from "../../src/api/store-id.js";
import { glanceStore, INVALID_CASES, INVALID_UPDATE_CASES, VALID_CASES, VALID_UPDATE_CASES } from "./cases.js";

test("the shared table has at least 30 invalid objects, each with a distinct name", (t) => {
  t.true(INVALID_CASES.length >= 30, `${INVALID_CASES.length} invalid cases`);
  const names = [...VALID_CASES, ...INVALID_CASES].map((c) => c.object.metadata.name);
  t.is(new Set(names).size, names.length);
});

for (const valid of VALID_CASES) {
  test(`zod accepts: ${valid.name}`, (t) => {
    const result = GlanceStoreSchema.safeParse(valid.object);
    t.true(result.success, result.success ? "" : fieldProblems(result.error.issues).map(formatFieldProblem).join("\n"));
  });
}

for (const invalid of INVALID_CASES) {
  test(`zod refuses, naming ${invalid.field}: ${invalid.name}`, (t) => {
    const result = GlanceStoreSchema.safeParse(invalid.object);
    if (result.success) {
      t.fail("accepted");
      return;
    }
    const problems = fieldProblems(result.error.issues);
    t.true(
      problems.some((p) => p.field === invalid.field || p.field.startsWith(`${invalid.field}.`)),
      problems.map(formatFieldProblem).join("\n"),
    );
  });
}

const parse = (object: unknown): GlanceStore => GlanceStoreSchema.parse(object);

for (const update of INVALID_UPDATE_CASES) {
  test(`the transition rules refuse, naming ${update.field}: ${update.name}`, (t) => {
    const problems = updateProblems(parse(update.before), parse(update.after));
    t.true(problems.some((p) => p.field === update.field), JSON.stringify(problems));
  });
}

for (const update of VALID_UPDATE_CASES) {
  test(`the transition rules allow: ${update.name}`, (t) => {
    t.deepEqual(updateProblems(parse(update.before), parse(update.after)), []);
  });
}

test("a minimal spec gets glance_store's defaults", (t) => {
  const store = parse(glanceStore("fast"));
  t.deepEqual(store.spec, {
    credentialsSecretRef: { name: "glance-cinder" },
    default: false,
    target: DEFAULT_TARGET,
    ...CINDER_DEFAULTS,
  });
  t.is(effectiveStoreId(store), "fast");
  t.is(effectiveStoreId(parse(glanceStore("fast.ssd", { storeId: "fast-ssd" }))), "fast-ssd");
});

test("problems name unknown fields at their own path and never repeat the value", (t) => {
  const result = GlanceStoreSchema.safeParse(glanceStore("x", { volumeTyp: "secret-looking-value", httpRetries: "hunter2" }));
  t.false(result.success);
  const text = result.success ? "" : fieldProblems(result.error.issues).map(formatFieldProblem).join("\n");
  t.regex(text, /spec\.volumeTyp: unknown field/);
  t.regex(text, /spec\.httpRetries: /);
  t.notRegex(text, /hunter2|secret-looking-value/);
});

test("the status schema takes what the controller writes and refuses a reason that is not CamelCase", (t) => {
  const status = {
    observedGeneration: 2,
    storeId: "fast",
    volumeType: "glance-fast",
    volumeTypeId: "6f1c5e0e-0000-4000-8000-000000000000",
    addDelete: "Enabled",
    addDeleteEnabled: true,
    rendered: true,
    imageVolumes: 0,
    conditions: [{ type: "Ready", status: "True", observedGeneration: 2, lastTransitionTime: "2024-05-01T10:00:00Z", reason: "StoreReady", message: "" }],
  };
  t.true(GlanceStoreStatusSchema.safeParse(status).success);
  const bad = GlanceStoreStatusSchema.safeParse({ conditions: [{ ...status.conditions[0], reason: "all good" }] });
  t.false(bad.success);
  t.deepEqual(bad.success ? [] : fieldProblems(bad.error.issues).map((p) => p.field), ["conditions[0].reason"]);
  // A newer operator may add status fields: an older one must still read the object.
  t.true(GlanceStoreStatusSchema.safeParse({ ...status, somethingNew: 1 }).success);
});

const STORE_ID_ROWS: readonly [id: string, code: string | undefined][] = [
  ["fast", undefined],
  ["fast_ssd-2", undefined],
  ["0", undefined],
  ["Fast", "InvalidStoreId"],
  ["fast:ssd", "InvalidStoreId"],
  ["", "InvalidStoreId"],
  ["_fast", "InvalidStoreId"],
  ["a".repeat(64), "InvalidStoreId"],
  ["os_glance_tasks_store", "ReservedStoreIdPrefix"],
  ["OS_GLANCE_X", "ReservedStoreIdPrefix"],
  ["oslo_policy", "ReservedGroupName"],
  ["glance_store", "ReservedGroupName"],
  ["default", "ReservedGroupName"],
  ["backend_defaults", "ReservedGroupName"],
];

for (const [id, code] of STORE_ID_ROWS) {
  test(`storeIdProblem(${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}...` : id)}) is ${code ?? "none"}`, (t) => {
    const actual: string | undefined = storeIdProblem(id)?.code;
    t.is(actual, code);
  });
}

test("every reserved group name is refused as a storeId by zod too", (t) => {
  for (const name of RESERVED_GROUP_NAMES) {
    t.false(GlanceStoreSchema.safeParse(glanceStore("x", { storeId: name })).success, name);
  }
});

test("ambiguous prefixes are found in both directions and only once", (t) => {
  t.deepEqual(ambiguousStoreIdPrefixes(["fast2", "slow", "fast", "fast-ssd", "fast"]), [
    ["fast", "fast-ssd"],
    ["fast", "fast2"],
  ]);
  t.deepEqual(ambiguousStoreIdPrefixes(["a", "b"]), []);
});
