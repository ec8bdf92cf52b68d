import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { withLockUnlessDone } from "./locks.js";

const run = promisify(execFile);

/**
 * Versions of the tools the local stack builds from the Go module proxy.
 * They key the cache: changing one here builds that tool again.
 */
export const TOOL_VERSIONS = {
  kubernetes: "v1.35.4",
  etcd: "v3.6.16",
  helm: "v3.22.0",
  /** The k8s.io/client-go minor version helm's go.mod requires; helm's release builds stamp it as the default Kubernetes version. */
  helmKubeMinor: "37",
} as const;

/** The oldest kubectl client we accept from the machine before building our own. */
const MINIMUM_KUBECTL_MINOR = 20;

export interface DevBinaries {
  readonly kubeApiserver: string;
  readonly etcd: string;
  readonly kubectl: string;
  readonly helm: string;
}

export type Log = (message: string) => void;

/**
 * Where slow-to-build tools live: outside any clone, so a fresh clone (CI)
 * finds what an earlier run built. `GSO_CACHE_DIR` overrides it.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["GSO_CACHE_DIR"];
  if (explicit) return explicit;
  const xdg = env["XDG_CACHE_HOME"];
  return join(xdg ? xdg : join(homedir(), ".cache"), "glance-store-operator");
}

interface GoBuildRecipe {
  readonly name: string;
  readonly module: string;
  readonly version: string;
  readonly packagePath: string;
  /** `replace` lines the module's own go.mod needs but that a dependent module does not inherit. */
  readonly replaces: (module: ModuleInfo) => Promise<readonly string[]>;
  /** `-X` settings that official release builds stamp in, so the binary reports its real version. */
  readonly versionStamps: readonly string[];
}

interface ModuleInfo {
  readonly goModFile: string;
}

const kubernetesVersionStamps = (): string[] => {
  const [major, minor] = TOOL_VERSIONS.kubernetes.slice(1).split(".");
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `${pkg}.gitVersion=${TOOL_VERSIONS.kubernetes}`,
    `${pkg}.gitMajor=${major}`,
    `${pkg}.gitMinor=${minor}`,
    `${pkg}.gitTreeState=clean`,
  ]);
};

