import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { runCommand } from "./command.js";
import { startKeystone, writeKeystoneConfig } from "./keystone.js";
import { withLockUnlessDone } from "./locks.js";
import { OpenStackAdmin } from "./openstack-admin.js";
import type { PortAllocator } from "./ports.js";
import { initPostgresDataDir, startPostgres } from "./postgres.js";
import { ProcessSupervisor } from "./processes.js";
import { postgresBinDir, SYSTEM_PATH } from "./system-packages.js";
import { writeCinderConfig } from "./cinder.js";

/** Bump when the seed's content changes, so caches built by older code are not reused. */
const SEED_FORMAT = 1;

/** Stand-ins for the loopback URLs, which differ per stack; replaced in SQL before Keystone starts. */
export const KEYSTONE_URL_PLACEHOLDER = "http://keystone.seed.invalid";
export const CINDER_URL_PLACEHOLDER = "http://cinder.seed.invalid";

export const DEV_PASSWORDS = {
  admin: "dev-admin-password",
  glance: "dev-glance-password",
  cinder: "dev-cinder-password",
} as const;

export interface OpenStackSeed {
  readonly directory: string;
  /** A PostgreSQL data directory with the keystone, cinder and glance databases migrated and Keystone bootstrapped. */
  readonly pgDataDir: string;
  /** fernet-keys/ and credential-keys/ that go with the Keystone database. */
  readonly keystoneKeysDir: string;
  readonly serviceProjectId: string;
  readonly adminProjectId: string;
}

interface SeedManifest {
  readonly serviceProjectId: string;
  readonly adminProjectId: string;
}

/**
 * Migrating three databases and bootstrapping Keystone costs about a minute of
 * Python start-up. It is done once per set of package versions and kept in
 * the cache; each stack starts from a copy, with only its ports changed.
 */
export async function ensureOpenStackSeed(options: {
  readonly cacheDir: string;
  readonly ports: PortAllocator;
  readonly log: (message: string) => void;
}): Promise<OpenStackSeed> {
  const directory = join(options.cacheDir, "openstack-seed", await seedKey());
  const manifestFile = join(directory, "seed.json");
  await mkdir(join(options.cacheDir, "openstack-seed"), { recursive: true });
  await withLockUnlessDone(`${directory}.lock`, () => existsSync(manifestFile), () => buildSeed(directory, options), {
    what: "another process building the OpenStack seed databases",
    timeoutMs: 15 * 60_000,
    onWait: () => options.log("waiting for another process that builds the OpenStack seed"),
  });
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as SeedManifest;
  return {
    directory,
    pgDataDir: join(directory, "pgdata"),
    keystoneKeysDir: join(directory, "keystone"),
    ...manifest,
  };
}

async function seedKey(): Promise<string> {
  const { stdout } = await runCommand("dpkg-query", ["-W", "-f", "${Package}=${Version}\\n", "keystone", "cinder-api", "glance-api"], {
    env: { PATH: SYSTEM_PATH },
  });
  return createHash("sha256").update(`${SEED_FORMAT}\n${stdout}\n${postgresBinDir() ?? ""}`).digest("hex").slice(0, 16);
}

