/**
 * The Helm chart: lint, template under several values, the RBAC it grants
 * equal to what the operator declares it needs (src/controller/rbac.ts),
 * the arguments it passes accepted by `glance-store-operator run`, and an
 * install into a real kube-apiserver under which the operator, running as
 * the chart's ServiceAccount and nothing more, makes a store Ready.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { resolveRunFlags } from "../../src/cli/run.js";
import { LEADER_ELECTION_RULES, MANAGER_RULES, type PolicyRule } from "../../src/controller/rbac.js";
import { ensureDevBinaries } from "../../src/devstack/binaries.js";
import { runCommand } from "../../src/devstack/command.js";
import { E2E, isReady, NAMESPACE, unique } from "../e2e/support.js";

const CHART = fileURLToPath(new URL("../../../charts/glance-store-operator", import.meta.url));

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } };
}

async function helm(args: string[]): Promise<string> {
  const { helm: path } = await ensureDevBinaries();
  return (await runCommand(path, args, { timeoutMs: 120_000 })).stdout;
}

async function template(set: string[] = []): Promise<Manifest[]> {
  const text = await helm(["template", "gso", CHART, "--namespace", "gso-system", ...set.flatMap((s) => ["--set", s])]);
  return parseAllDocuments(text)
    .map((doc) => doc.toJSON() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

const normalize = (rules: readonly PolicyRule[]) => rules.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources].sort(), verbs: [...r.verbs].sort() }));

test("helm lint --strict passes", async (t) => {
  const out = await helm(["lint", "--strict", CHART]);
  t.regex(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test("by default: a ClusterRole with exactly the operator's rules, a Lease Role, two replicas with leader election", async (t) => {
  const docs = await template();
  t.deepEqual(docs.map((d) => d.kind).sort(), ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]);
  t.deepEqual(normalize(docs.find((d) => d.kind === "ClusterRole")!.rules!), normalize(MANAGER_RULES));
  t.deepEqual(normalize(docs.find((d) => d.kind === "Role")!.rules!), normalize(LEADER_ELECTION_RULES));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(args[0], "run");
  // The chart passes only flags the operator accepts.
  const flags = resolveRunFlags(args.slice(1), {});
  t.is(flags["leader-elect"], "true");
  t.is(flags["leader-election-namespace"], "gso-system");
  t.is(flags["metrics-address"], "0.0.0.0:8080");
  t.is(flags.namespaces, undefined);
  t.is(flags["auth-refusal-backoff"], "1h");
  t.is(flags["glance-store-version"], "4.1.0");
});

test("with watchNamespaces: a Role per namespace with the same rules, no ClusterRole, and --namespaces", async (t) => {
  const docs = await template(["watchNamespaces={openstack,glance-two}"]);
  t.false(docs.some((d) => d.kind === "ClusterRole"));
  const roles = docs.filter((d) => d.kind === "Role" && !d.metadata.name.endsWith("-leader-election"));
  t.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ["glance-two", "openstack"]);
  for (const role of roles) t.deepEqual(normalize(role.rules!), normalize(MANAGER_RULES));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {}).namespaces, "openstack,glance-two");
});

test("without leader election: no Lease Role and --leader-elect=false", async (t) => {
  const docs = await template(["leaderElection.enabled=false", "replicaCount=1"]);
  t.false(docs.some((d) => d.kind === "Role"));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {})["leader-elect"], "false");
});

test.serial("installed into a real apiserver, the operator running as the chart's ServiceAccount makes a store Ready", async (t) => {
  const e2e = await E2E.start();
  try {
    const kube = e2e.kube;
    const install = await kube.helm(["install", "gso", CHART, "--namespace", "gso-system", "--create-namespace", "--skip-crds"]);
    t.regex(install.stdout, /STATUS: deployed/);
    const serviceAccount = (await kube.kubectl(["get", "serviceaccount", "-n", "gso-system", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.trim();
    t.is(serviceAccount, "gso-glance-store-operator");

    // A client certificate for the ServiceAccount's user name: RBAC treats it as that ServiceAccount.
    const kubeconfig = await kube.kubeconfigFor(`system:serviceaccount:gso-system:${serviceAccount}`, ["system:serviceaccounts", "system:serviceaccounts:gso-system"]);
    const denied = await kube.kubectl(["--kubeconfig", kubeconfig, "get", "pods", "-n", NAMESPACE], { allowFailure: true });
    t.regex(denied.stderr, /forbidden/);

    await e2e.startOperator({ kubeconfig, leaderElect: true, leaderElectionNamespace: "gso-system" });
    const type = await e2e.openstack.admin.createVolumeType(unique("chart"));
    await e2e.apply(e2e.store("charted", { volumeType: type.name, default: true }));
    const ready = await e2e.waitForStore("charted", "Ready under the chart's RBAC", isReady);
    t.true(ready.status?.rendered);
    t.truthy(await e2e.renderedFiles());

    const uninstall = await kube.helm(["uninstall", "gso", "--namespace", "gso-system"]);
    t.regex(uninstall.stdout, /uninstalled/);
  } finally {
    await e2e.stop();
  }
});

test("deploy/glance-store-operator.yaml is the chart rendered with its defaults", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const committed = await readFile(fileURLToPath(new URL("../../../deploy/glance-store-operator.yaml", import.meta.url)), "utf8");
  const rendered = await helm(["template", "glance-store-operator", CHART, "--namespace", "glance-store-operator", "--include-crds"]);
  // Three header lines say where it comes from; the rest is helm's output, byte for byte.
  t.is(committed.split("\n").slice(3).join("\n"), rendered, "regenerate it with the command in its header");
});
