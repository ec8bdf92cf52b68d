import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { SYSTEM_PATH } from "./system-packages.js";

export interface UwsgiApp {
  readonly name: string;
  readonly directory: string;
  readonly port: number;
  readonly wsgiFile: string;
  /** sys.argv[1:] for the application (Cinder reads --config-file from it). */
  readonly pythonArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Worker processes; default 1. */
  readonly processes?: number;
  /** Further `key = value` lines for the [uwsgi] section. */
  readonly settings?: readonly string[];
  /** Runs uwsgi through another program, e.g. inPrivateMounts (src/devstack/mount-namespace.ts). */
  readonly launch?: (command: string, args: readonly string[]) => { command: string; args: string[] };
  /** Worker threads (default 16). */
  readonly threads?: number;
}

/**
 * What Debian's own uWSGI files for Keystone, Cinder and Glance
 * (/etc/keystone/keystone-uwsgi.ini, /etc/cinder/cinder-api-uwsgi.ini,
 * /etc/glance/glance-api-uwsgi.ini) all set, and devstack too: each worker
 * loads the application itself after the fork (`lazy-apps`), so no worker
 * inherits the master's file descriptors, database connections or locks
 * taken while the application loaded; native threads; one worker at a time
 * in accept(); workers that die with their master. Loading the application
 * in the master and forking it is not how these services run in production.
 */
export const PRODUCTION_UWSGI_SETTINGS: readonly string[] = ["lazy-apps = true", "enable-threads = true", "thunder-lock = true", "no-orphans = true"];

/**
 * Serves an OpenStack WSGI application with uWSGI on 127.0.0.1, with
 * HTTP/1.1 keep-alive (plain `http-socket` closes connections in a way that
 * python-requests and undici report as resets).
 */
export async function startUwsgi(supervisor: ProcessSupervisor, app: UwsgiApp): Promise<ManagedProcess> {
  const iniFile = join(app.directory, `${app.name}-uwsgi.ini`);
  const lines = [
    "[uwsgi]",
    "plugins = python3",
    `http11-socket = 127.0.0.1:${app.port}`,
    `wsgi-file = ${app.wsgiFile}`,
    "master = true",
    `processes = ${app.processes ?? 1}`,
    // With http11-socket a kept-alive client holds a thread until the socket
    // times out (about 4 s idle): with 4 threads, an operator, a fault proxy,
    // Cinder's and Glance's auth middleware and a test were enough to make
    // new clients wait 4 s for a thread. Production runs many more workers.
    `threads = ${app.threads ?? 16}`,
    "need-app = true",
    "die-on-term = true",
    "buffer-size = 65535",
    "disable-logging = false",
    "log-date = true",
    ...(app.pythonArgs ? [`pyargv = ${app.pythonArgs.join(" ")}`] : []),
    ...Object.entries(app.env ?? {}).map(([key, value]) => `env = ${key}=${value}`),
    ...(app.settings ?? []),
    "",
  ];
  await writeFile(iniFile, lines.join("\n"));
  const command = "/usr/bin/uwsgi-core";
  const args = ["--ini", iniFile];
  return supervisor.start({
    name: app.name,
    ...(app.launch ? app.launch(command, args) : { command, args }),
    env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8", HOME: app.directory },
  });
}
