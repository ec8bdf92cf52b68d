/**
 * The operator's apiserver client against a real kube-apiserver: the
 * credentials it finds (a pod's service account, a kubeconfig's files, an
 * exec plugin through client-node), who the apiserver says it is
 * (SelfSubjectReview), its errors, and that `run` never loads client-node
 * for a user that needs no plugin.
 */
import test from "ava";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { startDevStack, type DevStack } from "../../src/devstack/stack.js";
import { loadKubeAccess } from "../../src/kube/access.js";
import { KubeClient, MERGE_PATCH, microTime } from "../../src/kube/client.js";
import { apiStatusOf, describeKubeError, KubeRequestTimeoutError } from "../../src/kube/errors.js";
import { KubeconfigError } from "../../src/kube/kubeconfig.js";
import { kubeOf, writeKubeconfig } from "../controller/support.js";

let stack: DevStack;
let port: string;
let caPem: Buffer;
let admin: { cert: Buffer; key: Buffer };
const NAMESPACE = "kube-client";

test.before(async () => {
  stack = await startDevStack({ openstack: false });
  const kube = kubeOf(stack);
  port = new URL(kube.server).port;
  const config = parse(await readFile(kube.kubeconfigPath, "utf8")) as {
    clusters: { cluster: Record<string, string> }[];
    users: { user: Record<string, string> }[];
  };
  caPem = Buffer.from(config.clusters[0]!.cluster["certificate-authority-data"]!, "base64");
  admin = { cert: Buffer.from(config.users[0]!.user["client-certificate-data"]!, "base64"), key: Buffer.from(config.users[0]!.user["client-key-data"]!, "base64") };
  await kube.kubectl(["create", "namespace", NAMESPACE]);
  for (const account of ["first", "second"]) await kube.kubectl(["create", "serviceaccount", "-n", NAMESPACE, account]);
});

test.after.always(async () => {
  await stack?.stop();
});

async function tokenOf(account: string): Promise<string> {
  return (await kubeOf(stack).kubectl(["create", "token", "-n", NAMESPACE, account])).stdout.trim();
}

