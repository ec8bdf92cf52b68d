import { appendFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeClient } from "../kube/client.js";
import { allCrdsYaml } from "../api/crd.js";
import { runOperator } from "../controller/operator.js";
import { WORKLOAD_TARGET_ANNOTATION } from "../controller/naming.js";
import { GlanceSync } from "../devstack/glance-sync.js";
import { startDevStack } from "../devstack/stack.js";
import { GLANCE_CONF_DIR } from "../render/glance-paths.js";
import { waitFor } from "../devstack/wait.js";
import type { Logger } from "../runtime/logger.js";

export interface DevOptions {
  readonly kube: boolean;
  readonly openstack: boolean;
  readonly stateDir: string | undefined;
  readonly keepState: boolean;
  /** Run the operator against the stack (needs both halves). */
  readonly operator: boolean;
  readonly recheckPeriodMs: number;
}

/**
 * Brings up the local stack for a person and keeps it up until Ctrl-C.
 * Prints the shell variables that point kubectl, helm and the openstack
 * client at it. With both halves up it installs the CRD, a credentials
 * Secret for the stack's `glance` user, and runs the operator against them:
 * apply a GlanceStore and watch it in `kubectl get glancestores`.
 */
export async function runDev(options: DevOptions, logger: Logger, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const stack = await startDevStack({
    kube: options.kube,
    openstack: options.openstack,
    keepState: options.keepState,
    log: (message) => logger.info(message),
    ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
  });
  try {
    const exports: string[] = [];
    if (stack.kube) exports.push(`export KUBECONFIG=${stack.kube.kubeconfigPath}`);
    if (stack.openstack) {
      const admin = stack.openstack.adminCredentials;
      exports.push(
        `export OS_AUTH_URL=${admin.authUrl}`,
        `export OS_USERNAME=${admin.username}`,
        `export OS_PASSWORD=${admin.password}`,
        `export OS_PROJECT_NAME=${admin.projectName}`,
        "export OS_USER_DOMAIN_NAME=Default",
        "export OS_PROJECT_DOMAIN_NAME=Default",
        "export OS_IDENTITY_API_VERSION=3",
        `export OS_REGION_NAME=${stack.openstack.region}`,
      );
    }
    const envFile = join(stack.directory, "env.sh");
    await writeFile(envFile, `${exports.join("\n")}\n`);
    logger.info(
      {
        seconds: Math.round((Date.now() - started) / 100) / 10,
        kubeApiserver: stack.kube?.server,
        keystone: stack.openstack?.keystoneUrl,
        cinder: stack.openstack?.cinderUrl,
        envFile,
        logs: join(stack.directory, "logs"),
      },
      "local stack is up; Ctrl-C stops it",
    );
    const operatorRun = stack.kube && stack.openstack && options.operator ? await startOperator(stack, stack.kube, stack.openstack, options, logger, signal) : undefined;
    if (operatorRun !== undefined) {
      await appendFile(envFile, `export GLANCE_URL=${operatorRun.glanceUrl}\n`);
    }
    process.stdout.write(`# the local stack is up; in another shell:\nsource ${envFile}\n`);
    if (operatorRun) process.stdout.write(nextSteps(operatorRun.glanceUrl));
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await operatorRun?.finished;
    await operatorRun?.sync.stop();
  } finally {
    logger.info("stopping the local stack");
    await stack.stop();
  }
}

/** Where the local stack keeps what a person applies, as README.md's examples do. */
export const DEV_NAMESPACE = "openstack";
export const DEV_TARGET = "glance-api";
/** The volume types README.md's stores name; the local Cinder has them. */
export const DEV_VOLUME_TYPES = ["glance-fast", "glance-slow"] as const;

