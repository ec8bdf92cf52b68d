import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultCacheDir, ensureDevBinaries, type DevBinaries } from "./binaries.js";
import type { KeystoneLockout } from "./keystone.js";
import { startKube, type KubeCluster } from "./kube.js";
import { startOpenStack, type OpenStackServices } from "./openstack.js";
import { PortAllocator } from "./ports.js";
import { ProcessSupervisor } from "./processes.js";

export interface DevStackOptions {
  /** kube-apiserver and etcd (default true). */
  readonly kube?: boolean;
  /** PostgreSQL, Keystone and Cinder API; Glance on demand (default true). */
  readonly openstack?: boolean;
  readonly cacheDir?: string;
  /** Where the stack keeps its state; a new folder under the OS temp dir by default. */
  readonly stateDir?: string;
  readonly tokenExpirationSeconds?: number;
  /** Keystone `[security_compliance]` lockout: on by default (3 failures, 30 min), as in production; false turns it off. */
  readonly keystoneLockout?: KeystoneLockout | false;
  readonly log?: (message: string) => void;
  /** Keep the state folder (logs, configs) after stop, for a person to read. */
  readonly keepState?: boolean;
}

export interface DevStack {
  readonly directory: string;
  readonly kube: KubeCluster | undefined;
  readonly openstack: OpenStackServices | undefined;
  readonly binaries: DevBinaries | undefined;
  readonly supervisor: ProcessSupervisor;
  readonly ports: PortAllocator;
  /** Stops every process it started, by pid, and frees its ports. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Brings up the local development stack: everything the operator talks to,
 * real and on 127.0.0.1. Processes are tracked by pid and stopped by `stop()`,
 * by an exit hook, or by a detached guardian if this process is killed.
 */
export async function startDevStack(options: DevStackOptions = {}): Promise<DevStack> {
  const log = options.log ?? (() => {});
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const directory = options.stateDir ?? (await mkdtemp(join(tmpdir(), "gso-stack-")));
  await mkdir(directory, { recursive: true });
  // OpenStack's PostgreSQL runs as another user and must reach its data inside.
  await chmod(directory, 0o755);
  const supervisor = new ProcessSupervisor(directory);
  const ports = new PortAllocator({
    onReserve: (path) => supervisor.trackPortReservation(path),
    onRelease: (path) => supervisor.untrackPortReservation(path),
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await supervisor.stopAll();
    ports.releaseAll();
    if (!options.keepState && process.env["GSO_KEEP_STACK"] !== "1") await rm(directory, { recursive: true, force: true });
  };
  try {
    const wantKube = options.kube ?? true;
    const wantOpenStack = options.openstack ?? true;
    const binaries = wantKube ? await ensureDevBinaries({ cacheDir, log }) : undefined;
    // Started one after the other: both are CPU-bound at start-up and the machine has two cores.
    const kube = binaries ? await startKube({ directory: join(directory, "kube"), supervisor, ports, binaries }) : undefined;
    const openstack = wantOpenStack
      ? await startOpenStack({
          directory: join(directory, "openstack"),
          supervisor,
          ports,
          cacheDir,
          log,
          ...(options.tokenExpirationSeconds === undefined ? {} : { tokenExpirationSeconds: options.tokenExpirationSeconds }),
          ...(options.keystoneLockout === undefined ? {} : { keystoneLockout: options.keystoneLockout }),
        })
      : undefined;
    return { directory, kube, openstack, binaries, supervisor, ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
