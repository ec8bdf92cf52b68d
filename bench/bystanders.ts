/**
 * Objects the operator has no business with, in the namespace it watches:
 * 5000 Secrets (500 of them 100 KB, shaped like Helm release Secrets, the
 * rest small), 2000 ConfigMaps and 500 Deployments. The bystanders cold
 * start is the 1000-store one with these added before the operator starts.
 */
import { randomBytes } from "node:crypto";
import type { BenchCluster } from "./cluster.js";
import { CREATE_CONCURRENCY } from "./cluster.js";
import { pool } from "./measure.js";

export const BYSTANDERS = { secrets: 5000, largeSecrets: 500, largeSecretBytes: 100 * 1024, configMaps: 2000, deployments: 500 } as const;

export async function createBystanders(cluster: BenchCluster, namespace: string, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const indexes = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  // One random payload of 100 KB as the object carries it (base64), reused: etcd and an informer hold each copy anyway.
  const large = randomBytes((BYSTANDERS.largeSecretBytes * 3) / 4).toString("base64");
  await pool(indexes(BYSTANDERS.secrets), CREATE_CONCURRENCY, async (i) => {
    const helm = i < BYSTANDERS.largeSecrets;
    const name = helm ? `sh.helm.release.v1.app-${i}.v1` : `app-secret-${i}`;
    await cluster.core.createNamespacedSecret({
      namespace,
      body: helm
        ? { metadata: { name, namespace, labels: { owner: "helm", name: `app-${i}`, status: "deployed", version: "1" } }, type: "helm.sh/release.v1", data: { release: large } }
        : { metadata: { name, namespace, labels: { app: `app-${i % 50}` } }, type: "Opaque", stringData: { username: `user-${i}`, password: randomBytes(16).toString("hex") } },
    });
  });
  await pool(indexes(BYSTANDERS.configMaps), CREATE_CONCURRENCY, async (i) => {
    await cluster.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: `app-config-${i}`, namespace, labels: { app: `app-${i % 50}` } }, data: { "app.conf": `# settings of app ${i}\n${"key = value\n".repeat(60)}` } },
    });
  });
  await pool(indexes(BYSTANDERS.deployments), CREATE_CONCURRENCY, async (i) => {
    const labels = { app: `app-${i}` };
    await cluster.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: `app-${i}`, namespace, labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "app", image: "registry.example/app:1.0", ports: [{ containerPort: 8080 }], env: [{ name: "MODE", value: "production" }] }] },
          },
        },
      },
    });
  });
  log(`bystanders: ${BYSTANDERS.secrets} Secrets, ${BYSTANDERS.configMaps} ConfigMaps, ${BYSTANDERS.deployments} Deployments created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
