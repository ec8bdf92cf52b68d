import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDevStack } from "../devstack/stack.js";
import type { Logger } from "../runtime/logger.js";

export interface DevOptions {
  readonly kube: boolean;
  readonly openstack: boolean;
  readonly stateDir: string | undefined;
  readonly keepState: boolean;
}

/**
 * Brings up the local stack for a person and keeps it up until Ctrl-C.
 * Prints the shell variables that point kubectl, helm and the openstack
 * client at it.
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
    process.stdout.write(`# the local stack is up; in another shell:\nsource ${envFile}\n`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } finally {
    logger.info("stopping the local stack");
    await stack.stop();
  }
}