async function buildSeed(
  destination: string,
  options: { readonly ports: PortAllocator; readonly log: (message: string) => void },
): Promise<void> {
  const started = Date.now();
  options.log("building the OpenStack seed databases (once per package versions)");
  // Under /tmp, not the cache: the postgres user must reach the data directory.
  const work = await mkdtemp(join(tmpdir(), "gso-openstack-seed-"));
  await chmod(work, 0o755);
  const supervisor = new ProcessSupervisor(work);
  try {
    const pgDataDir = join(work, "pgdata");
    await initPostgresDataDir(pgDataDir);
    const postgres = await startPostgres({ dataDir: pgDataDir, socketDir: join(work, "pgsocket"), port: await options.ports.allocate(), supervisor });
    for (const database of ["keystone", "cinder", "glance"]) await postgres.sql("postgres", `CREATE DATABASE ${database}`);

    const keystoneLayout = { directory: join(work, "keystone"), databaseUrl: postgres.connectionUrl("keystone") };
    const keystoneConfig = await writeKeystoneConfig(keystoneLayout);
    const cinderConfig = await writeCinderConfig({
      directory: join(work, "cinder"),
      databaseUrl: postgres.connectionUrl("cinder"),
      keystoneUrl: `${KEYSTONE_URL_PLACEHOLDER}/v3`,
      serviceUser: { username: "cinder", password: DEV_PASSWORDS.cinder },
    });
    const glanceConfig = join(work, "glance.conf");
    await writeFile(glanceConfig, `[database]\nconnection = ${postgres.connectionUrl("glance")}\n`);
    const env = { PATH: SYSTEM_PATH, LANG: "C.UTF-8", HOME: work };
    const user = userInfo().username;
    const group = (await runCommand("id", ["-gn"], { env })).stdout.trim();
    const keystoneManage = (args: string[]) => runCommand("/usr/bin/keystone-manage", ["--config-file", keystoneConfig, ...args], { env, timeoutMs: 300_000 });
    await Promise.all([
      (async () => {
        await keystoneManage(["db_sync"]);
        await keystoneManage(["fernet_setup", "--keystone-user", user, "--keystone-group", group]);
        await keystoneManage(["credential_setup", "--keystone-user", user, "--keystone-group", group]);
        await keystoneManage([
          "bootstrap",
          "--bootstrap-password", DEV_PASSWORDS.admin,
          "--bootstrap-username", "admin",
          "--bootstrap-project-name", "admin",
          "--bootstrap-role-name", "admin",
          "--bootstrap-service-name", "keystone",
          "--bootstrap-region-id", "RegionOne",
          "--bootstrap-admin-url", `${KEYSTONE_URL_PLACEHOLDER}/v3/`,
          "--bootstrap-internal-url", `${KEYSTONE_URL_PLACEHOLDER}/v3/`,
          "--bootstrap-public-url", `${KEYSTONE_URL_PLACEHOLDER}/v3/`,
        ]);
      })(),
      runCommand("/usr/bin/cinder-manage", ["--config-file", cinderConfig, "db", "sync"], { env, timeoutMs: 300_000 }),
      runCommand("/usr/bin/glance-manage", ["--config-file", glanceConfig, "db_sync"], { env, timeoutMs: 300_000 }),
    ]);

    const keystonePort = await options.ports.allocate();
    const keystone = await startKeystone({ supervisor, layout: keystoneLayout, port: keystonePort });
    const keystoneUrl = `http://127.0.0.1:${keystonePort}/v3`;
    const admin = new OpenStackAdmin({
      credentials: { authUrl: keystoneUrl, username: "admin", password: DEV_PASSWORDS.admin, projectName: "admin", userDomainName: "Default", projectDomainName: "Default" },
      keystoneUrl,
      cinderUrl: CINDER_URL_PLACEHOLDER,
    });
    const adminProjectId = (await admin.token()).projectId;
    const serviceProjectId = await admin.createProject("service");
    for (const name of ["glance", "cinder"] as const) {
      const userId = await admin.createUser({ name, password: DEV_PASSWORDS[name], defaultProjectId: serviceProjectId });
      await admin.grantProjectRole(serviceProjectId, userId, "admin");
    }
    const volumeService = await admin.createService("volumev3", "cinderv3");
    for (const endpointInterface of ["public", "internal", "admin"] as const) {
      await admin.createEndpoint({ serviceId: volumeService, interface: endpointInterface, url: `${CINDER_URL_PLACEHOLDER}/v3/$(project_id)s` });
    }
    await keystone.stop();
    await supervisor.stopAll();

    const staging = `${destination}.partial`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    // cp -a keeps the postgres user's ownership and modes of the data directory.
    await runCommand("cp", ["-a", pgDataDir, join(staging, "pgdata")], { env });
    await mkdir(join(staging, "keystone"));
    for (const keys of ["fernet-keys", "credential-keys"]) {
      await runCommand("cp", ["-a", join(keystoneLayout.directory, keys), join(staging, "keystone", keys)], { env });
    }
    const manifest: SeedManifest = { serviceProjectId, adminProjectId };
    await writeFile(join(staging, "seed.json"), JSON.stringify(manifest, null, 2));
    await rm(destination, { recursive: true, force: true });
    await rename(staging, destination);
    options.log(`built the OpenStack seed in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await supervisor.stopAll();
    await rm(work, { recursive: true, force: true });
  }
}
