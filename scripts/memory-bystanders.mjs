#!/usr/bin/env node
// Peak memory of the operator in a namespace full of bystanders (issue 11):
// 1000 GlanceStores in 20 targets referencing 5 credentials Secrets, beside
// 5000 unrelated Secrets (1000 of them ~100 KB Helm release Secrets), 2000
// ConfigMaps and 500 Deployments. Kubernetes only (no OpenStack: every store
// check fails fast, which is fine, the caches are what is measured).
//
// Each --cli runs `glance-store-operator run` (as test/e2e/support.ts starts it,
// with --rollout-workloads=true so workloads are watched too) against the same
// populated stack, one after the other, and reports its VmHWM (peak RSS) and
// VmRSS from /proc when /readyz first answers (every cache synced) and again
// after --settle seconds of reconciling (every store's status is written then,
// and reset before the next run).
//
//   npm run build
//   node scripts/memory-bystanders.mjs --cli after=dist/src/cli/main.js --cli before=/tmp/gso-before/dist/src/cli/main.js
//
// Plain JavaScript on the compiled devstack (dist/), so it can drive any build
// of the CLI, e.g. one of main in a temporary clone for a before figure.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { startDevStack } from "../dist/src/devstack/stack.js";
import { allCrdsYaml } from "../dist/src/api/crd.js";
import { waitFor } from "../dist/src/devstack/wait.js";

const { values } = parseArgs({
  options: {
    cli: { type: "string", multiple: true, default: ["after=dist/src/cli/main.js"] },
    settle: { type: "string", default: "45" },
    stores: { type: "string", default: "1000" },
    secrets: { type: "string", default: "5000" },
    "helm-secrets": { type: "string", default: "1000" },
    "config-maps": { type: "string", default: "2000" },
    deployments: { type: "string", default: "500" },
    runs: { type: "string", default: "1" },
    // Populate, print the kubeconfig, and keep the stack until interrupted: for runs by hand (profiling).
    hold: { type: "boolean", default: false },
  },
});
const NAMESPACE = "openstack";
const counts = {
  stores: Number(values.stores),
  secrets: Number(values.secrets),
  helmSecrets: Number(values["helm-secrets"]),
  configMaps: Number(values["config-maps"]),
  deployments: Number(values.deployments),
};
const clis = values.cli.map((spec) => {
  const at = spec.indexOf("=");
  return at < 0 ? { label: spec, path: resolve(spec) } : { label: spec.slice(0, at), path: resolve(spec.slice(at + 1)) };
});

const log = (message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

/** Runs `make(i)` for i in [0, n) with `width` requests at a time. */
async function pool(n, width, make) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        await make(i);
      }
    }),
  );
}

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { peakMB: Math.round(kb("VmHWM") / 1024), rssMB: Math.round(kb("VmRSS") / 1024) };
}