const kubernetesRecipe = (name: string, packagePath: string): GoBuildRecipe => ({
  name,
  module: "k8s.io/kubernetes",
  version: TOOL_VERSIONS.kubernetes,
  packagePath,
  versionStamps: kubernetesVersionStamps(),
  // k8s.io/kubernetes points its staging modules at ./staging; outside its
  // repository they are the published k8s.io/<name> v0.<minor>.<patch>.
  replaces: async ({ goModFile }) => {
    const stagingVersion = `v0.${TOOL_VERSIONS.kubernetes.slice("v1.".length)}`;
    const text = await readFile(goModFile, "utf8");
    return [...text.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map(
      (match) => `replace ${match[1]} => ${match[1]} ${stagingVersion}`,
    );
  },
});

const RECIPES = {
  kubeApiserver: kubernetesRecipe("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
  kubectl: kubernetesRecipe("kubectl", "k8s.io/kubernetes/cmd/kubectl"),
  etcd: {
    name: "etcd",
    module: "go.etcd.io/etcd/server/v3",
    version: TOOL_VERSIONS.etcd,
    packagePath: "go.etcd.io/etcd/server/v3",
    versionStamps: [],
    // etcd's server module replaces its sibling modules with ../ paths.
    replaces: async () =>
      ["go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/client/pkg/v3", "go.etcd.io/etcd/client/v3", "go.etcd.io/etcd/pkg/v3"].map(
        (module) => `replace ${module} => ${module} ${TOOL_VERSIONS.etcd}`,
      ),
  },
  helm: {
    name: "helm",
    module: "helm.sh/helm/v3",
    version: TOOL_VERSIONS.helm,
    packagePath: "helm.sh/helm/v3/cmd/helm",
    replaces: async ({ goModFile }) => {
      const clientGo = /^\s*k8s\.io\/client-go\s+v0\.(\d+)\./m.exec(await readFile(goModFile, "utf8"))?.[1];
      if (clientGo !== TOOL_VERSIONS.helmKubeMinor) {
        throw new Error(`helm ${TOOL_VERSIONS.helm} requires k8s.io/client-go v0.${clientGo}.x: set TOOL_VERSIONS.helmKubeMinor to "${clientGo}"`);
      }
      return [];
    },
    versionStamps: [
      `helm.sh/helm/v3/internal/version.version=${TOOL_VERSIONS.helm}`,
      "helm.sh/helm/v3/internal/version.gitTreeState=clean",
      // Without these, `helm template` and `helm lint` assume Kubernetes 1.20.
      "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
      `helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${TOOL_VERSIONS.helmKubeMinor}`,
      "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1",
      `helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${TOOL_VERSIONS.helmKubeMinor}`,
    ],
  },
} satisfies Record<string, GoBuildRecipe>;

export interface EnsureOptions {
  readonly cacheDir?: string;
  readonly log?: Log;
  readonly env?: NodeJS.ProcessEnv;
}

/** Returns the paths of kube-apiserver, etcd, kubectl and helm, building what the cache lacks. */
export async function ensureDevBinaries(options: EnsureOptions = {}): Promise<DevBinaries> {
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  // One at a time: two Go builds at once on two cores are slower than in turn.
  const kubeApiserver = await ensureGoBinary(cacheDir, RECIPES.kubeApiserver, log, env);
  const etcd = await ensureGoBinary(cacheDir, RECIPES.etcd, log, env);
  const helm = await ensureGoBinary(cacheDir, RECIPES.helm, log, env);
  const kubectl = (await machineKubectl(env)) ?? (await ensureGoBinary(cacheDir, RECIPES.kubectl, log, env));
  return { kubeApiserver, etcd, kubectl, helm };
}

/** Keyed by version and by how it is built, so a changed recipe builds again. */
export function cachedBinaryPath(cacheDir: string, recipe: GoBuildRecipe): string {
  const flavour = createHash("sha256").update(linkerFlags(recipe)).digest("hex").slice(0, 8);
  return join(cacheDir, "bin", `${recipe.name}-${recipe.version}-${flavour}`, recipe.name);
}

function linkerFlags(recipe: GoBuildRecipe): string {
  return ["-s", "-w", ...recipe.versionStamps.map((stamp) => `-X ${stamp}`)].join(" ");
}

async function machineKubectl(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await run("kubectl", ["version", "--client", "-o", "json"], { env, timeout: 30_000 });
    const parsed = JSON.parse(stdout) as { clientVersion?: { major?: string; minor?: string } };
    const major = Number(parsed.clientVersion?.major);
    const minor = Number.parseInt(parsed.clientVersion?.minor ?? "", 10);
    if (major === 1 && minor >= MINIMUM_KUBECTL_MINOR) {
      const { stdout: path } = await run("sh", ["-c", "command -v kubectl"], { env });
      return path.trim();
    }
    return undefined;
  } catch {
    return undefined;
  }
}

async function ensureGoBinary(cacheDir: string, recipe: GoBuildRecipe, log: Log, env: NodeJS.ProcessEnv): Promise<string> {
  const target = cachedBinaryPath(cacheDir, recipe);
  await mkdir(dirname(target), { recursive: true });
  await withLockUnlessDone(`${target}.lock`, () => existsSync(target), () => buildGoBinary(cacheDir, recipe, target, log, env), {
    what: `${recipe.name} ${recipe.version} to be built by another process`,
    timeoutMs: 60 * 60_000,
    onWait: () => log(`waiting for another process that builds ${recipe.name} ${recipe.version}`),
  });
  return target;
}

async function buildGoBinary(cacheDir: string, recipe: GoBuildRecipe, target: string, log: Log, env: NodeJS.ProcessEnv): Promise<void> {
  await requireGo(env);
  const started = Date.now();
  log(`building ${recipe.name} ${recipe.version} from the Go module proxy (once; cached in ${dirname(target)})`);
  const work = await mkdtemp(join(cacheDir, `build-${recipe.name}-`));
  const goEnv = { ...env, GOFLAGS: `${env["GOFLAGS"] ?? ""} -mod=mod`.trim(), CGO_ENABLED: "0" };
  const go = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await run("go", args, { cwd: work, env: goEnv, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? "").split("\n").filter((l) => !l.startsWith("go: downloading")).slice(-30).join("\n");
      throw new Error(`building ${recipe.name} ${recipe.version} failed at 'go ${args.join(" ")}' in ${work}:\n${stderr}`, { cause: error });
    }
  };
  try {
    const info = JSON.parse(await go(["mod", "download", "-json", `${recipe.module}@${recipe.version}`])) as { GoMod: string };
    const replaces = await recipe.replaces({ goModFile: info.GoMod });
    await writeFile(join(work, "go.mod"), ["module gso.local/build", "", "go 1.25.0", "", ...replaces, ""].join("\n"));
    // `go get` of the package, not just the module, records the go.sum entries its imports need.
    await go(["get", `${recipe.packagePath}@${recipe.version}`]);
    const temporary = `${target}.tmp-${process.pid}`;
    await go(["build", "-trimpath", `-ldflags=${linkerFlags(recipe)}`, "-o", temporary, recipe.packagePath]);
    await rename(temporary, target);
    log(`built ${recipe.name} ${recipe.version} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function requireGo(env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await run("go", ["version"], { env });
  } catch {
    throw new Error(
      "the Go toolchain (go >= 1.25) is needed once to build kube-apiserver, etcd and helm for the local stack; " +
        "install it (https://go.dev/doc/install or Debian's golang-1.25) and run again",
    );
  }
}
