import { createHash } from "node:crypto";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

type CreateAgent = (cluster: { server?: string; proxyUrl?: string } | null | undefined, options: https.AgentOptions) => https.Agent;

const SHARED = Symbol("glance-store-operator.sharedAgent");

/**
 * Makes every request `kubeConfig` sets up (client-node's typed APIs through
 * `applySecurityAuthentication`, the informers through `applyToHTTPSOptions`)
 * go through one keep-alive HTTPS agent, instead of the new `https.Agent`
 * client-node makes per request: that is a TLS handshake and a TLS context
 * (the CA and client certificate parsed again) for every status patch, and
 * the native memory of thousands of them is what the operator's peak RSS
 * grew by while it wrote the statuses of a thousand stores (issue 11).
 *
 * The agent is made again when what it is made from changes (the CA, a
 * client certificate rotated on disk, the server): a key of those is
 * compared on every request. A proxied or plain-HTTP cluster keeps
 * client-node's own agent. Idempotent; returns `kubeConfig`.
 */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  const target = kubeConfig as unknown as { createAgent: CreateAgent; [SHARED]?: true };
  if (target[SHARED] === true) return kubeConfig;
  const original = target.createAgent.bind(kubeConfig);
  let shared: { key: string; agent: https.Agent } | undefined;
  target.createAgent = (cluster, options) => {
    if (cluster?.proxyUrl || !cluster?.server?.startsWith("https:")) return original(cluster, options);
    const key = agentKey(cluster.server, options);
    if (shared?.key !== key) shared = { key, agent: new https.Agent({ ...options, keepAlive: true }) };
    return shared.agent;
  };
  target[SHARED] = true;
  return kubeConfig;
}

/** A digest of what the agent's TLS is made from. */
function agentKey(server: string, options: https.AgentOptions): string {
  const hash = createHash("sha256").update(server);
  for (const field of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername", "ciphers", "crl", "secureProtocol"] as const) {
    const value = options[field];
    hash.update(`\0${field}=`);
    for (const part of Array.isArray(value) ? value : [value]) {
      if (part === undefined) continue;
      hash.update(typeof part === "object" && !Buffer.isBuffer(part) ? JSON.stringify(part) : Buffer.isBuffer(part) ? part : String(part)).update("\0");
    }
  }
  return hash.digest("hex");
}
