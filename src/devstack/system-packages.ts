import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./command.js";
import { withLockUnlessDone } from "./locks.js";

/** Debian packages the OpenStack half of the local stack runs from (docs/foundations.md section 5). */
export const OPENSTACK_PACKAGES = [
  "keystone",
  "cinder-api",
  "glance-api",
  "python3-openstackclient",
  "uwsgi-core",
  "uwsgi-plugin-python3",
  "postgresql",
  "python3-psycopg2",
  "openssl",
] as const;

/** Debian's python, which the OpenStack packages are installed for (a pyenv python on PATH is not). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** PATH for OpenStack services: Debian's programs first, never a user's pyenv shims. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface MissingPiece {
  readonly what: string;
  readonly package: string;
}

/** A list of what is missing, and the function that checks one file for it. */
function missingFiles(): { missing: MissingPiece[]; need: (path: string, what: string, pkg: string) => void } {
  const missing: MissingPiece[] = [];
  return {
    missing,
    need: (path, what, pkg) => {
      if (!existsSync(path)) missing.push({ what: `${what} (${path})`, package: pkg });
    },
  };
}

export function findMissingOpenStackPieces(): MissingPiece[] {
  const { missing, need } = missingFiles();
  need("/usr/bin/keystone-manage", "Keystone", "keystone");
  need("/usr/bin/keystone-wsgi-public", "Keystone WSGI entry point", "keystone");
  need("/usr/bin/cinder-manage", "Cinder", "cinder-api");
  need("/usr/bin/cinder-wsgi", "Cinder API WSGI entry point", "cinder-api");
  need("/usr/bin/glance-api", "Glance API", "glance-api");
  need("/usr/bin/glance-manage", "Glance", "glance-api");
  need("/etc/glance/glance-api-paste.ini", "Glance paste config", "glance-api");
  need("/usr/bin/uwsgi-core", "uWSGI", "uwsgi-core");
  need("/usr/lib/uwsgi/plugins/python3_plugin.so", "uWSGI python3 plugin", "uwsgi-plugin-python3");
  need("/usr/bin/openssl", "openssl", "openssl");
  need("/usr/bin/psql", "PostgreSQL client", "postgresql");
  if (postgresBinDir() === undefined) missing.push({ what: "PostgreSQL server (/usr/lib/postgresql/*/bin/postgres)", package: "postgresql" });
  if (!existsSync("/usr/lib/python3/dist-packages/psycopg2")) missing.push({ what: "psycopg2 for Debian's python", package: "python3-psycopg2" });
  return missing;
}

/** The newest installed PostgreSQL server's bin directory, e.g. /usr/lib/postgresql/15/bin. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/** Debian packages that build and run the operator's container image without a Docker engine (docs/image.md). */
export const CONTAINER_PACKAGES = ["podman", "runc", "mmdebstrap"] as const;

export function findMissingContainerPieces(): MissingPiece[] {
  const { missing, need } = missingFiles();
  need("/usr/bin/podman", "podman", "podman");
  need("/usr/bin/conmon", "conmon, podman's container monitor", "podman");
  // Debian recommends crun, which fails on hosts with hybrid cgroups; runc works on both.
  need("/usr/sbin/runc", "runc", "runc");
  need("/usr/bin/mmdebstrap", "mmdebstrap, which makes the local base images from Debian packages", "mmdebstrap");
  return missing;
}

/**
 * Installs the OpenStack packages when some are missing. As root it runs
 * apt-get itself; otherwise it stops with the exact command to run.
 */
export async function ensureOpenStackPackages(log: (message: string) => void = () => {}): Promise<void> {
  await ensurePackages({ what: "the local OpenStack stack", packages: OPENSTACK_PACKAGES, findMissing: findMissingOpenStackPieces }, log);
}

/** Installs podman, runc and mmdebstrap when missing, the same way (test/image/, docs/image.md). */
export async function ensureContainerPackages(log: (message: string) => void = () => {}): Promise<void> {
  await ensurePackages({ what: "the container image build", packages: CONTAINER_PACKAGES, findMissing: findMissingContainerPieces }, log);
}

interface PackageSet {
  readonly what: string;
  readonly packages: readonly string[];
  readonly findMissing: () => MissingPiece[];
}

async function ensurePackages(set: PackageSet, log: (message: string) => void): Promise<void> {
  // Parallel test files would otherwise fight over dpkg's lock.
  await withLockUnlessDone(join(tmpdir(), "glance-store-operator-apt.lock"), () => set.findMissing().length === 0, () => installPackages(set, log), {
    what: `another process installing the packages of ${set.what}`,
    timeoutMs: 20 * 60_000,
  });
}

async function installPackages(set: PackageSet, log: (message: string) => void): Promise<void> {
  const missing = set.findMissing();
  const packages = [...new Set([...missing.map((m) => m.package), ...set.packages])];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${set.what} needs Debian packages that are missing: ${missing.map((m) => m.what).join(", ")}. ` +
        `Install them as root with:\n  ${command}`,
    );
  }
  log(`installing Debian packages for ${set.what}: ${packages.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive", PATH: SYSTEM_PATH };
  await runCommand("apt-get", ["update", "-qq"], { env, timeoutMs: 10 * 60_000 });
  await runCommand("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { env, timeoutMs: 20 * 60_000 });
  const still = set.findMissing();
  if (still.length > 0) throw new Error(`after apt-get install these are still missing: ${still.map((m) => m.what).join(", ")}`);
}
