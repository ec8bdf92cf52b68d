/**
 * What a check round costs against the real Keystone and Cinder of the local
 * stack, as ratios to a one-store round measured in the same run:
 *  - shared:   50 stores with one credential set in one round (the operator's way);
 *  - per-store: the same 50 stores each checked by a fresh client, as a
 *               checker without a token cache or round grouping would.
 * Run: npx tsc -p . && node dist/bench/openstack-round.js [--stores 50] [--runs 5]
 */
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import type { ResolvedCredentials } from "../src/api/credentials.js";
import { startDevStack } from "../src/devstack/stack.js";
import { OpenStackClient, type StoreCheckRequest } from "../src/openstack/index.js";

const { values } = parseArgs({ options: { stores: { type: "string", default: "50" }, runs: { type: "string", default: "5" } } });
const storeCount = Number(values.stores);
const runs = Number(values.runs);

const stack = await startDevStack({ kube: false });
try {
  const openstack = stack.openstack!;
  const glance = openstack.glanceCredentials;
  const credentials: ResolvedCredentials = {
    auth: { kind: "password", authUrl: glance.authUrl, username: glance.username, password: glance.password, projectName: glance.projectName, userDomainName: "Default", projectDomainName: "Default" },
  };
  const types = [];
  for (let i = 0; i < storeCount; i++) types.push((await openstack.admin.createVolumeType(`bench-${i}`)).name);
  const requests: StoreCheckRequest[] = types.map((volumeType, i) => ({ key: `s${i}`, credentials, volumeType }));

  const time = async (work: () => Promise<void>): Promise<number> => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const fresh = async (batch: StoreCheckRequest[]): Promise<void> => {
    const client = new OpenStackClient();
    const results = await client.checkStores(batch);
    await client.close();
    for (const result of results.values()) if (!result.ok) throw new Error(result.error.message);
  };

  // Warm Keystone's and Cinder's own caches and Python imports first.
  await fresh(requests);
  const baseline: number[] = [];
  const shared: number[] = [];
  const perStore: number[] = [];
  for (let run = 0; run < runs; run++) {
    baseline.push(await time(() => fresh(requests.slice(0, 1))));
    shared.push(await time(() => fresh(requests)));
    perStore.push(await time(async () => {
      for (const request of requests) await fresh([request]);
    }));
  }
  const b = median(baseline);
  const report = {
    stores: storeCount,
    runs,
    medianMs: { oneStoreRound: Math.round(b), sharedRound: Math.round(median(shared)), perStoreChecks: Math.round(median(perStore)) },
    ratioToOneStore: { sharedRound: Number((median(shared) / b).toFixed(2)), perStoreChecks: Number((median(perStore) / b).toFixed(2)) },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await stack.stop();
}
