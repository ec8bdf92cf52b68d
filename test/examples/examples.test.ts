/**
 * examples/ and deploy/: the glance-api Deployments the docs point to mount
 * the operator's ConfigMap and Secret at GLANCE_CONF_DIR and opt in to
 * rollouts, and the WSGI one passes uWSGI the settings the local stack's WSGI
 * glance-api runs with (test/devstack/glance-servers.test.ts), which Debian's
 * uWSGI accepts. The fresh deployment's stores check out and render; the
 * GitOps examples sync the same stores. Every example, the kustomize bases
 * of deploy/ and the chart with every optional feature on are applied to the
 * real kube-apiserver, with the real CRDs of prometheus-operator, Argo CD and
 * Flux installed (server-side dry run with strict field validation; deploy/
 * for real), so that none of them rots.
 */
import test from "ava";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { allCrdsYaml } from "../../src/api/crd.js";
import { decodeSecretData, parseCredentialsSecret } from "../../src/api/credentials.js";
import { DEFAULT_TARGET, GlanceStoreSchema } from "../../src/api/glancestore.js";
import { runRender } from "../../src/cli/render.js";
import { configMapName, credentialsSecretName, WORKLOAD_TARGET_ANNOTATION } from "../../src/controller/naming.js";
import { runCommand } from "../../src/devstack/command.js";
import { GLANCE_UWSGI_SETTINGS } from "../../src/devstack/glance.js";
import { SYSTEM_PATH } from "../../src/devstack/system-packages.js";
import { ensureThirdPartyCrds } from "../../src/devstack/third-party-crds.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { useStack } from "../support/stack.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const EXAMPLES = join(ROOT, "examples");
const CHART = join(ROOT, "charts", "glance-store-operator");

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: {
    template: {
      spec: {
        containers: Container[];
        volumes?: { name: string; projected?: { sources: { configMap?: { name: string }; secret?: { name: string } }[] } }[];
      };
    };
  };
}

/** The glance-api Deployment fragments: examples/glance-api-*.yaml. */
async function examples(): Promise<{ file: string; text: string; deployments: Deployment[] }[]> {
  const files = (await readdir(EXAMPLES)).filter((file) => file.startsWith("glance-api-") && file.endsWith(".yaml")).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(EXAMPLES, file), "utf8");
      const documents = parseAllDocuments(text);
      for (const document of documents) if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join("; ")}`);
      return { file, text, deployments: documents.map((document) => document.toJSON() as Deployment).filter((object) => object?.kind === "Deployment") };
    }),
  );
}

const argv = (container: Container): string[] => [...(container.command ?? []), ...(container.args ?? [])];

test("there is an example for each glance-api server, eventlet and WSGI under uWSGI", async (t) => {
  const all = (await examples()).flatMap((example) => example.deployments.flatMap((d) => d.spec.template.spec.containers.map(argv)));
  t.true(all.some((command) => command[0] === "glance-api"));
  t.true(all.some((command) => command[0] === "uwsgi" && command.includes("--wsgi-file=/usr/bin/glance-wsgi-api")));
});

test(`every example mounts the operator's ConfigMap and Secret at ${GLANCE_CONF_DIR}, read-only, without --config-dir, and opts in`, async (t) => {
  const found = await examples();
  t.true(found.length >= 2);
  for (const { file, deployments } of found) {
    t.is(deployments.length, 1, file);
    for (const deployment of deployments) {
      t.is(deployment.metadata.annotations?.[WORKLOAD_TARGET_ANNOTATION], DEFAULT_TARGET, file);
      const storeVolumes = (deployment.spec.template.spec.volumes ?? []).filter((volume) =>
        volume.projected?.sources.some((source) => source.configMap?.name === configMapName(DEFAULT_TARGET)),
      );
      t.is(storeVolumes.length, 1, file);
      const volume = storeVolumes[0];
      t.deepEqual(
        volume?.projected?.sources.map((source) => source.configMap?.name ?? source.secret?.name),
        [configMapName(DEFAULT_TARGET), credentialsSecretName(DEFAULT_TARGET)],
        file,
      );
      const mounts = deployment.spec.template.spec.containers.flatMap((container) => (container.volumeMounts ?? []).filter((mount) => mount.name === volume?.name));
      t.true(mounts.length > 0, file);
      for (const mount of mounts) {
        t.is(mount.mountPath, GLANCE_CONF_DIR, file);
        t.true(mount.readOnly, file);
      }
      for (const container of deployment.spec.template.spec.containers) t.false(argv(container).some((arg) => arg.startsWith("--config-dir")), file);
    }
  }
});

