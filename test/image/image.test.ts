/**
 * The container image (docs/image.md): the repository's Dockerfile, built
 * here by podman on local bases and cached by content
 * (src/devstack/image.ts). The operator inside it, run the way the chart
 * deploys it (the chart's image, arguments and ServiceAccount; user 65532, a
 * read-only root file system, no capabilities), makes a store Ready against
 * the local stack. The image holds the compiled operator and its production
 * dependencies only, within its size budget.
 */
import test from "ava";
import { Agent, request } from "undici";
import { chown, copyFile, lstat, mkdir, readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { defaultCacheDir, ensureDevBinaries } from "../../src/devstack/binaries.js";
import { runCommand } from "../../src/devstack/command.js";
import { ensureOperatorImage, IMAGE_UID, imageNodeOptions, type OperatorImage } from "../../src/devstack/image.js";
import { isAlive } from "../../src/devstack/pids.js";
import { containerUlimits, Podman } from "../../src/devstack/podman.js";
import { SYSTEM_PATH } from "../../src/devstack/system-packages.js";
import { waitFor } from "../../src/devstack/wait.js";
import { E2E, isReady, unique } from "../e2e/support.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const CHART = join(ROOT, "charts", "glance-store-operator");

/** The budget docs/image.md states, in bytes as podman counts them (uncompressed). */
const BUDGET = {
  /** Everything the Dockerfile adds to its base: the compiled operator and its production node_modules. */
  operatorLayers: 60e6,
  /** The whole image on the local base (Node.js 20 and Debian 12's C and C++ libraries). */
  image: 180e6,
};

const CONTAINER_PREFIX = "gso-image-test-";

let image: OperatorImage;
let podman: Podman;

test.before(async (t) => {
  const started = Date.now();
  image = await ensureOperatorImage({ root: ROOT, cacheDir: defaultCacheDir(), log: (message) => t.log(message) });
  podman = await Podman.open(defaultCacheDir());
  t.log(`${image.ref} (${image.id.slice(0, 12)}) ${image.built ? "built" : "cached"}; ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await removeContainersOfDeadRuns();
});

interface Entry {
  readonly path: string;
  readonly kind: "file" | "dir" | "symlink" | "other";
  readonly uid: number;
  readonly mode: number;
}

/** Every entry of the image's file system, read through `podman image mount`. */
async function imageFiles(ref: string): Promise<Entry[]> {
  const mountPoint = (await podman.run(["image", "mount", ref])).stdout.trim();
  try {
    const out: Entry[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const name of await readdir(dir)) {
        const full = join(dir, name);
        const info = await lstat(full);
        const kind = info.isSymbolicLink() ? "symlink" : info.isDirectory() ? "dir" : info.isFile() ? "file" : "other";
        out.push({ path: `/${relative(mountPoint, full)}`, kind, uid: info.uid, mode: info.mode & 0o7777 });
        if (kind === "dir") await walk(full);
      }
    };
    await walk(mountPoint);
    return out;
  } finally {
    await podman.run(["image", "unmount", ref], { allowFailure: true });
  }
}

interface LockFile {
  packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
}

async function lockFile(): Promise<LockFile> {
  return JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")) as LockFile;
}

interface DeploymentJson {
  spec: {
    template: {
      spec: {
        securityContext: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
        containers: { image: string; args: string[]; securityContext: { readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] }; allowPrivilegeEscalation?: boolean } }[];
      };
    };
  };
}

async function chartDeployment(): Promise<DeploymentJson> {
  const { helm } = await ensureDevBinaries();
  const { stdout } = await runCommand(helm, ["template", "gso", CHART, "--namespace", "gso-system"], { timeoutMs: 120_000 });
  const docs = parseAllDocuments(stdout).map((doc) => doc.toJSON() as { kind?: string } | null);
  const deployment = docs.find((doc) => doc?.kind === "Deployment");
  if (!deployment) throw new Error("the chart renders no Deployment");
  return deployment as unknown as DeploymentJson;
}

/** Containers this test started in a process that died before its clean-up (by the pid in their name). */
async function removeContainersOfDeadRuns(): Promise<void> {
  const { stdout } = await podman.run(["ps", "--all", "--format", "json", "--filter", `name=^${CONTAINER_PREFIX}`]);
  for (const container of JSON.parse(stdout || "[]") as { Id: string; Names: string[] }[]) {
    const pid = Number(/^gso-image-test-(\d+)-/.exec(container.Names[0] ?? "")?.[1]);
    if (pid > 0 && !isAlive(pid)) await podman.run(["rm", "--force", "--ignore", container.Id], { allowFailure: true });
  }
}

test("package-lock.json locks no package with an install script (the Dockerfile installs with --ignore-scripts)", async (t) => {
  const withScripts = Object.entries((await lockFile()).packages).filter(([, entry]) => entry.hasInstallScript);
  t.deepEqual(
    withScripts.map(([path]) => path),
    [],
    "a dependency with an install script: check what it does and allow it in the Dockerfile's npm ci",
  );
});

test("the chart's default image is the one this build tags: the chart's repository, the chart's appVersion", async (t) => {
  const deployment = await chartDeployment();
  t.is(deployment.spec.template.spec.containers[0]!.image, image.ref);
  const chart = await readFile(join(CHART, "Chart.yaml"), "utf8");
  t.is(/^appVersion:\s*"?([^"\s]+)"?/m.exec(chart)?.[1], image.version, "Chart.yaml's appVersion is package.json's version");
  const tagged = await podman.imageInspect(image.ref);
  t.true(tagged.RepoTags.includes(image.ref));
});

test("the image runs `node dist/src/cli/main.js run` as user 65532, the chart's runAsUser", async (t) => {
  const info = await podman.imageInspect(image.id);
  t.is(info.Config.User, `${IMAGE_UID}:${IMAGE_UID}`);
  t.deepEqual(info.Config.Entrypoint, ["node", "/app/dist/src/cli/main.js"]);
  t.deepEqual(info.Config.Cmd, ["run"]);
  t.true((info.Config.Env ?? []).includes(`NODE_OPTIONS=${await imageNodeOptions(ROOT)}`), "the V8 settings the benchmarks run the operator with");
  const pod = (await chartDeployment()).spec.template.spec;
  t.is(pod.securityContext.runAsUser, IMAGE_UID);
  t.true(pod.securityContext.runAsNonRoot);
  t.true(pod.containers[0]!.securityContext.readOnlyRootFilesystem);
});

test("the image holds the compiled operator and its production dependencies: no npm, no shell, no dev dependencies, no sources", async (t) => {
  const entries = await imageFiles(image.id);
  const paths = new Set(entries.map((e) => e.path));
  t.true(paths.has("/app/dist/src/cli/main.js"));

  // /app: package.json (it makes dist's .js files ES modules), the compiled operator, node_modules; nothing else.
  t.deepEqual(entries.filter((e) => /^\/app\/[^/]+$/.test(e.path)).map((e) => e.path).sort(), ["/app/dist", "/app/node_modules", "/app/package.json"]);
  t.deepEqual(entries.filter((e) => /^\/app\/dist\/[^/]+$/.test(e.path)).map((e) => e.path), ["/app/dist/src"]);
  t.deepEqual(entries.filter((e) => e.path.startsWith("/app/dist/src/") && e.kind === "file" && !e.path.endsWith(".js")).map((e) => e.path), []);

  // No package manager, no shell: nothing in the image installs or runs anything but node.
  const named = (...names: string[]) => entries.filter((e) => names.includes(e.path.slice(e.path.lastIndexOf("/") + 1))).map((e) => e.path);
  t.deepEqual(named("npm", "npx", "corepack", "yarn", "pnpm", "npm-cli.js"), []);
  t.deepEqual(named("sh", "bash", "dash", "busybox"), []);
  // No TypeScript: neither sources nor declarations, anywhere.
  t.deepEqual(entries.filter((e) => e.kind === "file" && /\.[mc]?ts$/.test(e.path)).map((e) => e.path), []);

  // node_modules holds exactly the production packages of package-lock.json, without type declarations.
  const lock = await lockFile();
  const production = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== "" && !entry.dev && !path.split("/").includes("@types"))
    .map(([path]) => `/app/${path}`)
    .sort();
  const installed = entries
    .filter((e) => e.kind === "file" && /^\/app\/(?:node_modules\/(?:@[^/]+\/)?[^/@]+\/)+package\.json$/.test(e.path))
    .map((e) => e.path.slice(0, -"/package.json".length))
    .filter((dir) => /\/node_modules\/(?:@[^/]+\/)?[^/]+$/.test(dir))
    .sort();
  t.deepEqual(installed, production);
  for (const dev of ["typescript", "ava", "fast-check", "@types", "@types/node", "@typescript"]) {
    t.false(paths.has(`/app/node_modules/${dev}`), `${dev} is in the image`);
  }
  t.false(entries.some((e) => e.path.split("/").includes("@types")), "@types is in the image");

  // The operator cannot change its own files: root owns them, nobody else may write.
  const writable = entries.filter((e) => e.path.startsWith("/app") && e.kind !== "symlink" && (e.uid !== 0 || (e.mode & 0o022) !== 0));
  t.deepEqual(writable.map((e) => `${e.path} uid=${e.uid} mode=${e.mode.toString(8)}`), []);
  t.log(`${entries.length} entries; ${installed.length} production packages`);
});

test("the image is within its size budget", async (t) => {
  const total = (await podman.imageInspect(image.id)).Size;
  const base = (await podman.imageInspect(image.bases.runtime)).Size;
  t.log(`image ${(total / 1e6).toFixed(1)} MB = base ${(base / 1e6).toFixed(1)} MB + operator ${((total - base) / 1e6).toFixed(1)} MB`);
  t.true(total - base <= BUDGET.operatorLayers, `the operator's layers take ${((total - base) / 1e6).toFixed(1)} MB, over ${BUDGET.operatorLayers / 1e6} MB`);
  t.true(total <= BUDGET.image, `the image takes ${(total / 1e6).toFixed(1)} MB, over ${BUDGET.image / 1e6} MB`);
});

test.serial("the operator in the image, run as the chart deploys it, makes a store Ready (user 65532, read-only root file system, no capabilities)", async (t) => {
  const e2e = await E2E.start();
  const name = `${CONTAINER_PREFIX}${process.pid}-${Date.now()}`;
  try {
    const kube = e2e.kube;
    // RBAC, ServiceAccount and Deployment as the chart installs them; with no kubelet here, the container runs under podman instead.
    await kube.helm(["install", "gso", CHART, "--namespace", "gso-system", "--create-namespace", "--skip-crds"]);
    const deployment = JSON.parse((await kube.kubectl(["get", "deployment", "gso-glance-store-operator", "-n", "gso-system", "-o", "json"])).stdout) as DeploymentJson;
    const container = deployment.spec.template.spec.containers[0]!;
    t.is(container.image, image.ref);

    // The ServiceAccount's credentials, as a kubeconfig only the image's user can read.
    const serviceAccountConfig = await kube.kubeconfigFor("system:serviceaccount:gso-system:gso-glance-store-operator", ["system:serviceaccounts", "system:serviceaccounts:gso-system"]);
    const kubeDir = join(e2e.stack.directory, "image-kube");
    await mkdir(kubeDir, { recursive: true });
    const kubeconfig = join(kubeDir, "config");
    await copyFile(serviceAccountConfig, kubeconfig);
    await chown(kubeconfig, IMAGE_UID, IMAGE_UID);

    // The chart's arguments, with metrics and health on loopback ports of our own instead of 0.0.0.0.
    const metricsPort = await e2e.stack.ports.allocate();
    const healthPort = await e2e.stack.ports.allocate();
    const args = container.args.map((arg) =>
      arg.startsWith("--metrics-address=") ? `--metrics-address=127.0.0.1:${metricsPort}` : arg.startsWith("--health-address=") ? `--health-address=127.0.0.1:${healthPort}` : arg,
    );
    t.is(args[0], "run");
    const run = e2e.stack.supervisor.start({
      name: "operator-image",
      command: "podman",
      args: [
        ...podman.globalArgs,
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        // securityContext: readOnlyRootFilesystem (and no tmpfs either), capabilities drop ALL, no privilege escalation.
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        ...containerUlimits(),
        "--volume",
        `${kubeconfig}:/kube/config:ro`,
        "--env",
        "KUBECONFIG=/kube/config",
        "--env",
        `POD_NAME=${name}`,
        image.id,
        ...args,
      ],
      env: { ...process.env, PATH: SYSTEM_PATH },
    });
    const healthUrl = `http://127.0.0.1:${healthPort}`;
    await waitFor(async () => ((await fetch(`${healthUrl}/readyz`)).ok ? true : undefined), {
      what: "the operator's /readyz, in the container",
      timeoutMs: 60_000,
      abortIf: () => (run.exitInfo() ? `podman run exited: ${JSON.stringify(run.exitInfo())}` : undefined),
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await run.logTail(40)}`);
    });

    // The operator's process, seen from the host: user and group 65532, no capabilities, no new privileges.
    const pid = Number((await podman.run(["inspect", "--format", "{{.State.Pid}}", name])).stdout.trim());
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const field = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
    t.deepEqual(field("Uid").split(/\s+/).map(Number), [IMAGE_UID, IMAGE_UID, IMAGE_UID, IMAGE_UID]);
    t.deepEqual(field("Gid").split(/\s+/).map(Number), [IMAGE_UID, IMAGE_UID, IMAGE_UID, IMAGE_UID]);
    t.is(field("CapEff"), "0000000000000000");
    t.is(field("NoNewPrivs"), "1");
    t.regex(await readFile(`/proc/${pid}/cmdline`, "utf8"), /^node\0\/app\/dist\/src\/cli\/main\.js\0run\0/);

    // Nothing in the container's file system can be written, /tmp included.
    const probe = await podman.run([
      "exec",
      name,
      "node",
      "-e",
      `const fs = require("node:fs"); for (const p of ["/app/x", "/tmp/x", "/home/nonroot/x"]) { try { fs.writeFileSync(p, "x"); console.log(p, "written"); } catch (e) { console.log(p, e.code); } }`,
    ]);
    t.deepEqual(probe.stdout.trim().split("\n"), ["/app/x EROFS", "/tmp/x EROFS", "/home/nonroot/x EROFS"]);

    const type = await e2e.openstack.admin.createVolumeType(unique("image"));
    await e2e.apply(e2e.store("imaged", { volumeType: type.name, default: true }));
    const ready = await e2e.waitForStore("imaged", "Ready, by the operator in the image", isReady);
    t.true(ready.status?.rendered);
    t.truthy(await e2e.renderedFiles());
    // /metrics is HTTPS for authorized scrapers (the chart's default): a ServiceAccount bound to the metrics-reader role reads it.
    await kube.kubectl(["create", "serviceaccount", "prometheus", "-n", "gso-system"]);
    await kube.kubectl(["create", "clusterrolebinding", "prometheus-reads-gso-image", "--clusterrole=gso-glance-store-operator-metrics-reader", "--serviceaccount=gso-system:prometheus"]);
    const token = (await kube.kubectl(["create", "token", "prometheus", "-n", "gso-system"])).stdout.trim();
    const scrape = await request(`https://127.0.0.1:${metricsPort}/metrics`, { dispatcher: new Agent({ connect: { rejectUnauthorized: false } }), headers: { authorization: `Bearer ${token}` } });
    t.is(scrape.statusCode, 200);
    t.regex(await scrape.body.text(), /^glance_store_operator_leader 1$/m);

    // SIGTERM, as the kubelet sends it: node is PID 1 and shuts down cleanly.
    const stopStarted = Date.now();
    await podman.run(["stop", "--time", "30", name], { timeoutMs: 60_000 });
    const exit = await run.exited;
    t.log(`stopped in ${((Date.now() - stopStarted) / 1000).toFixed(1)} s: ${JSON.stringify(exit)}`);
    t.is(exit.code, 0, await run.logTail(30));
    // It logged JSON lines (pino, on stderr).
    const lines = (await run.logTail(100_000)).split("\n").filter((line) => line.startsWith("{"));
    t.true(lines.some((line) => (JSON.parse(line) as { msg?: string }).msg !== undefined));
  } finally {
    await podman.run(["rm", "--force", "--ignore", name], { allowFailure: true });
    await e2e.stop();
  }
});
