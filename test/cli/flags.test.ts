import test from "ava";
import { parseDuration } from "../../src/cli/duration.js";
import { parseAddress, resolveRunFlags } from "../../src/cli/run.js";

const durations: [string, number][] = [
  ["30s", 30_000],
  ["5m", 300_000],
  ["1h30m", 5_400_000],
  ["500ms", 500],
  ["1.5s", 1_500],
];
for (const [text, ms] of durations) {
  test(`parseDuration reads ${text}`, (t) => t.is(parseDuration(text, "--x"), ms));
}
for (const text of ["", "30", "5 minutes", "m5", "5m junk"]) {
  test(`parseDuration refuses ${JSON.stringify(text)} and names the flag`, (t) => {
    t.throws(() => parseDuration(text, "--recheck-period"), { message: /--recheck-period .* is not a duration: write it like 30s/ });
  });
}

test("flags win over the environment, which wins over defaults", (t) => {
  const flags = resolveRunFlags(["--recheck-period=1m"], { GSO_RECHECK_PERIOD: "2m", GSO_CONCURRENCY: "7" });
  t.is(flags["recheck-period"], "1m");
  t.is(flags.concurrency, "7");
  t.is(flags["log-level"], "info");
  t.is(flags["leader-elect"], "false");
});

test("unknown flags are refused", (t) => {
  t.throws(() => resolveRunFlags(["--recheck=1m"], {}), { message: /Unknown option '--recheck'/ });
});

test("addresses are HOST:PORT or off", (t) => {
  t.deepEqual(parseAddress("0.0.0.0:8080", "--metrics-address"), { host: "0.0.0.0", port: 8080 });
  t.deepEqual(parseAddress(":8081", "--health-address"), { host: "0.0.0.0", port: 8081 });
  t.is(parseAddress("off", "--metrics-address"), undefined);
  t.throws(() => parseAddress("8080", "--metrics-address"), { message: /--metrics-address "8080" is not HOST:PORT/ });
});

test("least privilege by default: no workload rollout, /metrics over HTTPS with authentication; both from the environment too", (t) => {
  const defaults = resolveRunFlags([], {});
  t.is(defaults["rollout-workloads"], "false");
  t.is(defaults["metrics-secure"], "true");
  t.is(defaults["metrics-cert-dir"], undefined);
  const fromEnv = resolveRunFlags([], { GSO_ROLLOUT_WORKLOADS: "true", GSO_METRICS_SECURE: "false", GSO_METRICS_CERT_DIR: "/certs" });
  t.is(fromEnv["rollout-workloads"], "true");
  t.is(fromEnv["metrics-secure"], "false");
  t.is(fromEnv["metrics-cert-dir"], "/certs");
});

test("run refuses plain HTTP metrics on an address other than loopback, and says what to do", async (t) => {
  const { runRun } = await import("../../src/cli/run.js");
  const kubeconfig = new URL("../../../test/fixtures/no-such-kubeconfig", import.meta.url).pathname;
  await t.throwsAsync(() => runRun([`--kubeconfig=${kubeconfig}`, "--metrics-address=0.0.0.0:8080", "--metrics-secure=false"], AbortSignal.abort()), {
    message: /--metrics-secure=false serves \/metrics without TLS or authentication to anyone who reaches 0\.0\.0\.0:8080: allowed on a loopback address only/,
  });
});

test("every flag of run is in run --help and in the flags table of docs/operations.md", async (t) => {
  const { OPTIONS, RUN_USAGE } = await import("../../src/cli/run.js");
  const { readFile } = await import("node:fs/promises");
  const operations = await readFile(new URL("../../../docs/operations.md", import.meta.url), "utf8");
  const table = operations.slice(operations.indexOf("| Flag |"), operations.indexOf("Durations are written"));
  for (const name of Object.keys(OPTIONS).filter((n) => n !== "help")) {
    t.true(RUN_USAGE.includes(`--${name} `), `--${name} is missing from run --help`);
    t.true(table.includes(`\`--${name}`), `--${name} is missing from docs/operations.md`);
  }
});
