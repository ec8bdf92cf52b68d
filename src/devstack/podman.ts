import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { runCommand, type CommandOptions, type CommandResult } from "./command.js";
import { SYSTEM_PATH } from "./system-packages.js";

/**
 * podman without a Docker engine or a registry (docs/image.md): images and
 * containers live under the cache folder, so a fresh clone finds the images
 * an earlier run built. The flags are the ones that work on the development
 * machine: the vfs storage driver (no overlay or fuse needed), runc (crun
 * fails on hosts with hybrid cgroups), cgroupfs (no systemd), and events in
 * a file (no journald).
 */
export class Podman {
  readonly root: string;
  readonly #runRoot: string;
  readonly #tmpDir: string;

  private constructor(readonly cacheDir: string) {
    const base = join(cacheDir, "containers");
    this.root = join(base, "storage");
    this.#runRoot = join(base, "run");
    this.#tmpDir = join(base, "tmp");
  }

  static async open(cacheDir: string): Promise<Podman> {
    const podman = new Podman(cacheDir);
    for (const dir of [podman.root, podman.#runRoot, podman.#tmpDir]) await mkdir(dir, { recursive: true, mode: 0o700 });
    return podman;
  }

  /** The global flags every podman command here takes; the same each time, since podman's database records them. */
  get globalArgs(): string[] {
    return [
      "--root",
      this.root,
      "--runroot",
      this.#runRoot,
      "--tmpdir",
      this.#tmpDir,
      "--storage-driver",
      "vfs",
      "--runtime",
      "runc",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "file",
    ];
  }

  /** `podman` with the global flags; Debian's PATH so that conmon and runc are found. */
  run(args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runCommand("podman", [...this.globalArgs, ...args], { timeoutMs: 120_000, ...options, env: { ...process.env, PATH: SYSTEM_PATH, ...options.env } });
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.run(["image", "exists", ref], { allowFailure: true })).code === 0;
  }

  async imageInspect(ref: string): Promise<ImageInfo> {
    const [info] = JSON.parse((await this.run(["image", "inspect", ref])).stdout) as ImageInfo[];
    if (info === undefined) throw new Error(`podman image inspect ${ref} returned nothing`);
    return info;
  }

  /** The images with a tag in `repository` (written in full, e.g. `localhost/name`), newest first. */
  async images(repository: string): Promise<{ id: string; names: string[]; created: number }[]> {
    const { stdout } = await this.run(["images", "--format", "json", "--filter", `reference=${repository}`]);
    // podman lists an image once per tag.
    const byId = new Map<string, { id: string; names: string[]; created: number }>();
    for (const image of JSON.parse(stdout || "[]") as { Id: string; Names?: string[]; Created: number }[]) {
      byId.set(image.Id, { id: image.Id, names: image.Names ?? [], created: image.Created });
    }
    return [...byId.values()].sort((a, b) => b.created - a.created);
  }
}

export interface ImageInfo {
  readonly Id: string;
  readonly Size: number;
  readonly RepoTags: readonly string[];
  readonly Labels: Record<string, string> | null;
  readonly Config: {
    readonly User?: string;
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly Env?: readonly string[];
    readonly WorkingDir?: string;
    readonly Labels?: Record<string, string> | null;
  };
}

/**
 * `--ulimit` flags within the machine's hard limits: podman's defaults
 * (a million open files) exceed them on some hosts, and then runc cannot
 * start the container.
 */
export function containerUlimits(limitsFile = "/proc/self/limits"): string[] {
  const text = readFileSync(limitsFile, "utf8");
  const hard = (name: string, fallback: number): number => {
    const line = text.split("\n").find((l) => l.startsWith(name));
    const value = line?.slice(name.length).trim().split(/\s+/)[1];
    return value === undefined || value === "unlimited" ? fallback : Number(value);
  };
  const nofile = Math.min(hard("Max open files", 65_536), 65_536);
  const nproc = Math.min(hard("Max processes", 4_096), 4_096);
  return ["--ulimit", `nofile=${nofile}:${nofile}`, "--ulimit", `nproc=${nproc}:${nproc}`];
}