/** `--key=value` and `--flag` as uWSGI ini lines. */
function uwsgiSettings(command: readonly string[]): string[] {
  return command.slice(1).map((flag) => {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(flag);
    if (!match) throw new Error(`not a uWSGI flag: ${flag}`);
    return `${match[1]} = ${match[2] ?? "true"}`;
  });
}

async function wsgiCommand(): Promise<string[]> {
  const commands = (await examples()).flatMap((example) => example.deployments.flatMap((d) => d.spec.template.spec.containers.map(argv)));
  const command = commands.find((c) => c[0] === "uwsgi");
  if (!command) throw new Error("no uWSGI example");
  return command;
}

test("the WSGI example passes uWSGI the settings the local stack's WSGI glance-api runs with", async (t) => {
  const settings = uwsgiSettings(await wsgiCommand());
  for (const setting of GLANCE_UWSGI_SETTINGS) t.true(settings.includes(setting), `${setting} missing from examples/glance-api-wsgi.yaml`);
  // And those that src/devstack/uwsgi.ts sets for every app.
  for (const setting of ["plugins = python3", "master = true", "need-app = true", "die-on-term = true", "buffer-size = 65535", "wsgi-file = /usr/bin/glance-wsgi-api"]) t.true(settings.includes(setting), setting);
  t.true(settings.some((setting) => setting.startsWith("http11-socket = ")));
});

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

async function manifests(path: string): Promise<Manifest[]> {
  return parseAllDocuments(await readFile(path, "utf8"))
    .map((document) => document.toJSON() as Manifest | null)
    .filter((object): object is Manifest => object !== null);
}

