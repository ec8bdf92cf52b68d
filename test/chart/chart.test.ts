/**
 * The Helm chart: lint, template under several values, the RBAC it grants
 * equal to what the operator declares it needs (src/controller/rbac.ts),
 * and the arguments it passes accepted by `glance-store-operator run`.
 * test/chart/least-privilege.test.ts installs it into a real kube-apiserver
 * and runs the operator as its ServiceAccount with nothing more.
 */
import test from "ava";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { resolveRunFlags } from "../../src/cli/run.js";
import { leaderElectionRules, MANAGER_RULES, METRICS_AUTH_RULES, METRICS_READER_RULES, ROLLOUT_RULES, type PolicyRule } from "../../src/controller/rbac.js";
import { ensureDevBinaries } from "../../src/devstack/binaries.js";
import { runCommand } from "../../src/devstack/command.js";

const CHART = fileURLToPath(new URL("../../../charts/glance-store-operator", import.meta.url));

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { name: string };
  spec?: { template?: { spec?: { containers?: { args?: string[] }[]; volumes?: unknown[] } } };
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

const normalize = (rules: readonly PolicyRule[]) =>
  rules.map((r) => ({
    ...(r.apiGroups ? { apiGroups: [...r.apiGroups] } : {}),
    ...(r.resources ? { resources: [...r.resources].sort() } : {}),
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames].sort() } : {}),
    ...(r.nonResourceURLs ? { nonResourceURLs: [...r.nonResourceURLs].sort() } : {}),
    verbs: [...r.verbs].sort(),
  }));
const named = (docs: Manifest[], kind: string, name: string, namespace?: string): Manifest => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name && d.metadata.namespace === namespace);
  if (found === undefined) throw new Error(`no ${kind} ${namespace ?? ""}/${name} in ${docs.map((d) => `${d.kind} ${d.metadata.namespace ?? ""}/${d.metadata.name}`).join(", ")}`);
  return found;
};
const FULLNAME = "gso-glance-store-operator";

