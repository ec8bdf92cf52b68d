import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { PRODUCTION_UWSGI_SETTINGS, startUwsgi } from "./uwsgi.js";
import { waitFor } from "./wait.js";

export interface KeystoneLayout {
  /** Holds keystone.conf, fernet-keys/ and credential-keys/. */
  readonly directory: string;
  readonly databaseUrl: string;
  readonly tokenExpirationSeconds?: number;
  /**
   * `[security_compliance]` lockout, as production Keystones run it (PCI-DSS):
   * a user is refused, even with the right password, for `durationSeconds`
   * after `failureAttempts` failed password authentications in a row.
   * Default DEFAULT_KEYSTONE_LOCKOUT; `false` turns it off.
   */
  readonly lockout?: KeystoneLockout | false;
}

export interface KeystoneLockout {
  readonly failureAttempts: number;
  readonly durationSeconds: number;
}

/** On by default in the dev stack, so that a client that retries a wrong password shows up in tests as it would in production. */
export const DEFAULT_KEYSTONE_LOCKOUT: KeystoneLockout = { failureAttempts: 3, durationSeconds: 1800 };

export function keystoneConfigFile(layout: KeystoneLayout): string {
  return join(layout.directory, "keystone.conf");
}

export async function writeKeystoneConfig(layout: KeystoneLayout): Promise<string> {
  await mkdir(layout.directory, { recursive: true });
  const file = keystoneConfigFile(layout);
  await writeFile(
    file,
    [
      "[DEFAULT]",
      "use_stderr = true",
      "[database]",
      `connection = ${layout.databaseUrl}`,
      "[fernet_tokens]",
      `key_repository = ${join(layout.directory, "fernet-keys")}`,
      "[fernet_receipts]",
      `key_repository = ${join(layout.directory, "fernet-keys")}`,
      "[credential]",
      `key_repository = ${join(layout.directory, "credential-keys")}`,
      "[token]",
      `expiration = ${layout.tokenExpirationSeconds ?? 3600}`,
      ...lockoutLines(layout.lockout === undefined ? DEFAULT_KEYSTONE_LOCKOUT : layout.lockout),
      "",
    ].join("\n"),
  );
  return file;
}

function lockoutLines(lockout: KeystoneLockout | false): string[] {
  if (lockout === false) return [];
  if (!Number.isInteger(lockout.failureAttempts) || lockout.failureAttempts < 1 || !Number.isInteger(lockout.durationSeconds) || lockout.durationSeconds < 1) {
    throw new RangeError(`Keystone lockout needs positive integers, got ${JSON.stringify(lockout)}`);
  }
  return ["[security_compliance]", `lockout_failure_attempts = ${lockout.failureAttempts}`, `lockout_duration = ${lockout.durationSeconds}`];
}

/** The [keystone_authtoken] section with which Cinder and Glance check the tokens they are given. */
export function keystoneAuthtokenSection(keystoneUrl: string, user: { readonly username: string; readonly password: string }): string[] {
  return [
    "[keystone_authtoken]",
    `www_authenticate_uri = ${keystoneUrl}`,
    `auth_url = ${keystoneUrl}`,
    "auth_type = password",
    `username = ${user.username}`,
    `password = ${user.password}`,
    "project_name = service",
    "user_domain_name = Default",
    "project_domain_name = Default",
    "service_token_roles_required = true",
  ];
}

/** Serves the Keystone public API and waits until it answers. */
export async function startKeystone(options: {
  readonly supervisor: ProcessSupervisor;
  readonly layout: KeystoneLayout;
  readonly port: number;
  readonly name?: string;
}): Promise<ManagedProcess> {
  const configFile = await writeKeystoneConfig(options.layout);
  const keystone = await startUwsgi(options.supervisor, {
    name: options.name ?? "keystone",
    directory: options.layout.directory,
    port: options.port,
    wsgiFile: "/usr/bin/keystone-wsgi-public",
    env: { OS_KEYSTONE_CONFIG_FILES: configFile },
    // Several workers, as production runs Keystone (Debian's file has 8): a
    // lockout counted by one worker must hold in the others (it is in the database).
    processes: 2,
    settings: PRODUCTION_UWSGI_SETTINGS,
  });
  await waitForHttp(`http://127.0.0.1:${options.port}/v3`, keystone, 120_000);
  return keystone;
}

/** Waits until a URL answers 2xx or 3xx, failing early when its server process exits. */
export async function waitForHttp(url: string, server: ManagedProcess, timeoutMs: number): Promise<void> {
  try {
    await waitFor(
      async () => {
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        return response.status < 400 ? true : undefined;
      },
      {
        what: `${server.name} at ${url}`,
        timeoutMs,
        abortIf: () => (server.exitInfo() ? `${server.name} exited (code ${server.exitInfo()?.code})` : undefined),
      },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- last lines of ${server.logFile} ---\n${await server.logTail(25)}`, { cause: error });
  }
}
