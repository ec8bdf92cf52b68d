import { execFileSync } from "node:child_process";
import { chmod, chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./command.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { postgresBinDir, SYSTEM_PATH } from "./system-packages.js";
import { waitFor } from "./wait.js";

export interface PostgresServer {
  readonly port: number;
  readonly process: ManagedProcess;
  /** SQLAlchemy URL of a database on this server, for OpenStack's `[database] connection`. */
  connectionUrl(database: string): string;
  /** Runs SQL with psql as the superuser. */
  sql(database: string, statement: string): Promise<string>;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` user. */
export function postgresRunAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/** Makes an empty data directory with trust authentication (loopback only). */
export async function initPostgresDataDir(dataDir: string): Promise<void> {
  const bin = requireBinDir();
  const runAs = postgresRunAs();
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
  await runCommand(join(bin, "initdb"), ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"], {
    env: { PATH: SYSTEM_PATH, LANG: "C" },
    ...(runAs ?? {}),
    timeoutMs: 120_000,
  });
}

/**
 * Starts PostgreSQL in the foreground (not with pg_ctl, which daemonises and
 * would hide the pid) on 127.0.0.1 only, with a socket in the data dir's parent.
 * Durability is off: this database lives as long as one stack.
 */
export async function startPostgres(options: {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  readonly supervisor: ProcessSupervisor;
  readonly name?: string;
}): Promise<PostgresServer> {
  const bin = requireBinDir();
  const runAs = postgresRunAs();
  await mkdir(options.socketDir, { recursive: true });
  if (runAs) await chown(options.socketDir, runAs.uid, runAs.gid);
  await chmod(options.socketDir, 0o755);
  const server = options.supervisor.start({
    name: options.name ?? "postgres",
    command: join(bin, "postgres"),
    args: [
      "-D", options.dataDir,
      "-c", "listen_addresses=127.0.0.1",
      "-c", `port=${options.port}`,
      "-c", `unix_socket_directories=${options.socketDir}`,
      "-c", "fsync=off",
      "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off",
      "-c", "max_connections=200",
      "-c", "shared_buffers=32MB",
    ],
    env: { PATH: SYSTEM_PATH, LANG: "C" },
    ...(runAs ?? {}),
  });
  const sql = async (database: string, statement: string): Promise<string> => {
    const result = await runCommand("psql", ["-h", "127.0.0.1", "-p", String(options.port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement], {
      env: { PATH: SYSTEM_PATH, PGCONNECT_TIMEOUT: "5" },
      timeoutMs: 60_000,
    });
    return result.stdout;
  };
  await waitFor(async () => ((await sql("postgres", "select 1")).trim() === "1" ? true : undefined), {
    what: `PostgreSQL on 127.0.0.1:${options.port}`,
    timeoutMs: 60_000,
    abortIf: () => (server.exitInfo() ? `postgres exited; see ${server.logFile}` : undefined),
  });
  return {
    port: options.port,
    process: server,
    connectionUrl: (database) => `postgresql+psycopg2://postgres@127.0.0.1:${options.port}/${database}`,
    sql,
  };
}

function requireBinDir(): string {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error("PostgreSQL server not found under /usr/lib/postgresql/*/bin: install the Debian package postgresql");
  return bin;
}
