import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { glanceStoreCrdYaml } from "../api/crd.js";
import { runOperator } from "../controller/operator.js";
import { startDevStack } from "../devstack/stack.js";
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
    const operatorRun = stack.kube && stack.openstack && options.operator ? await startOperator(stack.kube, stack.openstack, options, logger, signal) : undefined;
    process.stdout.write(`# the local stack is up; in another shell:\nsource ${envFile}\n`);
    if (operatorRun) process.stdout.write(EXAMPLE);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await operatorRun?.finished;
  } finally {
    logger.info("stopping the local stack");
    await stack.stop();
  }
}

const EXAMPLE = `# the operator runs against it; try:
kubectl apply -f - <<'END'
apiVersion: glance.stores.dev/v1alpha1
kind: GlanceStore
metadata: {name: fast, namespace: default}
spec: {volumeType: glance-fast, default: true, credentialsSecretRef: {name: glance-cinder}}
END
openstack volume type create glance-fast   # the store becomes Ready within one re-check
kubectl get glancestores
`;

type Stack = Awaited<ReturnType<typeof startDevStack>>;

async function startOperator(
  kube: NonNullable<Stack["kube"]>,
  openstack: NonNullable<Stack["openstack"]>,
  options: DevOptions,
  logger: Logger,
  signal: AbortSignal,
): Promise<{ finished: Promise<unknown> }> {
  await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: glanceStoreCrdYaml() });
  await waitFor(async () => ((await kube.kubectl(["get", "glancestores", "-A"], { allowFailure: true })).code === 0 ? true : undefined), {
    what: "the GlanceStore CRD to be served",
    timeoutMs: 30_000,
  });
  const credentials = openstack.glanceCredentials;
  await kube.kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "glance-cinder", namespace: "default" },
      stringData: { authUrl: credentials.authUrl, username: credentials.username, password: credentials.password, projectName: credentials.projectName },
    }),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kube.kubeconfigPath);
  const finished = runOperator(
    {
      kubeConfig,
      namespaces: [],
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
  return { finished };
}
