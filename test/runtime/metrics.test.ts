/**
 * The gauges the alerts of the chart's PrometheusRule read: since when a
 * target's stores have been degraded or their deletion held, and how many
 * credential sets Keystone refused are held off now.
 */
import test from "ava";
import { Registry } from "prom-client";
import { OperatorMetrics } from "../../src/runtime/metrics.js";

test("since-times are exposed in seconds while set, and disappear when the problem ends or the target goes", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.setStoreTimes("ns/a", { degradedSinceMs: 1_700_000_000_500, deletionBlockedSinceMs: 1_700_000_100_000 });
  metrics.setStoreTimes("ns/b", { degradedSinceMs: 1_700_000_000_000, deletionBlockedSinceMs: undefined });
  let text = await registry.metrics();
  t.regex(text, /glance_store_operator_degraded_since_timestamp_seconds\{target="ns\/a"\} 1700000000\.5\n/);
  t.regex(text, /glance_store_operator_deletion_blocked_since_timestamp_seconds\{target="ns\/a"\} 1700000100\n/);
  t.notRegex(text, /deletion_blocked_since_timestamp_seconds\{target="ns\/b"\}/);

  metrics.setStoreTimes("ns/a", { degradedSinceMs: undefined, deletionBlockedSinceMs: 1_700_000_100_000 });
  text = await registry.metrics();
  t.notRegex(text, /degraded_since_timestamp_seconds\{target="ns\/a"\}/);
  t.regex(text, /glance_store_operator_degraded_since_timestamp_seconds\{target="ns\/b"\} 1700000000\n/);

  metrics.removeTarget("ns/a");
  text = await registry.metrics();
  t.notRegex(text, /target="ns\/a"/);
});

test("held credential sets are read from their source at each scrape, 0 without one", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  t.regex(await registry.metrics(), /\nglance_store_operator_keystone_held_credential_sets 0\n/);
  let held = 2;
  metrics.setHeldCredentialSetsSource(() => held);
  t.regex(await registry.metrics(), /\nglance_store_operator_keystone_held_credential_sets 2\n/);
  held = 0;
  t.regex(await registry.metrics(), /\nglance_store_operator_keystone_held_credential_sets 0\n/);
});

test("a target that is not an identifier is recorded as invalid, never as given", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.setStoreTimes("ns/a password=hunter2", { degradedSinceMs: 1_000, deletionBlockedSinceMs: undefined });
  const text = await registry.metrics();
  t.notRegex(text, /hunter2/);
  t.regex(text, /degraded_since_timestamp_seconds\{target="invalid"\} 1\n/);
});