const stack = await startDevStack({ openstack: false });
try {
  const kube = stack.kube;
  const config = new KubeConfig();
  config.loadFromFile(kube.kubeconfigPath);
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const custom = config.makeApiClient(CustomObjectsApi);
  await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: allCrdsYaml() });
  await waitFor(async () => ((await kube.kubectl(["get", "glancestores,glancestoretargets", "-A"], { allowFailure: true })).code === 0 ? true : undefined), {
    what: "the CRDs to be served",
    timeoutMs: 30_000,
  });
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });

  const started = Date.now();
  // The stores' 5 credentials Secrets: Keystone on a closed port, so every check fails at once.
  for (let i = 0; i < 5; i++) {
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: { metadata: { name: `glance-cinder-${i}` }, stringData: { authUrl: "http://127.0.0.1:9/v3", username: `glance-${i}`, password: randomBytes(12).toString("hex"), projectName: "service" } },
    });
  }
  // Bystanders. Helm release Secrets: ~100 KB of gzip-like (incompressible) payload each.
  await pool(counts.secrets, 16, (i) => {
    const helm = i < counts.helmSecrets;
    const body = helm
      ? {
          metadata: { name: `sh.helm.release.v1.app-${i}.v1`, labels: { owner: "helm", name: `app-${i}`, status: "deployed", version: "1" } },
          type: "helm.sh/release.v1",
          data: { release: randomBytes(75_000).toString("base64") },
        }
      : {
          metadata: { name: `bystander-${i}`, labels: { app: `app-${i % 50}` }, annotations: { "example.com/owner": "team-a" } },
          data: { "tls.crt": randomBytes(1_200).toString("base64"), "tls.key": randomBytes(1_200).toString("base64"), token: randomBytes(32).toString("base64") },
        };
    return core.createNamespacedSecret({ namespace: NAMESPACE, body });
  });
  log(`${counts.secrets} Secrets created`);
  await pool(counts.configMaps, 16, (i) =>
    core.createNamespacedConfigMap({
      namespace: NAMESPACE,
      body: { metadata: { name: `bystander-${i}`, labels: { app: `app-${i % 50}` } }, data: { "app.conf": `# config ${i}\n${"option = value\n".repeat(120)}` } },
    }),
  );
  log(`${counts.configMaps} ConfigMaps created`);
  await pool(counts.deployments, 16, (i) => {
    const labels = { app: `app-${i}`, "app.kubernetes.io/part-of": "bystanders" };
    const container = (name) => ({
      name,
      image: `registry.example.com/team/${name}:1.2.${i}`,
      args: ["--config=/etc/app/app.conf", "--log-level=info"],
      env: Array.from({ length: 20 }, (_, e) => ({ name: `SETTING_${e}`, value: `value-${e}-${"x".repeat(20)}` })),
      ports: [{ containerPort: 8080, name: "http" }],
      resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
      volumeMounts: [{ name: "config", mountPath: "/etc/app" }],
      readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 },
    });
    return apps.createNamespacedDeployment({
      namespace: NAMESPACE,
      body: {
        metadata: { name: `bystander-${i}`, labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels, annotations: { "example.com/scrape": "true" } },
            spec: { containers: [container("app"), container("sidecar")], volumes: [{ name: "config", configMap: { name: `bystander-${i % counts.configMaps}` } }] },
          },
        },
      },
    });
  });
  log(`${counts.deployments} Deployments created`);
  await pool(counts.stores, 16, (i) =>
    custom.createNamespacedCustomObject({
      group: "glance.stores.dev",
      version: "v1alpha1",
      plural: "glancestores",
      namespace: NAMESPACE,
      body: {
        apiVersion: "glance.stores.dev/v1alpha1",
        kind: "GlanceStore",
        metadata: { name: `store-${i}` },
        spec: { target: `glance-${String(i % 20).padStart(2, "0")}`, credentialsSecretRef: { name: `glance-cinder-${i % 5}` }, volumeType: `type-${i}` },
      },
    }),
  );
  log(`${counts.stores} GlanceStores created in ${Math.round((Date.now() - started) / 1000)} s`);

  if (values.hold) {
    process.stdout.write(`${JSON.stringify({ kubeconfig: kube.kubeconfigPath, namespace: NAMESPACE })}\n`);
    await new Promise((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    process.exitCode = 0;
  }
  // Each run starts from stores without a status, so every run writes the same 1000 statuses.
  const resetStatuses = () =>
    pool(counts.stores, 16, (i) =>
      custom.patchNamespacedCustomObjectStatus(
        { group: "glance.stores.dev", version: "v1alpha1", plural: "glancestores", namespace: NAMESPACE, name: `store-${i}`, body: { status: null } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
  const results = [];
  if (values.hold) clis.length = 0;
  for (let run = 0; run < Number(values.runs); run++) {
    for (const cli of clis) {
      const healthPort = await stack.ports.allocate();
      const metricsPort = await stack.ports.allocate();
      const operator = stack.supervisor.start({
        name: `operator-${cli.label}-${run}`,
        command: process.execPath,
        args: [
          cli.path,
          "run",
          `--kubeconfig=${kube.kubeconfigPath}`,
          `--namespaces=${NAMESPACE}`,
          "--rollout-workloads=true",
          `--metrics-address=127.0.0.1:${metricsPort}`,
          "--metrics-secure=false",
          `--health-address=127.0.0.1:${healthPort}`,
          "--leader-elect=false",
          "--log-level=info",
        ],
        env: { ...process.env },
      });
      const t0 = Date.now();
      await waitFor(async () => ((await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok ? true : undefined), {
        what: `${cli.label}'s /readyz`,
        timeoutMs: 300_000,
        intervalMs: 100,
        abortIf: () => (operator.exitInfo() ? `it exited: ${JSON.stringify(operator.exitInfo())}; see ${operator.logFile}` : undefined),
      });
      const synced = { ...memory(operator.pid), seconds: Math.round((Date.now() - t0) / 100) / 10 };
      log(`${cli.label}: caches synced after ${synced.seconds} s, peak ${synced.peakMB} MB`);
      await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
      const settled = memory(operator.pid);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const reconciles = [...metrics.matchAll(/^glance_store_operator_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      await operator.stop(20_000);
      results.push({ cli: cli.label, run, synced, settled: { ...settled, afterSeconds: Number(values.settle), reconciles } });
      await resetStatuses();
      log(`${cli.label}: after ${values.settle} s more, peak ${settled.peakMB} MB, RSS ${settled.rssMB} MB`);
    }
  }
  process.stdout.write(`${JSON.stringify({ counts, results }, null, 2)}\n`);
} finally {
  await stack.stop();
}