test("helm lint --strict passes", async (t) => {
  const out = await helm(["lint", "--strict", CHART]);
  t.regex(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test("by default: Roles in the watched namespace only, no permission on workloads, secure metrics, admission policies, two replicas with leader election", async (t) => {
  const docs = await template();
  t.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.namespace ?? ""}/${d.metadata.name}`).sort(), [
    `ClusterRole /${FULLNAME}-metrics-auth`,
    `ClusterRole /${FULLNAME}-metrics-reader`,
    `ClusterRoleBinding /${FULLNAME}-metrics-auth`,
    `Deployment gso-system/${FULLNAME}`,
    `Role gso-system/${FULLNAME}-leader-election`,
    `Role openstack/${FULLNAME}`,
    `RoleBinding gso-system/${FULLNAME}-leader-election`,
    `RoleBinding openstack/${FULLNAME}`,
    `Service gso-system/${FULLNAME}-metrics`,
    `ServiceAccount gso-system/${FULLNAME}`,
    `ValidatingAdmissionPolicy /${FULLNAME}-glancestores`,
    `ValidatingAdmissionPolicy /${FULLNAME}-rendered-objects`,
    `ValidatingAdmissionPolicyBinding /${FULLNAME}-glancestores`,
    `ValidatingAdmissionPolicyBinding /${FULLNAME}-rendered-objects`,
  ]);
  // No ClusterRole grants anything on Secrets, or on any namespaced resource at all.
  t.deepEqual(normalize(named(docs, "Role", FULLNAME, "openstack").rules!), normalize(MANAGER_RULES));
  t.deepEqual(normalize(named(docs, "Role", `${FULLNAME}-leader-election`, "gso-system").rules!), normalize(leaderElectionRules(FULLNAME)));
  t.deepEqual(normalize(named(docs, "ClusterRole", `${FULLNAME}-metrics-auth`).rules!), normalize(METRICS_AUTH_RULES));
  t.deepEqual(normalize(named(docs, "ClusterRole", `${FULLNAME}-metrics-reader`).rules!), normalize(METRICS_READER_RULES));
  t.false(docs.some((d) => d.rules?.some((r) => r.apiGroups?.includes("apps"))));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(args[0], "run");
  // The chart passes only flags the operator accepts.
  const flags = resolveRunFlags(args.slice(1), {});
  t.is(flags["leader-elect"], "true");
  t.is(flags["leader-election-namespace"], "gso-system");
  t.is(flags["leader-election-id"], FULLNAME);
  t.is(flags["metrics-address"], "0.0.0.0:8080");
  t.is(flags["metrics-secure"], "true");
  t.is(flags["metrics-cert-dir"], undefined);
  t.is(flags["rollout-workloads"], "false");
  t.is(flags.namespaces, "openstack");
  t.is(flags["auth-refusal-backoff"], "1h");
  t.is(flags["glance-store-version"], "4.1.0");
});

test("watchNamespaces: a Role per namespace; [] makes it cluster-wide with ClusterRoles and no --namespaces", async (t) => {
  const docs = await template(["watchNamespaces={openstack,glance-two}"]);
  t.false(docs.some((d) => d.kind === "ClusterRole" && d.rules?.some((r) => r.resources?.includes("secrets"))));
  const roles = docs.filter((d) => d.kind === "Role" && d.metadata.name === FULLNAME);
  t.deepEqual(roles.map((r) => r.metadata.namespace).sort(), ["glance-two", "openstack"]);
  for (const role of roles) t.deepEqual(normalize(role.rules!), normalize(MANAGER_RULES));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {}).namespaces, "openstack,glance-two");

  const wide = await template(["watchNamespaces={}"]);
  t.deepEqual(normalize(named(wide, "ClusterRole", FULLNAME).rules!), normalize(MANAGER_RULES));
  t.is(named(wide, "ClusterRoleBinding", FULLNAME).roleRef?.name, FULLNAME);
  t.false(wide.some((d) => d.kind === "Role" && d.metadata.name === FULLNAME));
  const wideArgs = wide.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(wideArgs.slice(1), {}).namespaces, undefined);
});

test("rollout.enabled: the rollout rules next to the manager's, the workloads admission policy, and --rollout-workloads=true", async (t) => {
  const docs = await template(["rollout.enabled=true", "watchNamespaces={openstack,glance-two}"]);
  for (const namespace of ["openstack", "glance-two"]) {
    t.deepEqual(normalize(named(docs, "Role", `${FULLNAME}-rollout`, namespace).rules!), normalize(ROLLOUT_RULES));
    t.is(named(docs, "RoleBinding", `${FULLNAME}-rollout`, namespace).roleRef?.name, `${FULLNAME}-rollout`);
  }
  t.truthy(named(docs, "ValidatingAdmissionPolicy", `${FULLNAME}-workloads`));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {})["rollout-workloads"], "true");
  const wide = await template(["rollout.enabled=true", "watchNamespaces={}"]);
  t.deepEqual(normalize(named(wide, "ClusterRole", `${FULLNAME}-rollout`).rules!), normalize(ROLLOUT_RULES));
});

test("metrics.secure=false: plain HTTP on 127.0.0.1 only, no Service, no review permissions; certSecret mounts a certificate", async (t) => {
  const plain = await template(["metrics.secure=false"]);
  t.false(plain.some((d) => d.kind === "Service" || d.metadata.name.includes("metrics")));
  const args = plain.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  const flags = resolveRunFlags(args.slice(1), {});
  t.is(flags["metrics-address"], "127.0.0.1:8080");
  t.is(flags["metrics-secure"], "false");

  const mounted = await template(["metrics.certSecret=gso-metrics-tls"]);
  const deployment = mounted.find((d) => d.kind === "Deployment")!;
  const mountedArgs = deployment.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(mountedArgs.slice(1), {})["metrics-cert-dir"], "/etc/glance-store-operator/metrics-certs");
  t.deepEqual(deployment.spec!.template!.spec!.volumes, [{ name: "metrics-certs", secret: { secretName: "gso-metrics-tls" } }]);
});

test("without leader election: no Lease Role and --leader-elect=false; admissionPolicy.enabled=false: no policy", async (t) => {
  const docs = await template(["leaderElection.enabled=false", "replicaCount=1", "admissionPolicy.enabled=false"]);
  t.false(docs.some((d) => d.kind === "Role" && d.metadata.name.endsWith("-leader-election")));
  t.false(docs.some((d) => d.kind.startsWith("ValidatingAdmissionPolicy")));
  const args = docs.find((d) => d.kind === "Deployment")!.spec!.template!.spec!.containers![0]!.args!;
  t.is(resolveRunFlags(args.slice(1), {})["leader-elect"], "false");
});

test("deploy/glance-store-operator.yaml is the chart rendered with its defaults", async (t) => {
  const { readFile } = await import("node:fs/promises");
  const committed = await readFile(fileURLToPath(new URL("../../../deploy/glance-store-operator.yaml", import.meta.url)), "utf8");
  const rendered = await helm(["template", "glance-store-operator", CHART, "--namespace", "glance-store-operator", "--include-crds"]);
  // Three header lines say where it comes from; the rest is helm's output, byte for byte.
  t.is(committed.split("\n").slice(3).join("\n"), rendered, "regenerate it with the command in its header");
});
