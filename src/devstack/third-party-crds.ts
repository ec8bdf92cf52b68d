import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { defaultCacheDir, type EnsureOptions } from "./binaries.js";
import { runCommand } from "./command.js";
import { withLockUnlessDone } from "./locks.js";

/**
 * The CRDs of other projects that our manifests and examples use: the
 * prometheus-operator's ServiceMonitor and PrometheusRule (the chart's
 * monitoring), Argo CD's Application and Flux's GitRepository and
 * Kustomization (examples/gitops/). Tests install them into the local
 * kube-apiserver so that it validates those objects against their real
 * schemas. They come from each project's Go module, through the Go module
 * proxy, and are cached by version: changing a version here fetches again.
 * Each version's go directive must not need a newer Go than the machine's.
 */
export const THIRD_PARTY_CRDS = [
  {
    module: "github.com/prometheus-operator/prometheus-operator",
    version: "v0.85.0",
    files: ["example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"],
  },
  // About 38 MB, the largest: its module holds the whole of Argo CD.
  { module: "github.com/argoproj/argo-cd/v2", version: "v2.14.21", files: ["manifests/crds/application-crd.yaml"] },
  { module: "github.com/fluxcd/source-controller", version: "v1.9.6", files: ["config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml"] },
  { module: "github.com/fluxcd/kustomize-controller", version: "v1.9.6", files: ["config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"] },
] as const;

/** The paths of every CRD file above, fetching the modules the cache lacks. */
export async function ensureThirdPartyCrds(options: EnsureOptions = {}): Promise<string[]> {
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
  const log = options.log ?? (() => {});
  const env = options.env ?? process.env;
  const paths: string[] = [];
  // One at a time, like the binaries: the machine is small.
  for (const source of THIRD_PARTY_CRDS) {
    const folder = join(cacheDir, "crds", `${source.module.replaceAll("/", "_")}@${source.version}`);
    const complete = join(folder, ".complete");
    await mkdir(join(cacheDir, "crds"), { recursive: true });
    await withLockUnlessDone(`${folder}.lock`, () => existsSync(complete), () => fetchCrds(cacheDir, source, folder, complete, log, env), {
      what: `the CRDs of ${source.module}@${source.version} to be fetched by another process`,
      timeoutMs: 30 * 60_000,
      onWait: () => log(`waiting for another process that fetches ${source.module}@${source.version}`),
    });
    paths.push(...source.files.map((file) => join(folder, basename(file))));
  }
  return paths;
}

async function fetchCrds(
  cacheDir: string,
  source: (typeof THIRD_PARTY_CRDS)[number],
  folder: string,
  complete: string,
  log: (message: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const started = Date.now();
  log(`fetching ${source.module}@${source.version} from the Go module proxy for its CRDs (once; cached in ${folder})`);
  // A module cache of its own, removed afterwards: only a few files of the module are kept.
  const scratch = await mkdtemp(join(cacheDir, "crds", "fetch-"));
  const goEnv = { ...env, GOMODCACHE: join(scratch, "mod"), GOFLAGS: "-modcacherw", GOTOOLCHAIN: "local" };
  try {
    const result = await runCommand("go", ["mod", "download", "-json", `${source.module}@${source.version}`], { env: goEnv, cwd: scratch, timeoutMs: 20 * 60_000, allowFailure: true });
    const info = JSON.parse(result.stdout || "{}") as { Dir?: string; Error?: string };
    if (result.code !== 0 || info.Dir === undefined) {
      throw new Error(`go mod download ${source.module}@${source.version} failed: ${info.Error ?? result.stderr.trim()}`);
    }
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { recursive: true });
    for (const file of source.files) await copyFile(join(info.Dir, file), join(folder, basename(file)));
    await writeFile(complete, `${source.module}@${source.version}\n`);
    log(`fetched the CRDs of ${source.module}@${source.version} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