/** Who the apiserver takes the client for. */
async function whoAmI(kube: KubeClient): Promise<string | undefined> {
  const review = await kube.request<{ status?: { userInfo?: { username?: string } } }>({
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return review.status?.userInfo?.username;
}

test("in a pod: the service account's token and CA and its namespace; a token kubelet rotated is read again, on the same connections", async (t) => {
  const dir = await mkdtemp(join(stack.directory, "serviceaccount-"));
  await writeFile(join(dir, "ca.crt"), caPem);
  await writeFile(join(dir, "namespace"), `${NAMESPACE}\n`);
  await writeFile(join(dir, "token"), await tokenOf("first"));
  let now = 0;
  const access = await loadKubeAccess({
    env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port, HOME: dir },
    serviceAccountDir: dir,
    now: () => now,
    rereadMs: 60_000,
  });
  t.is(access.server, `https://127.0.0.1:${port}`);
  t.is(access.namespace, NAMESPACE);
  t.regex(access.source, /service account/);
  const kube = new KubeClient(access);
  t.is(await whoAmI(kube), `system:serviceaccount:${NAMESPACE}:first`);
  const before = (await access.prepare()).agent;

  await writeFile(join(dir, "token"), await tokenOf("second"));
  now = 59_000;
  t.is(await whoAmI(kube), `system:serviceaccount:${NAMESPACE}:first`, "not read again within the period");
  now = 60_000;
  t.is(await whoAmI(kube), `system:serviceaccount:${NAMESPACE}:second`, "read again after it");
  t.is((await access.prepare()).agent, before, "the same CA: the same connection pool");
  kube.close();
});

test("a kubeconfig naming certificate files next to it: a changed client certificate makes a new pool; a missing file says which", async (t) => {
  const dir = await mkdtemp(join(stack.directory, "kubeconfig-files-"));
  await writeFile(join(dir, "ca.crt"), caPem);
  await writeFile(join(dir, "admin.crt"), admin.cert);
  await writeFile(join(dir, "admin.key"), admin.key);
  const path = await writeKubeconfig(dir, "files", { server: `https://127.0.0.1:${port}`, "certificate-authority": "ca.crt" }, { "client-certificate": "admin.crt", "client-key": "admin.key" }, "openstack");
  let now = 0;
  const access = await loadKubeAccess({ kubeconfig: path, env: {}, now: () => now, rereadMs: 1_000 });
  t.is(access.namespace, "openstack");
  t.is(access.source, `kubeconfig ${path} (context files)`);
  const kube = new KubeClient(access);
  t.is(await whoAmI(kube), "dev-admin");
  const before = (await access.prepare()).agent;

  const other = await kubeOf(stack).kubeconfigFor("rotated-user");
  const user = (parse(await readFile(other, "utf8")) as { users: { user: Record<string, string> }[] }).users[0]!.user;
  await writeFile(join(dir, "admin.crt"), Buffer.from(user["client-certificate-data"]!, "base64"));
  await writeFile(join(dir, "admin.key"), Buffer.from(user["client-key-data"]!, "base64"));
  now = 1_000;
  t.is(await whoAmI(kube), "rotated-user");
  t.not((await access.prepare()).agent, before, "a new pool for the new certificate");

  await writeFile(join(dir, "admin.key"), "");
  await (await import("node:fs/promises")).rm(join(dir, "admin.crt"));
  now = 2_000;
  const error = await t.throwsAsync(whoAmI(kube), { instanceOf: KubeconfigError });
  t.regex(error?.message ?? "", new RegExp(`could not read the client certificate from ${join(dir, "admin.crt")}`));
  kube.close();
});

test("a user with an exec plugin is handed to client-node, which runs the plugin", async (t) => {
  const dir = await mkdtemp(join(stack.directory, "kubeconfig-exec-"));
  const plugin = join(dir, "credential-plugin.sh");
  const credential = { apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: await tokenOf("first") } };
  await writeFile(plugin, `#!/bin/sh\ncat <<'EOF'\n${JSON.stringify(credential)}\nEOF\n`);
  await chmod(plugin, 0o755);
  const path = await writeKubeconfig(dir, "exec", { server: `https://127.0.0.1:${port}`, "certificate-authority-data": caPem.toString("base64") }, { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" } });
  const access = await loadKubeAccess({ kubeconfig: path, env: {} });
  t.regex(access.source, /the user authenticates with exec, which client-node applies/);
  const kube = new KubeClient(access);
  t.is(await whoAmI(kube), `system:serviceaccount:${NAMESPACE}:first`);
  kube.close();
});

test("answers other than 2xx carry the Status reason; a request without an answer in time is a timeout naming it; a cancelled one is not", async (t) => {
  const kube = await KubeClient.load({ kubeconfig: kubeOf(stack).kubeconfigPath, env: {} });
  const missing = await t.throwsAsync(kube.request({ method: "GET", path: `/api/v1/namespaces/${NAMESPACE}/secrets/missing` }));
  t.is(apiStatusOf(missing), 404);
  t.deepEqual(describeKubeError(missing), {
    status: 404,
    reason: "NotFound",
    message: `the apiserver, asked GET /api/v1/namespaces/${NAMESPACE}/secrets/missing, answered HTTP 404 (NotFound): secrets "missing" not found`,
  });
  const created = await kube.request<{ metadata: { resourceVersion: string } }>({ method: "POST", path: `/api/v1/namespaces/${NAMESPACE}/configmaps`, body: { metadata: { name: "c" }, data: { a: "1" } } });
  const conflict = await t.throwsAsync(
    kube.request({ method: "PUT", path: `/api/v1/namespaces/${NAMESPACE}/configmaps/c`, body: { metadata: { name: "c", resourceVersion: `${Number(created.metadata.resourceVersion) - 1}` }, data: {} } }),
  );
  t.is(apiStatusOf(conflict), 409);
  t.is(describeKubeError(conflict).reason, "Conflict");
  // A write whose answer is not read: drained, not parsed; a refusal is still read and described.
  const patch = { method: "PATCH", path: `/api/v1/namespaces/${NAMESPACE}/configmaps/c`, contentType: MERGE_PATCH, answer: "none" } as const;
  t.is(await kube.request({ ...patch, body: { data: { a: "2" } } }), undefined);
  t.deepEqual((await kube.request<{ data: Record<string, string> }>({ method: "GET", path: `/api/v1/namespaces/${NAMESPACE}/configmaps/c` })).data, { a: "2" });
  const refused = await t.throwsAsync(kube.request({ ...patch, path: `/api/v1/namespaces/${NAMESPACE}/configmaps/missing`, body: { data: { a: "2" } } }));
  t.is(describeKubeError(refused).reason, "NotFound");

  // A watch answers at once but never ends: waiting for its whole body meets the deadline.
  const stuck = await t.throwsAsync(kube.request({ method: "GET", path: `/api/v1/namespaces/${NAMESPACE}/configmaps`, query: { watch: "true" }, timeoutMs: 300 }));
  t.true(stuck instanceof KubeRequestTimeoutError);
  t.is(stuck?.message, `the apiserver did not answer GET /api/v1/namespaces/${NAMESPACE}/configmaps within 300 ms; is it overloaded or unreachable?`);
  const controller = new AbortController();
  const cancelled = kube.request({ method: "GET", path: `/api/v1/namespaces/${NAMESPACE}/configmaps`, query: { watch: "true" }, signal: controller.signal });
  controller.abort(new Error("the informer stopped"));
  const error = await t.throwsAsync(cancelled);
  t.false(error instanceof KubeRequestTimeoutError);
  t.is(apiStatusOf(error), undefined);
  kube.close();
});

test("no cluster at all is refused with where it looked", async (t) => {
  const error = await t.throwsAsync(loadKubeAccess({ env: { HOME: stack.directory } }), { instanceOf: KubeconfigError });
  t.regex(error?.message ?? "", /no kubeconfig \(--kubeconfig, KUBECONFIG, ~\/\.kube\/config\) and not in a pod/);
  const missing = await t.throwsAsync(loadKubeAccess({ kubeconfig: join(stack.directory, "nope"), env: {} }), { instanceOf: KubeconfigError });
  t.regex(missing?.message ?? "", /no kubeconfig file at .*nope: check --kubeconfig or KUBECONFIG/);
});

test("MicroTime has six fractional digits, as Events and Leases need", (t) => {
  t.is(microTime(Date.UTC(2026, 10, 30, 12, 0, 0, 123)), "2026-11-30T12:00:00.123000Z");
});

/**
 * client-node loads every generated API and model of Kubernetes: about 70 MB
 * of the process's memory. The operator (`run`) reaches it only through the
 * dynamic import for plugin users (src/kube/access.ts); this walks the
 * static imports of the compiled modules from the CLI's entry point.
 */
test("the operator's modules never import client-node statically", async (t) => {
  const distSrc = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");
  const seen = new Set<string>();
  const offenders: string[] = [];
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, "utf8");
    for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"/gms)) {
      const specifier = match[1] ?? match[2] ?? "";
      if (specifier.startsWith("@kubernetes/client-node")) offenders.push(`${file.slice(distSrc.length + 1)} imports ${specifier}`);
      else if (specifier.startsWith(".")) await visit(join(dirname(file), specifier));
    }
  };
  for (const entry of ["cli/main.js", "cli/run.js"]) await visit(join(distSrc, entry));
  t.true(seen.has(join(distSrc, "controller", "operator.js")), "the walk reached the operator");
  t.deepEqual(offenders, []);
});
