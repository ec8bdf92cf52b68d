/**
 * Run by the test command before ava: installs the OpenStack and container packages, builds
 * (or finds cached) kube-apiserver, etcd, kubectl and helm, fetches the
 * third-party CRDs the manifests use, and builds the OpenStack seed databases,
 * once, so parallel test files only start processes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultCacheDir, ensureDevBinaries } from "../../src/devstack/binaries.js";
import { ensureOpenStackSeed } from "../../src/devstack/openstack-seed.js";
import { ensureThirdPartyCrds } from "../../src/devstack/third-party-crds.js";
import { PortAllocator } from "../../src/devstack/ports.js";
import { ensureContainerPackages, ensureOpenStackPackages } from "../../src/devstack/system-packages.js";

const log = (message: string): void => {
  process.stderr.write(`[prepare] ${message}\n`);
};

const t0 = Date.now();
const cacheDir = defaultCacheDir();
await ensureOpenStackPackages(log);
// podman, runc and mmdebstrap, for test/image/ (which builds the image itself, cached by content).
await ensureContainerPackages(log);
const binaries = await ensureDevBinaries({ cacheDir, log });
log(`binaries: ${JSON.stringify(binaries)}`);
await ensureThirdPartyCrds({ cacheDir, log });
const scratch = await mkdtemp(join(tmpdir(), "gso-prepare-"));
const ports = new PortAllocator();
try {
  await ensureOpenStackSeed({ cacheDir, ports, log });
} finally {
  ports.releaseAll();
  await rm(scratch, { recursive: true, force: true });
}
log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (cache: ${cacheDir})`);
