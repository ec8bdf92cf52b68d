import { copyFile, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { keystoneAuthtokenSection } from "./keystone.js";
import { inPrivateMounts } from "./mount-namespace.js";
import { issueToken, type PasswordCredentials } from "./openstack-admin.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { SYSTEM_PATH } from "./system-packages.js";
import { PRODUCTION_UWSGI_SETTINGS, startUwsgi } from "./uwsgi.js";
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
  readonly server: GlanceServer;
  /** The server itself (glance-api, or the uWSGI master): the leader of its process group. */
  readonly process: ManagedProcess;
  /** GET with an admin token; any status. */
  get(path: string): Promise<{ status: number; body: string }>;
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
    /** Its whole log. */
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

/** How glance-api serves HTTP: the `glance-api` program (eventlet), or `glance-wsgi-api` as a WSGI app under uWSGI. */
export type GlanceServer = "eventlet" | "wsgi";

export interface StartGlanceOptions {
  /** The operator's rendered files (the ConfigMap and Secret keys), as a folder of this machine. */
  readonly configDir: string;
  /** Default "eventlet". */
  readonly server?: GlanceServer;
  /**
   * Where glance-api finds `configDir`.
   *
   * Unset: passed as `--config-dir` (eventlet only), with one worker: how
   * the older tests start it.
   *
   * A path under /etc/glance: glance-api runs in a private mount namespace
   * (src/devstack/mount-namespace.ts) in which a prepared /etc/glance (the
   * machine's, with this stack's glance-api.conf) is mounted over
   * /etc/glance and `configDir` over this path, read-only, and it gets no
   * `--config-dir`: as in a pod that mounts the ConfigMap and Secret there.
   * GLANCE_CONF_DIR (src/render/glance-paths.ts) is where the docs say to
   * mount them. The WSGI server always needs one.
   */
  readonly mountPath?: string;
  /** eventlet workers or uWSGI processes. Default 1 with --config-dir, else 2: several, as production runs it. */
  readonly workers?: number;
  readonly name?: string;
  readonly timeoutMs?: number;
  /** A port of this stack's to listen on (default: a new one), e.g. to restart glance-api at the same URL. */
  readonly port?: number;
  /**
   * Sections and options added to the glance-api.conf the stack writes: the
   * main file, the part of a site's config the operator does not own, e.g.
   * `{ DEFAULT: { show_multiple_locations: "true" }, local: { filesystem_store_datadir: dir } }`
   * for a non-Cinder store of the site. Values are written as given (oslo.config
   * syntax, no quoting). An option the stack writes itself (bind_port,
   * [database] connection, ...) is refused rather than overridden.
   */
  readonly mainConfig?: GlanceMainConfig;
}

/** Section name -> option name -> value, in the order given. */
export type GlanceMainConfig = Readonly<Record<string, Readonly<Record<string, string>>>>;

const SECTION_NAME = /^[A-Za-z0-9_.:-]+$/;
const OPTION_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The stack's own lines of glance-api.conf (`[section]` and `key = value`
 * lines only) with `extra` merged in: options of a section the stack writes
 * go at the end of that section, new sections at the end of the file.
 * Throws on an option the stack sets itself, and on names or values that
 * would not stay one line of their own section.
 */
export function withMainConfig(baseLines: readonly string[], extra: GlanceMainConfig): string {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of baseLines) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      const name = header[1] ?? "";
      current = sections.get(name) ?? [];
      sections.set(name, current);
    } else if (current === undefined) {
      throw new Error(`a line before the first section: ${line}`);
    } else {
      current.push(line);
    }
  }
  for (const [section, options] of Object.entries(extra)) {
    if (!SECTION_NAME.test(section)) throw new Error(`not a section name mainConfig can write: ${JSON.stringify(section)}`);
    const lines = sections.get(section) ?? [];
    sections.set(section, lines);
    const taken = new Set(lines.map((line) => line.split("=")[0]?.trim()));
    for (const [name, value] of Object.entries(options)) {
      if (!OPTION_NAME.test(name)) throw new Error(`not an option name mainConfig can write: [${section}] ${JSON.stringify(name)}`);
      if (/[\r\n]/.test(value)) throw new Error(`a value of several lines: [${section}] ${name}`);
      if (taken.has(name)) throw new Error(`[${section}] ${name} is set by the stack itself; mainConfig only adds options`);
      taken.add(name);
      lines.push(`${name} = ${value}`);
    }
  }
  return `${[...sections].flatMap(([name, lines]) => [`[${name}]`, ...lines]).join("\n")}\n`;
}

/** glance-api's folder inside its mount namespace: glance-wsgi-api reads glance-api.conf and the paste file from there by default. */
const GLANCE_ETC = "/etc/glance";

/**
 * uWSGI settings for glance-wsgi-api beyond startUwsgi's own (master,
 * need-app, die-on-term, threads, buffer-size), taken from Debian's
 * /etc/glance/glance-api-uwsgi.ini: one app per worker, loaded after the
 * fork, and native threads for Glance's task pool. That file's
 * http-auto-chunked, http-chunked-input, http-raw-body and
 * wsgi-manage-chunked-input are left out: Debian 12's uWSGI 2.0.21 with
 * the python3 plugin does not know them (its command line refuses them, an
 * ini file ignores them). examples/glance-api-wsgi.yaml passes the same
 * settings; test/examples/examples.test.ts holds the two together.
 */
