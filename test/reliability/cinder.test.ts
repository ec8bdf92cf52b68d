/**
 * Cinder faults. The operator (and glance_store) find Cinder in the
 * Keystone catalog: the public volumev3 endpoint of the store's region. The
 * stores here name `FaultRegion`, whose endpoint is a fault proxy in front of
 * the real cinder-api, so only their path to Cinder misbehaves: refused
 * (down), slower than the operator's 30 s request timeout, answering 500,
 * connections reset. During each, every (ConfigMap, Secret) pair the
 * apiserver held is checked with the real oslo.config and glance_store;
 * afterwards a real glance-api starts from the final pair.
 * docs/reliability.md has the table.
 */
import test from "ava";
import type { FaultMode, FaultProxy } from "../../src/devstack/fault-proxy.js";
import { condition, Findings, reasonOf, Reliability, seconds, scanThenStopAfterAll } from "./support.js";

const REGION = "FaultRegion";
let reliability: Reliability;
let cinderProxy: FaultProxy;

test.before(async () => {
  reliability = await Reliability.start();
  cinderProxy = await reliability.cinderRegion(REGION);
  await reliability.startOperator({ name: "operator-cinder" });
});

scanThenStopAfterAll(() => reliability);

const faults: { title: string; target: string; mode: FaultMode; reasons: string[]; timeoutMs: number }[] = [
  { title: "Cinder down (connections refused)", target: "cinder-down", mode: { kind: "refuse" }, reasons: ["Unreachable"], timeoutMs: 30_000 },
  { title: "Cinder answers 500", target: "cinder-500", mode: { kind: "status", status: 500 }, reasons: ["Unexpected", "Unreachable"], timeoutMs: 30_000 },
  { title: "Cinder resets every connection", target: "cinder-reset", mode: { kind: "reset" }, reasons: ["Unreachable"], timeoutMs: 30_000 },
  // Each chunk of an answer held 40 s: longer than the operator's 30 s request timeout. Requests reach Cinder at once
  // (delaying them too lets cinder-api close the idle connection, which the client then sees as a reset, not as slowness).
  { title: "Cinder slow (answers held 40 s, past the operator's 30 s timeout)", target: "cinder-slow", mode: { kind: "delay", chunkMs: 40_000, direction: "responses" }, reasons: ["Timeout"], timeoutMs: 75_000 },
];

for (const fault of faults) {
  test.serial(`${fault.title}: rendered stores stay rendered byte for byte, turn Ready=False (KeptLastGood) and come back Ready`, async (t) => {
    const f = new Findings(t);
    const { recorder, before, names } = await reliability.twoReadyStores(fault.target, { regionName: REGION });
    await f.step(fault.title, async () => {
      const startedAt = Date.now();
      await cinderProxy.setMode(fault.mode);
      try {
        await reliability.waitNotReady(f, names, fault.timeoutMs, fault.reasons);
        f.log(`not Ready ${seconds(startedAt)} s into the fault`);
        for (const name of names) {
          const store = await reliability.e2e.getStore(name);
          f.check(condition(store, "CredentialsValid")?.status === "True", `${name}: CredentialsValid is ${reasonOf(store, "CredentialsValid")} although Keystone answers`);
          f.check(condition(store, "VolumeTypeAvailable")?.status !== "False", `${name}: VolumeTypeAvailable is ${reasonOf(store, "VolumeTypeAvailable")}: Cinder could not be asked, nothing says the type is gone`);
        }
        f.equal(await reliability.e2e.renderedFiles(fault.target), before, "the rendered files during the fault");
      } finally {
        await cinderProxy.setMode({ kind: "pass" });
      }
    });
    const endedAt = Date.now();
    await f.step("Cinder well again", () => reliability.recoverReady(f, names, endedAt));
    f.equal(await reliability.e2e.renderedFiles(fault.target), before, "the rendered files after the fault");
    await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [reliability.openstack.glanceCredentials] });
    f.check(recorder.pairs().states.length === 1, `the pair was written ${recorder.pairs().states.length - 1} time(s) during the fault`);
    await reliability.checkGlanceStarts(f, fault.target, ["a", "b"], "a");
    f.assert();
  });
}
