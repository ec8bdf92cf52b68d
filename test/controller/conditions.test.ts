import test from "ava";
import { conditionTransitions, mergeConditions, type Condition, type DesiredCondition } from "../../src/controller/conditions.js";

const t0 = new Date("2026-11-26T10:00:00.123Z");
const t1 = new Date("2026-11-26T10:05:00.999Z");

const ready = (status: "True" | "False", reason = status === "True" ? "Ready" : "VolumeTypeNotFound"): DesiredCondition => ({
  type: "Ready",
  status,
  reason,
  message: `m-${reason}`,
});

const rows: { name: string; current: Condition[] | undefined; desired: DesiredCondition[]; expectTime: string }[] = [
  { name: "a new condition gets now, at second precision", current: undefined, desired: [ready("True")], expectTime: "2026-11-26T10:05:00Z" },
  {
    name: "an unchanged status keeps its transition time",
    current: mergeConditions(undefined, [ready("True")], { now: t0, observedGeneration: 1 }),
    desired: [ready("True")],
    expectTime: "2026-11-26T10:00:00Z",
  },
  {
    name: "a changed reason with the same status keeps its transition time",
    current: mergeConditions(undefined, [ready("False", "Unreachable")], { now: t0, observedGeneration: 1 }),
    desired: [ready("False", "VolumeTypeNotFound")],
    expectTime: "2026-11-26T10:00:00Z",
  },
  {
    name: "a flipped status moves the transition time",
    current: mergeConditions(undefined, [ready("False")], { now: t0, observedGeneration: 1 }),
    desired: [ready("True")],
    expectTime: "2026-11-26T10:05:00Z",
  },
];

for (const row of rows) {
  test(`mergeConditions: ${row.name}`, (t) => {
    const [merged] = mergeConditions(row.current, row.desired, { now: t1, observedGeneration: 2 });
    t.is(merged?.lastTransitionTime, row.expectTime);
    t.is(merged?.observedGeneration, 2);
    t.is(merged?.reason, row.desired[0]?.reason);
  });
}

test("mergeConditions drops types no longer desired and follows the desired order", (t) => {
  const current = mergeConditions(undefined, [ready("True"), { type: "Old", status: "True", reason: "X", message: "" }], { now: t0, observedGeneration: 1 });
  const merged = mergeConditions(current, [{ type: "Rendered", status: "True", reason: "Rendered", message: "" }, ready("True")], { now: t1, observedGeneration: 1 });
  t.deepEqual(merged.map((c) => c.type), ["Rendered", "Ready"]);
});

test("conditionTransitions reports new conditions and status or reason changes, not message changes", (t) => {
  const before = mergeConditions(undefined, [ready("True"), { type: "Rendered", status: "True", reason: "Rendered", message: "a" }], { now: t0, observedGeneration: 1 });
  const after = mergeConditions(
    before,
    [ready("False"), { type: "Rendered", status: "True", reason: "Rendered", message: "b" }, { type: "CredentialsValid", status: "True", reason: "Authenticated", message: "" }],
    { now: t1, observedGeneration: 1 },
  );
  t.deepEqual(
    conditionTransitions(before, after).map((x) => [x.type, x.from, x.to]),
    [
      ["Ready", "True", "False"],
      ["CredentialsValid", undefined, "True"],
    ],
  );
});
