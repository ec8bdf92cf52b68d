/**
 * The gauges the alerts of the chart's PrometheusRule read: since when a
 * target's stores have been degraded or their deletion held, and how many of
 * its stores have credentials Keystone refused.
 */
import test from "ava";
import { Registry } from "prom-client";
import { OperatorMetrics } from "../../src/runtime/metrics.js";

test("since-times are exposed in seconds while set, and disappear when the problem ends or the target goes", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.setStoreSummary("ns/a", { degradedSinceMs: 1_700_000_000_500, deletionBlockedSinceMs: 1_700_000_100_000, credentialsRefused: 2 });
  metrics.setStoreSummary("ns/b", { degradedSinceMs: 1_700_000_000_000, deletionBlockedSinceMs: undefined, credentialsRefused: 0 });
  let text = await registry.metrics();
  t.regex(text, /glance_store_operator_degraded_since_timestamp_seconds\{target="ns\/a"\} 1700000000\.5\n/);
  t.regex(text, /glance_store_operator_deletion_blocked_since_timestamp_seconds\{target="ns\/a"\} 1700000100\n/);
  t.notRegex(text, /deletion_blocked_since_timestamp_seconds\{target="ns\/b"\}/);
  // The refused-credentials count is there for every target, 0 included, so an alert can compare it.
  t.regex(text, /glance_store_operator_credentials_refused_stores\{target="ns\/a"\} 2\n/);
  t.regex(text, /glance_store_operator_credentials_refused_stores\{target="ns\/b"\} 0\n/);

  metrics.setStoreSummary("ns/a", { degradedSinceMs: undefined, deletionBlockedSinceMs: 1_700_000_100_000, credentialsRefused: 1 });
  text = await registry.metrics();
  t.notRegex(text, /degraded_since_timestamp_seconds\{target="ns\/a"\}/);
  t.regex(text, /glance_store_operator_degraded_since_timestamp_seconds\{target="ns\/b"\} 1700000000\n/);
  t.regex(text, /glance_store_operator_credentials_refused_stores\{target="ns\/a"\} 1\n/);

  metrics.removeTarget("ns/a");
  text = await registry.metrics();
  t.notRegex(text, /target="ns\/a"/);
});

test("a target that is not an identifier is recorded as invalid, never as given", async (t) => {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry);
  metrics.setStoreSummary("ns/a password=hunter2", { degradedSinceMs: 1_000, deletionBlockedSinceMs: undefined, credentialsRefused: 0 });
  const text = await registry.metrics();
  t.notRegex(text, /hunter2/);
  t.regex(text, /degraded_since_timestamp_seconds\{target="invalid"\} 1\n/);
});
