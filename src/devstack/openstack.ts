import { chmod, mkdir, mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { startCinderApi, type CinderLayout } from "./cinder.js";
import { runCommand } from "./command.js";
import { startGlanceApi, type GlanceApi, type StartGlanceOptions } from "./glance.js";
import { DEFAULT_KEYSTONE_LOCKOUT, startKeystone, type KeystoneLayout, type KeystoneLockout } from "./keystone.js";
import { OpenStackAdmin, type PasswordCredentials } from "./openstack-admin.js";
import { CINDER_URL_PLACEHOLDER, DEV_PASSWORDS, ensureOpenStackSeed, KEYSTONE_URL_PLACEHOLDER } from "./openstack-seed.js";
import type { PortAllocator } from "./ports.js";
import { startPostgres, type PostgresServer } from "./postgres.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { ensureOpenStackPackages, SYSTEM_PATH } from "./system-packages.js";

/** A service that tests may stop and start again on the same port (an outage). */
export interface RestartableService {
  readonly url: string;
  readonly port: number;
  current(): ManagedProcess | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface OpenStackServices {
  /** Keystone v3, e.g. http://127.0.0.1:40123/v3 */
  readonly keystoneUrl: string;
  /** Cinder API root, e.g. http://127.0.0.1:40124 (the catalog carries /v3/<project_id>). */
  readonly cinderUrl: string;
  readonly region: string;
  readonly keystone: RestartableService;
  readonly cinder: RestartableService;
  readonly postgres: PostgresServer;
  /** The bootstrap admin (admin role in project `admin`). */
  readonly adminCredentials: PasswordCredentials;
  /** The `glance` user, admin role in project `service`: what glance_store's cinder_store_* options carry. */
  readonly glanceCredentials: PasswordCredentials;
  readonly serviceProjectId: string;
  readonly admin: OpenStackAdmin;
  /** Keystone's `[security_compliance]` lockout, or false when it is off. */
  readonly keystoneLockout: KeystoneLockout | false;
  /**
   * Keystone's count of failed password authentications of a user in a row
   * (`local_user.failed_auth_count`, reset by a success), read from its
   * database: what lockout compares with `failureAttempts`. 0 for a user
   * that never failed; undefined for a user that does not exist.
   */
  failedAuthCount(username: string, domainId?: string): Promise<number | undefined>;
  /**
   * Starts a real glance-api with the rendered files of `configDir`: as its
   * --config-dir, or, with `mountPath`, mounted there in a mount namespace
   * of its own, eventlet or WSGI (see StartGlanceOptions).
   */
  startGlance(options: StartGlanceOptions): Promise<GlanceApi>;
  /**
   * A new, empty folder under this stack's directory for a `file` store's
   * `filesystem_store_datadir` (declared through StartGlanceOptions.mainConfig):
   * glance-api runs as this process's user and writes there; it goes with the stack.
   */
  newFileStoreDir(storeId: string): Promise<string>;
  /**
   * Removes a volume record for good. Only cinder-api runs here, so a DELETE
   * through the API would wait forever for a volume service: the test side
   * marks the row deleted the way cinder-volume would.
   */
  purgeVolume(volumeId: string): Promise<void>;
}

export interface StartOpenStackOptions {
  readonly directory: string;
  readonly supervisor: ProcessSupervisor;
  readonly ports: PortAllocator;
  readonly cacheDir: string;
  readonly log: (message: string) => void;
  /** Keystone `[token] expiration`; short values let tests cross a token's expiry. */
  readonly tokenExpirationSeconds?: number;
  /** Keystone `[security_compliance]` lockout; default DEFAULT_KEYSTONE_LOCKOUT, false: off. */
  readonly keystoneLockout?: KeystoneLockout | false;
}

/**
 * PostgreSQL, Keystone and Cinder API from Debian's packages, on loopback
 * ports of their own, started from the cached seed databases.
 */
export async function startOpenStack(options: StartOpenStackOptions): Promise<OpenStackServices> {
  const { directory, supervisor, ports, log } = options;
  await ensureOpenStackPackages(log);
  const seed = await ensureOpenStackSeed({ cacheDir: options.cacheDir, ports, log });
  await mkdir(directory, { recursive: true });
  // The postgres user must be able to walk into the data directory.
  await chmod(directory, 0o755);
  const env = { PATH: SYSTEM_PATH };
  const pgDataDir = join(directory, "pgdata");
  const keystoneDir = join(directory, "keystone");
  await runCommand("cp", ["-a", seed.pgDataDir, pgDataDir], { env });
  await runCommand("cp", ["-a", seed.keystoneKeysDir, keystoneDir], { env });

  const [postgresPort, keystonePort, cinderPort] = [await ports.allocate(), await ports.allocate(), await ports.allocate()];
  const postgres = await startPostgres({ dataDir: pgDataDir, socketDir: join(directory, "pgsocket"), port: postgresPort, supervisor });
  const keystoneRoot = `http://127.0.0.1:${keystonePort}`;
  const cinderUrl = `http://127.0.0.1:${cinderPort}`;
  await postgres.sql(
    "keystone",
    `UPDATE endpoint SET url = replace(replace(url, '${KEYSTONE_URL_PLACEHOLDER}', '${keystoneRoot}'), '${CINDER_URL_PLACEHOLDER}', '${cinderUrl}')`,
  );
  const keystoneUrl = `${keystoneRoot}/v3`;
  const keystoneLockout = options.keystoneLockout === undefined ? DEFAULT_KEYSTONE_LOCKOUT : options.keystoneLockout;

  const keystoneLayout: KeystoneLayout = {
    directory: keystoneDir,
    databaseUrl: postgres.connectionUrl("keystone"),
    ...(options.tokenExpirationSeconds === undefined ? {} : { tokenExpirationSeconds: options.tokenExpirationSeconds }),
    lockout: keystoneLockout,
  };
  const cinderLayout: CinderLayout = {
    directory: join(directory, "cinder"),
    databaseUrl: postgres.connectionUrl("cinder"),
    keystoneUrl,
    serviceUser: { username: "cinder", password: DEV_PASSWORDS.cinder },
  };
  const keystone = restartable(keystoneRoot, keystonePort, () => startKeystone({ supervisor, layout: keystoneLayout, port: keystonePort }));
  const cinder = restartable(cinderUrl, cinderPort, () => startCinderApi({ supervisor, layout: cinderLayout, port: cinderPort }));
  // Both spend their start-up importing Python: overlap them.
  await Promise.all([keystone.start(), cinder.start()]);

  const credentials = (username: string, password: string, projectName: string): PasswordCredentials => ({
    authUrl: keystoneUrl,
    username,
    password,
    projectName,
    userDomainName: "Default",
    projectDomainName: "Default",
  });
  const adminCredentials = credentials("admin", DEV_PASSWORDS.admin, "admin");
  const glanceCredentials = credentials("glance", DEV_PASSWORDS.glance, "service");
  const admin = new OpenStackAdmin({ credentials: adminCredentials, keystoneUrl, cinderUrl });
  return {
    keystoneUrl,
    cinderUrl,
    region: "RegionOne",
    keystone,
    cinder,
    postgres,
    adminCredentials,
    glanceCredentials,
    serviceProjectId: seed.serviceProjectId,
    admin,
    keystoneLockout,
    failedAuthCount: async (username, domainId = "default") => {
      if (!/^[A-Za-z0-9_.@+-]+$/.test(username) || !/^[A-Za-z0-9_-]+$/.test(domainId)) throw new Error(`not a user name or domain id this helper quotes safely: ${username} / ${domainId}`);
      const out = await postgres.sql("keystone", `SELECT coalesce(failed_auth_count, 0) FROM local_user WHERE name = '${username}' AND domain_id = '${domainId}'`);
      const text = out.trim();
      return text === "" ? undefined : Number(text);
    },
    startGlance: (glanceOptions) =>
      startGlanceApi(
        {
          supervisor,
          allocatePort: () => ports.allocate(),
          directory: join(directory, "glance"),
          databaseUrl: postgres.connectionUrl("glance"),
          keystoneUrl,
          serviceUser: { username: "glance", password: DEV_PASSWORDS.glance },
          adminCredentials,
        },
        glanceOptions,
      ),
    newFileStoreDir: async (storeId) => {
      if (!/^[A-Za-z0-9_-]+$/.test(storeId)) throw new Error(`not a store id this helper puts in a path: ${storeId}`);
      const parent = join(directory, "glance", "file-stores");
      await mkdir(parent, { recursive: true });
      return mkdtemp(join(parent, `${storeId}-`));
    },
    purgeVolume: async (volumeId) => {
      if (!/^[0-9a-f-]{36}$/.test(volumeId)) throw new Error(`not a volume id: ${volumeId}`);
      await postgres.sql("cinder", `UPDATE volumes SET deleted = true, deleted_at = now(), status = 'deleted' WHERE id = '${volumeId}'`);
    },
  };
}

function restartable(url: string, port: number, launch: () => Promise<ManagedProcess>): RestartableService {
  let current: ManagedProcess | undefined;
  return {
    url,
    port,
    current: () => current,
    stop: async () => {
      await current?.stop();
      current = undefined;
    },
    start: async () => {
      if (current !== undefined && current.exitInfo() === undefined) return;
      current = await launch();
    },
  };
}
