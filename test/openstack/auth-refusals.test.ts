import test from "ava";
import { AuthRefusals } from "../../src/openstack/auth-refusals.js";

function ledger(holdMs = 60_000) {
  let now = 1_000_000;
  const refusals = new AuthRefusals({ now: () => now, holdMs });
  return { refusals, advance: (ms: number) => (now += ms), now: () => now };
}

test("a refused credential set is held for the hold period, then forgotten", (t) => {
  const { refusals, advance, now } = ledger();
  const refusal = refusals.refused("set-a", "Keystone refused user glance (HTTP 401)");
  t.deepEqual(refusal, { refusedAtMs: now(), retryAtMs: now() + 60_000, message: "Keystone refused user glance (HTTP 401)" });
  advance(59_999);
  t.is(refusals.held("set-a")?.retryAtMs, refusal.retryAtMs);
  t.is(refusals.heldCount(), 1);
  advance(1);
  t.is(refusals.held("set-a"), undefined);
  t.is(refusals.heldCount(), 0);
});

test("the hold is per exact credential set: another set (a changed Secret) is not held", (t) => {
  const { refusals } = ledger();
  refusals.refused("set-a", "refused");
  t.is(refusals.held("set-b"), undefined);
});

test("an acceptance clears a refusal and marks the set as one that may be re-sent", (t) => {
  const { refusals } = ledger();
  t.false(refusals.wasAccepted("set-a"));
  refusals.refused("set-a", "refused");
  refusals.accepted("set-a");
  t.is(refusals.held("set-a"), undefined);
  t.true(refusals.wasAccepted("set-a"));
  refusals.refused("set-a", "refused again");
  t.false(refusals.wasAccepted("set-a"), "a set Keystone refused is no longer known good");
});

test("a remembered refusal (from a status) holds until its own retry time, and never shortens a known one", (t) => {
  const { refusals, advance, now } = ledger(60_000);
  refusals.remember("set-a", { refusedAtMs: now() - 10_000, retryAtMs: now() + 5_000, message: "recorded" });
  t.is(refusals.held("set-a")?.message, "recorded");
  refusals.remember("set-b", { refusedAtMs: now() - 10_000, retryAtMs: now() - 1, message: "expired" });
  t.is(refusals.held("set-b"), undefined, "an expired record holds nothing");
  const fresh = refusals.refused("set-c", "fresh");
  refusals.remember("set-c", { refusedAtMs: now() - 5_000, retryAtMs: now() + 1_000, message: "older" });
  t.is(refusals.held("set-c")?.retryAtMs, fresh.retryAtMs);
  advance(5_000);
  t.is(refusals.held("set-a"), undefined);
});

test("a negative or infinite hold is refused with the value", (t) => {
  t.throws(() => new AuthRefusals({ now: () => 0, holdMs: -1 }), { message: /-1 ms/ });
  t.throws(() => new AuthRefusals({ now: () => 0, holdMs: Number.POSITIVE_INFINITY }), { message: /Infinity/ });
});