export const GLANCE_UWSGI_SETTINGS: readonly string[] = [...PRODUCTION_UWSGI_SETTINGS, "exit-on-reload = true"];

/**
 * Starts a real glance-api with the stack's base configuration plus the
 * rendered files of `configDir`, found the way `options.mountPath` says.
 * Resolves once it serves HTTP; rejects with GlanceStartError, carrying its
 * log, when it exits instead.
 */
export async function startGlanceApi(environment: GlanceEnvironment, options: StartGlanceOptions): Promise<GlanceApi> {
  instanceCounter += 1;
  const name = options.name ?? `glance-api-${instanceCounter}`;
  const server = options.server ?? "eventlet";
  const mountPath = options.mountPath;
  const insideEtc = mountPath === undefined ? undefined : relative(GLANCE_ETC, mountPath);
  if (insideEtc !== undefined && (!mountPath?.startsWith("/") || insideEtc === "" || insideEtc.startsWith(".."))) {
    throw new Error(`mountPath must be a folder under ${GLANCE_ETC}/: ${mountPath}`);
  }
  if (server === "wsgi" && mountPath === undefined) throw new Error("the WSGI glance-api takes no --config-dir: give a mountPath (GLANCE_CONF_DIR is the documented one)");
  const workers = options.workers ?? (mountPath === undefined ? 1 : 2);
  const directory = join(environment.directory, name);
  await Promise.all(["staging", "tasks", "lock"].map((sub) => mkdir(join(directory, sub), { recursive: true })));
  const port = options.port ?? (await environment.allocatePort());
  const baseConfig = withMainConfig([
    "[DEFAULT]",
    "bind_host = 127.0.0.1",
    `bind_port = ${port}`,
    `workers = ${workers}`,
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
  ], options.mainConfig ?? {});
  const env = { PATH: SYSTEM_PATH, LANG: "C.UTF-8", HOME: directory };

  let glance: ManagedProcess;
  if (mountPath === undefined) {
    const configFile = join(directory, "glance-api.conf");
    // glance-api looks for its paste file next to the first config file.
    await copyFile("/etc/glance/glance-api-paste.ini", join(directory, "glance-api-paste.ini"));
    await writeFile(configFile, baseConfig);
    glance = environment.supervisor.start({
      name,
      command: "/usr/bin/glance-api",
      args: ["--config-file", configFile, "--config-dir", options.configDir],
      env,
      cwd: directory,
    });
  } else {
    // What the container image would hold in /etc/glance: Debian's files (paste file, policies, import config) and the main config.
    const etc = join(directory, "etc-glance");
    await cp(GLANCE_ETC, etc, { recursive: true });
    await writeFile(join(etc, "glance-api.conf"), baseConfig);
    await mkdir(join(etc, insideEtc ?? ""), { recursive: true });
    const mounts = [
      { source: etc, target: GLANCE_ETC },
      { source: options.configDir, target: mountPath, readOnly: true },
    ];
    glance =
      server === "eventlet"
        ? environment.supervisor.start({
            name,
            ...inPrivateMounts(mounts, "/usr/bin/glance-api", ["--config-file", join(GLANCE_ETC, "glance-api.conf")]),
            env,
            cwd: directory,
          })
        : await startUwsgi(environment.supervisor, {
            name,
            directory,
            port,
            wsgiFile: "/usr/bin/glance-wsgi-api",
            processes: workers,
            settings: GLANCE_UWSGI_SETTINGS,
            // glance-wsgi-api reads glance-api.conf and the paste file from OS_GLANCE_CONFIG_DIR, /etc/glance by default.
            env: { OS_GLANCE_CONFIG_DIR: GLANCE_ETC },
            launch: (command, args) => inPrivateMounts(mounts, command, args),
          });
  }
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
    await glance.stop();
    // The whole log: uWSGI's workers print their own tracebacks and crashes after the one that says why.
    const log = await readFile(glance.logFile, "utf8").catch(() => "");
    const tail = log.split("\n").slice(-60).join("\n");
    throw new GlanceStartError(
      info ? `glance-api exited with code ${info.code} instead of starting; last lines of its log:\n${tail}` : `${(error as Error).message}\n${tail}`,
      info?.code ?? null,
      log,
    );
  }
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const { token } = await issueToken(environment.adminCredentials);
    const response = await fetch(`${url}${path}`, { headers: { "x-auth-token": token }, signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: await response.text() };
  };
  const readStores = async (path: string): Promise<GlanceStoreInfo[]> => {
    const { status, body } = await get(path);
    if (status < 200 || status > 299) throw new Error(`GET ${url}${path} answered ${status}: ${body.slice(0, 300)}`);
    return (JSON.parse(body) as { stores: GlanceStoreInfo[] }).stores;
  };
  return {
    url,
    server,
    process: glance,
    get,
    stores: () => readStores("/v2/info/stores"),
    storesDetail: () => readStores("/v2/info/stores/detail"),
    stop: async () => {
      await glance.stop();
    },
  };
}
