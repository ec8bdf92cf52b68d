/**
 * Shared by the OpenStack client's tests: credentials from the stack's
 * users, a dispatcher factory that records what went on the wire, and the
 * secret scan every provoked error goes through.
 */
import { Writable } from "node:stream";
import { inspect } from "node:util";
import type { Dispatcher } from "undici";
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import type { PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import type { DevStack } from "../../src/devstack/stack.js";
import { createDefaultDispatcher, OpenStackClient, type DispatcherFactory, type OpenStackClientOptions, type OpenStackEvent } from "../../src/openstack/index.js";
import { createLogger } from "../../src/runtime/logger.js";

export function openstackOf(stack: DevStack): NonNullable<DevStack["openstack"]> {
  if (stack.openstack === undefined) throw new Error("the stack was started without OpenStack");
  return stack.openstack;
}

export function passwordCredentials(user: PasswordCredentials, overrides: Record<string, string | undefined> = {}): ResolvedCredentials {
  const auth = {
    kind: "password" as const,
    authUrl: user.authUrl,
    username: user.username,
    password: user.password,
    projectName: user.projectName,
    userDomainName: user.userDomainName,
    projectDomainName: user.projectDomainName,
  };
  const merged: Record<string, string | undefined> = { ...auth, ...overrides };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return { auth: merged as unknown as ResolvedCredentials["auth"] };
}

export interface WireRequest {
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  /** Date.now() when the request was dispatched. */
  readonly at: number;
}

/**
 * A real undici pool per origin, as the client makes by default, with an
 * interceptor that records every request dispatched and the tokens it
 * carried: what reached the wire, independent of the client's own events.
 */
export class WireRecorder {
  readonly requests: WireRequest[] = [];
  readonly tokensSeen = new Set<string>();

  readonly factory: DispatcherFactory = (request) =>
    createDefaultDispatcher(request).compose((dispatch) => (options: Dispatcher.DispatchOptions, handler) => {
      this.requests.push({ origin: String(options.origin ?? request.origin), method: options.method, path: options.path, at: Date.now() });
      const headers = options.headers as Record<string, string> | null | undefined;
      const token = headers?.["x-auth-token"];
      if (typeof token === "string") this.tokensSeen.add(token);
      return dispatch(options, handler);
    });

  count(method: string, pathPattern: RegExp): number {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path)).length;
  }

  reset(): void {
    this.requests.length = 0;
  }
}

export const AUTH_PATH = /\/auth\/tokens$/;
export const TYPES_PATH = /\/types$/;
export const TYPES_ALL_PATH = /\/types\?is_public=None$/;
export const DEFAULT_TYPE_PATH = /\/types\/default$/;
export const VOLUMES_PATH = /\/volumes\/detail\?/;

/**
 * Fails the test when any of `secrets` shows up anywhere in `value`: its
 * JSON form and a full-depth inspection with hidden properties (which walks
 * `cause` chains and non-enumerable fields).
 */
export function findSecrets(value: unknown, secrets: Iterable<string>): string[] {
  const rendered = [safeStringify(value), inspect(value, { depth: Infinity, showHidden: true, getters: true })].join("\n");
  const leaks: string[] = [];
  for (const secret of secrets) if (secret.length > 0 && rendered.includes(secret)) leaks.push(`${secret.slice(0, 6)}…`);
  return leaks;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack, cause: (v as { cause?: unknown }).cause } : v)) ?? "";
  } catch (error) {
    return `unserializable: ${String(error)}`;
  }
}

/** A writable that keeps everything a pino logger writes, to scan the log lines. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.lines.push(chunk.toString("utf8"));
    callback();
  }
  get text(): string {
    return this.lines.join("");
  }
}

let counter = 0;
export const unique = (prefix: string): string => `${prefix}-${process.pid}-${++counter}`;

/** Lifts the project's Cinder quotas (10 volumes by default), so tests can create many volume records. */
export async function liftVolumeQuota(stack: DevStack, projectId: string): Promise<void> {
  const openstack = openstackOf(stack);
  const admin = await openstack.admin.token();
  const url = `${openstack.cinderUrl}/v3/${admin.projectId}/os-quota-sets/${projectId}`;
  const response = await fetch(url, {
    method: "PUT",
    headers: { "x-auth-token": admin.token, "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ quota_set: { volumes: -1, gigabytes: -1 } }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`PUT ${url} answered ${response.status}: ${text.slice(0, 300)}`);
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
}

/** Removes a Keystone service (the admin helper has no such call), so a test leaves the catalog as it found it. */
export async function deleteService(stack: DevStack, serviceId: string): Promise<void> {
  const openstack = openstackOf(stack);
  const admin = await openstack.admin.token();
  const url = `${openstack.keystoneUrl}/services/${serviceId}`;
  const response = await fetch(url, { method: "DELETE", headers: { "x-auth-token": admin.token }, signal: AbortSignal.timeout(30_000) });
  if (!response.ok && response.status !== 404) throw new Error(`DELETE ${url} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
}

/**
 * A client whose every request is recorded on the wire and every event
 * kept, logging into `sink`; the recorder and the client are added to the
 * test file's lists, so its hooks scan them and close the clients.
 */
export function recordingClient(
  options: Partial<OpenStackClientOptions>,
  into: { readonly recorders: WireRecorder[]; readonly clients: OpenStackClient[]; readonly sink: LogSink },
): { client: OpenStackClient; events: OpenStackEvent[]; wire: WireRecorder } {
  const events: OpenStackEvent[] = [];
  const wire = new WireRecorder();
  into.recorders.push(wire);
  const client = new OpenStackClient({
    dispatcherFactory: wire.factory,
    logger: createLogger({ level: "trace", destination: into.sink }),
    backoff: { baseMs: 20, maxMs: 200 },
    observer: (event) => events.push(event),
    ...options,
  });
  into.clients.push(client);
  return { client, events, wire };
}
