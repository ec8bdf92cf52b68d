import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keystoneAuthtokenSection } from "./keystone.js";
import { issueToken, type PasswordCredentials } from "./openstack-admin.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { SYSTEM_PATH } from "./system-packages.js";
import { waitFor } from "./wait.js";

export interface GlanceStoreInfo {
  readonly id: string;
  readonly description?: string;
  readonly default?: string;
  readonly type?: string;
  readonly properties?: Record<string, unknown>;
}

export interface GlanceApi {
  readonly url: string;
  readonly process: ManagedProcess;
  /** GET /v2/info/stores */
  stores(): Promise<GlanceStoreInfo[]>;
  /** GET /v2/info/stores/detail (admin): adds type and properties such as volume_type. */
  storesDetail(): Promise<GlanceStoreInfo[]>;
  stop(): Promise<void>;
}

/** glance-api exited instead of serving: the config was refused. */
export class GlanceStartError extends Error {
  override readonly name = "GlanceStartError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly log: string,
  ) {
    super(message);
  }
}

export interface GlanceEnvironment {
  readonly supervisor: ProcessSupervisor;
  readonly allocatePort: () => Promise<number>;
  /** Where this stack keeps Glance instances. */
  readonly directory: string;
  readonly databaseUrl: string;
  readonly keystoneUrl: string;
  readonly serviceUser: { readonly username: string; readonly password: string };
  /** Used to read /v2/info/stores (detail needs admin). */
  readonly adminCredentials: PasswordCredentials;
}

let instanceCounter = 0;

/**
 * Starts a real glance-api with the stack's base configuration plus
 * `configDir` (the operator's rendered files, as they would be mounted in
 * /etc/glance/glance-api.conf.d/). Resolves once it serves HTTP; rejects with
 * GlanceStartError, carrying its log, when it exits instead.
 */
export async function startGlanceApi(environment: GlanceEnvironment, options: { configDir: string; name?: string; timeoutMs?: number }): Promise<GlanceApi> {
  instanceCounter += 1;
  const name = options.name ?? `glance-api-${instanceCounter}`;
  const directory = join(environment.directory, name);
  await Promise.all(["staging", "tasks", "lock"].map((sub) => mkdir(join(directory, sub), { recursive: true })));
  const port = await environment.allocatePort();
  const configFile = join(directory, "glance-api.conf");
  // glance-api looks for its paste file next to the first config file.
  await copyFile("/etc/glance/glance-api-paste.ini", join(directory, "glance-api-paste.ini"));
  await writeFile(
    configFile,
    [
      "[DEFAULT]",
      "bind_host = 127.0.0.1",
      `bind_port = ${port}`,
      "workers = 1",
      "use_stderr = true",
      "[database]",
      `connection = ${environment.databaseUrl}`,
      ...keystoneAuthtokenSection(environment.keystoneUrl, environment.serviceUser),
      "[paste_deploy]",
      "flavor = keystone",
      "[os_glance_staging_store]",
      `filesystem_store_datadir = ${join(directory, "staging")}`,
      "[os_glance_tasks_store]",
      `filesystem_store_datadir = ${join(directory, "tasks")}`,
      "[oslo_concurrency]",
      `lock_path = ${join(directory, "lock")}`,
      "",
    ].join("\n"),
  );
  const glance = environment.supervisor.start({
    name,
    command: "/usr/bin/glance-api",
    args: ["--config-file", configFile, "--config-dir", options.configDir],
    env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8", HOME: directory },
    cwd: directory,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        return true;
      },
      {
        what: `${name} at ${url}`,
        timeoutMs: options.timeoutMs ?? 120_000,
        abortIf: () => (glance.exitInfo() ? "exited" : undefined),
      },
    );
  } catch (error) {
    const info = glance.exitInfo();
    const log = await glance.logTail(60);
    await glance.stop();
    throw new GlanceStartError(
      info ? `glance-api exited with code ${info.code} instead of starting; last lines of its log:\n${log}` : `${(error as Error).message}\n${log}`,
      info?.code ?? null,
      log,
    );
  }
  const readStores = async (path: string): Promise<GlanceStoreInfo[]> => {
    const { token } = await issueToken(environment.adminCredentials);
    const response = await fetch(`${url}${path}`, { headers: { "x-auth-token": token }, signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`GET ${url}${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return (JSON.parse(text) as { stores: GlanceStoreInfo[] }).stores;
  };
  return {
    url,
    process: glance,
    stores: () => readStores("/v2/info/stores"),
    storesDetail: () => readStores("/v2/info/stores/detail"),
    stop: async () => {
      await glance.stop();
    },
  };
}