/** Every YAML file under a folder, relative to it. */
async function yamlFiles(folder: string, under = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(folder, under), { withFileTypes: true })) {
    const path = under === "" ? entry.name : `${under}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await yamlFiles(folder, path)));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

test("the fresh deployment: a credentials Secret and two stores, fast the default and slow, that check out and render", async (t) => {
  const objects = await manifests(join(EXAMPLES, "fresh-deployment.yaml"));
  t.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ["Secret/glance-cinder", "GlanceStore/fast", "GlanceStore/slow"]);
  const secret = objects[0]!;
  const decoded = decodeSecretData(secret, secret.metadata.name);
  if (!decoded.ok) return t.fail(JSON.stringify(decoded.issues));
  t.true(parseCredentialsSecret(decoded.data, { name: "glance-cinder" }).ok);
  const stores = objects.slice(1).map((object) => GlanceStoreSchema.parse(object));
  t.deepEqual(stores.map((store) => [store.metadata.name, store.spec.volumeType, store.spec.default, store.spec.credentialsSecretRef.name]), [
    ["fast", "glance-fast", true, "glance-cinder"],
    ["slow", "glance-slow", false, "glance-cinder"],
  ]);
  // What the operator would write, by its own offline renderer.
  const out = await mkdtemp(join(tmpdir(), "gso-fresh-"));
  try {
    const said: string[] = [];
    const code = await runRender(["-f", join(EXAMPLES, "fresh-deployment.yaml"), "--out", out], { stdout: (text) => said.push(text), stderr: (text) => said.push(text), readStdin: async () => "" });
    t.is(code, 0, said.join(""));
    const storesConf = await readFile(join(out, "glance-api-stores.conf"), "utf8");
    t.regex(storesConf, /enabled_backends = fast:cinder, slow:cinder/);
    t.regex(storesConf, /default_backend = fast/);
    t.regex(storesConf, /cinder_volume_type = "glance-slow"/);
    t.false(storesConf.includes("change-me"), "no password in the ConfigMap");
    t.regex(await readFile(join(out, "glance-api-stores-credentials.conf"), "utf8"), /cinder_store_password = "?change-me"?/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("GitOps: Argo CD and Flux sync one folder, which holds the fresh deployment's stores and no Secret", async (t) => {
  const [application] = await manifests(join(EXAMPLES, "gitops", "argocd-application.yaml"));
  const flux = await manifests(join(EXAMPLES, "gitops", "flux-kustomization.yaml"));
  t.is(application?.kind, "Application");
  t.deepEqual(flux.map((o) => o.kind), ["GitRepository", "Kustomization"]);
  const argoSource = application!.spec!["source"] as { repoURL: string; path: string };
  const fluxSpec = flux[1]!.spec as { path: string; sourceRef: { name: string }; targetNamespace: string };
  t.is(fluxSpec.sourceRef.name, flux[0]!.metadata.name);
  t.is((flux[0]!.spec as { url: string }).url, argoSource.repoURL);
  t.is(fluxSpec.path.replace(/^\.\//, ""), argoSource.path);
  t.is(fluxSpec.targetNamespace, (application!.spec!["destination"] as { namespace: string }).namespace);

  // examples/gitops/stores is what that folder holds: the fresh deployment's stores, not its Secret.
  const { stdout } = await runCommand("kubectl", ["kustomize", join(EXAMPLES, "gitops", "stores")]);
  const synced = parseAllDocuments(stdout).map((document) => document.toJSON() as Manifest);
  t.false(synced.some((o) => o.kind === "Secret"), "credentials stay out of Git");
  const fresh = (await manifests(join(EXAMPLES, "fresh-deployment.yaml"))).filter((o) => o.kind === "GlanceStore");
  t.deepEqual(synced, fresh);
});

const local = useStack({ openstack: false });

test.serial("Debian's uWSGI accepts every flag of the WSGI example and serves with them", async (t) => {
  const stack = local.stack();
  const port = await stack.ports.allocate();
  const app = join(stack.directory, "hello-wsgi.py");
  // With a Content-Length, as Glance sends: on a kept-alive HTTP/1.1 connection the body would not end otherwise.
  await writeFile(app, 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])\n    return [b"hello"]\n');
  // The example's flags, on loopback and with a stand-in app instead of Glance.
  const flags = (await wsgiCommand())
    .slice(1)
    .map((flag) => (flag.startsWith("--http11-socket=") ? `--http11-socket=127.0.0.1:${port}` : flag.startsWith("--wsgi-file=") ? `--wsgi-file=${app}` : flag));
  const uwsgi = stack.supervisor.start({ name: "uwsgi-example-flags", command: "/usr/bin/uwsgi-core", args: flags, env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8" } });
  try {
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
        return response.status === 200 && (await response.text()) === "hello" ? true : undefined;
      },
      { what: "uWSGI with the example's flags", timeoutMs: 60_000, abortIf: () => (uwsgi.exitInfo() ? "exited" : undefined) },
    );
    t.pass();
  } catch (error) {
    t.fail(`${(error as Error).message}\n${await uwsgi.logTail(30)}`);
  } finally {
    await uwsgi.stop();
  }
});

/** The CRDs the examples and manifests use, installed for real so that the apiserver validates against them. */
async function installCrds(kube: ReturnType<typeof local.kube>): Promise<void> {
  // Ours as kubectl apply -f deploy/ would (client-side); the others server-side, as Argo CD's is too large for client-side apply.
  await kube.kubectl(["apply", "-f", "-"], { input: allCrdsYaml() });
  const files = await ensureThirdPartyCrds();
  const names = ["crd/glancestores.glance.stores.dev", "crd/glancestoretargets.glance.stores.dev"];
  for (const file of files) {
    await kube.kubectl(["apply", "--server-side", "-f", file]);
    names.push(...(await manifests(file)).map((crd) => `crd/${crd.metadata.name}`));
  }
  await kube.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
}

/** Applies and checks that the apiserver took every object; returns what it said. */
async function applied(t: import("ava").ExecutionContext, kube: ReturnType<typeof local.kube>, what: string, args: string[], input?: string): Promise<string> {
  const result = await kube.kubectl(["apply", "--validate=strict", ...args], { allowFailure: true, ...(input === undefined ? {} : { input }) });
  t.is(result.code, 0, `${what}: ${result.stderr}`);
  t.is(result.stderr.trim(), "", `${what}: no warning`);
  return result.stdout;
}

test.serial("the real kube-apiserver accepts every example, deploy/ and the chart with every optional feature on (the CRDs of prometheus-operator, Argo CD and Flux installed)", async (t) => {
  const kube = local.kube();
  await installCrds(kube);
  for (const namespace of ["openstack", "argocd", "flux-system", "gso-system", "monitoring"]) await kube.kubectl(["create", "namespace", namespace], { allowFailure: true });

  // examples/: kustomize folders as such, every other file by itself.
  const files = await yamlFiles(EXAMPLES);
  const kustomizations = files.filter((file) => file === "kustomization.yaml" || file.endsWith("/kustomization.yaml")).map((file) => dirname(file));
  t.true(kustomizations.length > 0);
  const plain = files.filter((file) => !kustomizations.some((folder) => file.startsWith(`${folder}/`)));
  t.true(plain.length >= 6, plain.join(", "));
  for (const file of plain) {
    const objects = await manifests(join(EXAMPLES, file));
    const out = await applied(t, kube, file, ["--dry-run=server", "-f", join(EXAMPLES, file)]);
    t.is(out.match(/\(server dry run\)$/gm)?.length, objects.length, `${file}: every object accepted\n${out}`);
  }
  for (const folder of kustomizations) {
    const out = await applied(t, kube, folder, ["--dry-run=server", "-k", join(EXAMPLES, folder)]);
    t.regex(out, /glancestore\.glance\.stores\.dev\/fast created \(server dry run\)/, folder);
  }

  // deploy/: the kustomize base, for real, from nothing (the namespace comes with it), then its monitoring.
  const base = await applied(t, kube, "deploy/", ["-k", join(ROOT, "deploy")]);
  for (const object of ["namespace/glance-store-operator created", "deployment.apps/glance-store-operator created", "poddisruptionbudget.policy/glance-store-operator created", "customresourcedefinition.apiextensions.k8s.io/glancestores.glance.stores.dev"]) {
    t.true(base.includes(object), `${object}\n${base}`);
  }
  const monitoring = await applied(t, kube, "deploy/monitoring/", ["-k", join(ROOT, "deploy", "monitoring")]);
  t.regex(monitoring, /servicemonitor\.monitoring\.coreos\.com\/glance-store-operator created/);
  t.regex(monitoring, /prometheusrule\.monitoring\.coreos\.com\/glance-store-operator created/);
  t.regex(monitoring, /configmap\/glance-store-operator-dashboard created/);
  // What is applied is what the apiserver keeps: nothing differs (kubectl diff exits 0).
  for (const folder of ["deploy", "deploy/monitoring"]) {
    const diff = await kube.kubectl(["diff", "-k", join(ROOT, folder)], { allowFailure: true });
    t.is(diff.code, 0, `${folder}: ${diff.stdout}${diff.stderr}`);
  }

  // The chart with every optional feature on, cluster-wide and namespaced.
  for (const extra of [[], ["--set", "watchNamespaces={openstack}"]]) {
    const rendered = await kube.helm([
      "template", "gso", CHART, "--namespace", "gso-system", "--include-crds",
      "--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,grafanaDashboard.namespace=monitoring",
      "--set", "serviceMonitor.scheme=https,serviceMonitor.bearerTokenFile=/var/run/secrets/kubernetes.io/serviceaccount/token",
      "--set", "podAntiAffinity=hard,podDisruptionBudget.minAvailable=1",
      ...extra,
    ]);
    const objects = parseAllDocuments(rendered.stdout).filter((document) => document.toJSON() !== null).length;
    const out = await applied(t, kube, `the chart ${extra.join(" ")}`, ["--dry-run=server", "-f", "-"], rendered.stdout);
    t.is(out.match(/\(server dry run\)$/gm)?.length, objects, out);
    for (const kind of ["servicemonitor.monitoring.coreos.com", "prometheusrule.monitoring.coreos.com", "poddisruptionbudget.policy", "configmap/gso-glance-store-operator-dashboard"]) t.true(out.includes(kind), kind);
  }
});

test.serial("the apiserver refuses what these CRDs refuse: a mistyped field of a ServiceMonitor, an Application and a GlanceStore", async (t) => {
  const kube = local.kube();
  await installCrds(kube);
  const cases: [string, string, RegExp][] = [
    ["ServiceMonitor", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x, namespace: default}\nspec: {selector: {}, endpoints: [{port: metrics, sheme: https}]}\n", /unknown field "spec\.endpoints\[0\]\.sheme"/],
    ["Application", "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x, namespace: default}\nspec: {project: default, destination: {namespace: openstack}, sources: [], sorce: {}}\n", /unknown field "spec\.sorce"/],
    ["Kustomization", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: x, namespace: default}\nspec: {interval: 5m, prune: yes-please, sourceRef: {kind: GitRepository, name: x}}\n", /prune/],
    ["GlanceStore", "apiVersion: glance.stores.dev/v1alpha1\nkind: GlanceStore\nmetadata: {name: x, namespace: default}\nspec: {volumeTyp: fast, credentialsSecretRef: {name: x}}\n", /unknown field "spec\.volumeTyp"/],
  ];
  for (const [kind, yaml, message] of cases) {
    const result = await kube.kubectl(["apply", "--dry-run=server", "--validate=strict", "-f", "-"], { input: yaml, allowFailure: true });
    t.not(result.code, 0, kind);
    t.regex(result.stderr, message, kind);
  }
});
