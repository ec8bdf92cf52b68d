import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { stringify } from "yaml";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.js";
import { createLogger, type Logger } from "../../src/runtime/logger.js";
import type { DevStack } from "../../src/devstack/stack.js";
import type { KubeCluster } from "../../src/devstack/kube.js";

/** A real logger whose JSON lines the test can read back. */
export function captureLogger(level: "debug" | "info" | "warn" = "debug"): { logger: Logger; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  let partial = "";
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      partial += chunk.toString();
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts.filter((line) => line !== ""));
      callback();
    },
  });
  return {
    logger: createLogger({ level, destination }),
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export function kubeOf(stack: DevStack): KubeCluster {
  if (!stack.kube) throw new Error("the stack was started without Kubernetes");
  return stack.kube;
}

export function kubeConfigOf(stack: DevStack): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(kubeOf(stack).kubeconfigPath);
  return config;
}

/** The operator's own apiserver client, as `run` makes it from the stack's kubeconfig. */
export function kubeClientOf(stack: DevStack): Promise<KubeClient> {
  return KubeClient.load({ kubeconfig: kubeOf(stack).kubeconfigPath });
}

/** Writes `dir`/config: a kubeconfig whose one context, `name`, is `cluster` with `user` (none: anonymous). */
export async function writeKubeconfig(
  dir: string,
  name: string,
  cluster: Record<string, unknown> & { server: string },
  user?: Record<string, unknown>,
  namespace?: string,
): Promise<string> {
  const path = join(dir, "config");
  await writeFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": name,
      clusters: [{ name: "cluster", cluster }],
      ...(user === undefined ? {} : { users: [{ name: "user", user }] }),
      contexts: [{ name, context: { cluster: "cluster", ...(user === undefined ? {} : { user: "user" }), ...(namespace === undefined ? {} : { namespace }) } }],
    }),
  );
  return path;
}
