import test from "ava";
import type { Agent } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { shareConnections } from "../../src/kube/client-node-connections.js";

function kubeConfig(cluster: { server: string; proxyUrl?: string; caData?: string }): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "c", server: cluster.server, ...(cluster.caData ? { caData: cluster.caData } : {}), ...(cluster.proxyUrl ? { proxyUrl: cluster.proxyUrl } : {}), skipTLSVerify: false }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return config;
}

async function agentOf(config: KubeConfig): Promise<Agent> {
  const options: { agent?: Agent } = {};
  await config.applyToHTTPSOptions(options);
  return options.agent!;
}

test("client-node makes an agent per request; shared, every request of the config gets one keep-alive agent", async (t) => {
  const config = kubeConfig({ server: "https://127.0.0.1:6443", caData: Buffer.from("ca one").toString("base64") });
  t.not(await agentOf(config), await agentOf(config), "client-node's own behaviour, which this works around");
  t.is(shareConnections(config), config);
  t.is(shareConnections(config), config, "idempotent");
  const first = await agentOf(config);
  t.is(await agentOf(config), first);
  t.true((first as Agent & { keepAlive?: boolean }).keepAlive);
});

test("a changed CA (or client certificate) makes a new agent", async (t) => {
  const config = shareConnections(kubeConfig({ server: "https://127.0.0.1:6443", caData: Buffer.from("ca one").toString("base64") }));
  const first = await agentOf(config);
  config.clusters[0] = { ...config.clusters[0]!, caData: Buffer.from("ca two").toString("base64") };
  const second = await agentOf(config);
  t.not(second, first);
  t.is(await agentOf(config), second);
});

test("a proxied cluster keeps client-node's own agents", async (t) => {
  const config = shareConnections(kubeConfig({ server: "https://127.0.0.1:6443", proxyUrl: "http://127.0.0.1:3128" }));
  t.not(await agentOf(config), await agentOf(config));
});
