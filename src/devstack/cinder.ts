import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keystoneAuthtokenSection, waitForHttp } from "./keystone.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { PRODUCTION_UWSGI_SETTINGS, startUwsgi } from "./uwsgi.js";

export interface CinderLayout {
  readonly directory: string;
  readonly databaseUrl: string;
  readonly keystoneUrl: string;
  readonly serviceUser: { readonly username: string; readonly password: string };
}

export function cinderConfigFile(layout: CinderLayout): string {
  return join(layout.directory, "cinder.conf");
}

/**
 * Cinder API alone: volume types, volume records and quotas work; with the
 * `fake://` transport nothing schedules, so new volumes stay `creating`.
 */
export async function writeCinderConfig(layout: CinderLayout): Promise<string> {
  await mkdir(join(layout.directory, "lock"), { recursive: true });
  const file = cinderConfigFile(layout);
  await writeFile(
    file,
    [
      "[DEFAULT]",
      "auth_strategy = keystone",
      "transport_url = fake://",
      "use_stderr = true",
      `state_path = ${layout.directory}`,
      "enabled_backends =",
      "[database]",
      `connection = ${layout.databaseUrl}`,
      ...keystoneAuthtokenSection(layout.keystoneUrl, layout.serviceUser),
      "[oslo_concurrency]",
      `lock_path = ${join(layout.directory, "lock")}`,
      "",
    ].join("\n"),
  );
  return file;
}

export async function startCinderApi(options: {
  readonly supervisor: ProcessSupervisor;
  readonly layout: CinderLayout;
  readonly port: number;
  readonly name?: string;
}): Promise<ManagedProcess> {
  const configFile = await writeCinderConfig(options.layout);
  const cinder = await startUwsgi(options.supervisor, {
    name: options.name ?? "cinder-api",
    directory: options.layout.directory,
    port: options.port,
    wsgiFile: "/usr/bin/cinder-wsgi",
    pythonArgs: ["--config-file", configFile],
    settings: PRODUCTION_UWSGI_SETTINGS,
  });
  await waitForHttp(`http://127.0.0.1:${options.port}/`, cinder, 120_000);
  return cinder;
}