function nextSteps(glanceUrl: string): string {
  return `# the operator runs against it, and a glance-api (WSGI, as in a cluster) serves what it renders.
# Apply the stores of README.md (the Secret glance-cinder and the volume types exist already):
kubectl apply -f - <<'END'
apiVersion: glance.stores.dev/v1alpha1
kind: GlanceStore
metadata: {name: fast, namespace: ${DEV_NAMESPACE}}
spec: {volumeType: glance-fast, description: Fast SSD, default: true, credentialsSecretRef: {name: glance-cinder}}
---
apiVersion: glance.stores.dev/v1alpha1
kind: GlanceStore
metadata: {name: slow, namespace: ${DEV_NAMESPACE}}
spec: {volumeType: glance-slow, credentialsSecretRef: {name: glance-cinder}}
END
kubectl get glancestores -n ${DEV_NAMESPACE}            # Ready within seconds; -o wide says why when not
kubectl get configmap ${DEV_TARGET}-stores -n ${DEV_NAMESPACE} -o yaml   # what Glance is given
# Glance's own list of its stores (glance-api restarts when they change, as a rollout would):
curl -s -H "X-Auth-Token: $(openstack token issue -f value -c id)" ${glanceUrl}/v2/info/stores
`;
}

type Stack = Awaited<ReturnType<typeof startDevStack>>;

async function startOperator(
  stack: Stack,
  kube: NonNullable<Stack["kube"]>,
  openstack: NonNullable<Stack["openstack"]>,
  options: DevOptions,
  logger: Logger,
  signal: AbortSignal,
): Promise<{ finished: Promise<unknown>; sync: GlanceSync; glanceUrl: string }> {
  await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: allCrdsYaml() });
  await waitFor(async () => ((await kube.kubectl(["get", "glancestores,glancestoretargets", "-A"], { allowFailure: true })).code === 0 ? true : undefined), {
    what: "the GlanceStore and GlanceStoreTarget CRDs to be served",
    timeoutMs: 30_000,
  });
  const credentials = openstack.glanceCredentials;
  const known = new Set((await openstack.admin.listVolumeTypes({ includePrivate: true })).map((type) => type.name));
  for (const name of DEV_VOLUME_TYPES) if (!known.has(name)) await openstack.admin.createVolumeType(name, { description: `local stack: ${name}` });
  await kube.kubectl(["apply", "-f", "-"], {
    input: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: DEV_NAMESPACE } },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "glance-cinder", namespace: DEV_NAMESPACE },
        stringData: { authUrl: credentials.authUrl, username: credentials.username, password: credentials.password, projectName: credentials.projectName },
      },
      // Stands for glance-api: no kubelet runs it, GlanceSync does; the operator rolls it as it would a real one.
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: DEV_TARGET, namespace: DEV_NAMESPACE, annotations: { [WORKLOAD_TARGET_ANNOTATION]: DEV_TARGET } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: DEV_TARGET } },
          template: { metadata: { labels: { app: DEV_TARGET } }, spec: { containers: [{ name: "glance-api", image: "local-stack/glance-api" }] } },
        },
      },
    ]
      .map((object) => JSON.stringify(object))
      .join("\n"),
  });
  const kubeClient = await KubeClient.load({ kubeconfig: kube.kubeconfigPath });
  const finished = runOperator(
    {
      kube: kubeClient,
      namespaces: [],
      // The stand-in glance-api Deployment rolls as a real one would: the kubelet stand-in restarts glance-api on the hash.
      rolloutWorkloads: true,
      recheckPeriodMs: options.recheckPeriodMs,
      concurrency: 2,
      logger: logger.child({ component: "operator" }),
      metricsAddress: { host: "127.0.0.1", port: 0 },
      healthAddress: { host: "127.0.0.1", port: 0 },
      leaderElection: { enabled: false },
      onListening: (servers) => logger.info({ metrics: servers.metrics?.url, health: servers.health?.url }, "operator endpoints"),
    },
    signal,
  );
  const port = await stack.ports.allocate();
  let instance = 0;
  const sync = new GlanceSync({
    kube: kubeClient,
    namespace: DEV_NAMESPACE,
    target: DEV_TARGET,
    deployment: DEV_TARGET,
    directory: join(stack.directory, "glance.conf.d"),
    startGlance: (configDir) => openstack.startGlance({ configDir, mountPath: GLANCE_CONF_DIR, server: "wsgi", port, name: `glance-api-${++instance}` }),
    logger,
  });
  sync.start();
  return { finished, sync, glanceUrl: `http://127.0.0.1:${port}` };
}
