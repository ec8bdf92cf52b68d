/**
 * Keystone faults, with Keystone configured as production ones are
 * (lockout after 3 failed passwords, for 30 minutes) and short tokens (20 s,
 * so the operator must authenticate again within seconds of any fault):
 * - lockout: a wrong password over many re-check periods never locks the
 *   user, whether the store is new and then fixed, or the user is shared by
 *   stores that run;
 * - Keystone stopped, slow, and answering 500 (the last two through a fault
 *   proxy the credentials Secret's authUrl points at).
 * During each, every (ConfigMap, Secret) pair the apiserver held is checked
 * with the real oslo.config and glance_store; afterwards a real glance-api
 * starts from the final pair. docs/reliability.md has the table.
 */
import test from "ava";
import { issueToken } from "../../src/devstack/openstack-admin.js";
import type { FaultProxy } from "../../src/devstack/fault-proxy.js";
import { waitFor } from "../../src/devstack/wait.js";
import { condition, Findings, readyLapses, reasonOf, Reliability, seconds, type StartedOperator, scanThenStopAfterAll } from "./support.js";

let reliability: Reliability;
let operator: StartedOperator;
/** In front of Keystone; stores whose Secret is `via-proxy` authenticate through it. */
let keystoneProxy: FaultProxy;

test.before(async () => {
  reliability = await Reliability.start({ tokenExpirationSeconds: 20 });
  keystoneProxy = await reliability.proxy(reliability.openstack.keystone.port);
  await reliability.putSecret("via-proxy", viaProxy());
  operator = await reliability.startOperator({ name: "operator-keystone" });
});

scanThenStopAfterAll(() => reliability);

function viaProxy() {
  return { ...reliability.openstack.glanceCredentials, authUrl: `${keystoneProxy.url}/v3` };
}

const lockout = () => {
  const configured = reliability.openstack.keystoneLockout;
  if (configured === false) throw new Error("this file needs Keystone's lockout on");
  return configured;
};

test.serial("lockout: a new store with a wrong password, for several re-check periods, never locks its user and is Ready within seconds of the fix", async (t) => {
  const f = new Findings(t);
  const target = "lockout-fix";
  const user = await reliability.throwawayUser("lf");
  const wrong = reliability.wrongPassword("lockout-fix");
  await reliability.putSecret("lockout-fix-creds", { ...user.credentials, password: wrong });
  await reliability.e2e.apply(reliability.e2e.store("lf-base", { target, storeId: "base", volumeType: await reliability.volumeType("lf-base"), default: true }));
  await reliability.waitReady("lf-base");
  const recorder = await reliability.recordPairs(target);
  const since = Date.now();
  await reliability.e2e.apply(reliability.e2e.store("lf-new", { target, storeId: "new", volumeType: await reliability.volumeType("lf-new"), credentialsSecretRef: { name: "lockout-fix-creds" } }));

  await f.step("the wrong password, over several re-check periods", async () => {
    const refused = await reliability.e2e.waitForStore("lf-new", "AuthFailed", (s) => condition(s, "CredentialsValid")?.reason === "AuthFailed", 30_000);
    f.check(refused.status?.rendered === false, "the store with a wrong password is not rendered");
    await reliability.waitRecheckPeriods(operator, 5, await reliability.targetCount());
    const failures = await reliability.openstack.failedAuthCount(user.credentials.username);
    f.log(`failed authentications of ${user.credentials.username} after 5 re-check periods: ${failures} (lockout after ${lockout().failureAttempts})`);
    f.check((failures ?? 0) <= 1, `the operator tried the refused password ${failures} times in a row over 5 re-check periods (at most 1 allowed; Keystone locks the user at ${lockout().failureAttempts})`);
  });
  await f.step("the status and kubectl describe say it is refused, held off, and until when", async () => {
    const store = await reliability.e2e.getStore("lf-new");
    const message = condition(store, "CredentialsValid")?.message ?? "";
    f.check(/holds these credentials off until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/.test(message) && /lockout/.test(message), `the condition says why and until when: ${message}`);
    const record = store?.status?.credentialsRefusal;
    f.check(record?.secretName === "lockout-fix-creds" && record.retryAt !== undefined && message.includes(record.retryAt), `status.credentialsRefusal: ${JSON.stringify(record)}`);
    const described = (await reliability.e2e.kube.kubectl(["describe", "glancestore", "-n", "openstack", "lf-new"])).stdout;
    f.check(described.includes("holds these credentials off until") && described.includes("Credentials Refusal"), "kubectl describe shows the hold");
    const metrics = await operator.metrics();
    f.check(/^glance_store_operator_keystone_refusals_total [1-9]/m.test(metrics), "the refusal is counted");
    f.check(/^glance_store_operator_keystone_auth_held_total [1-9]/m.test(metrics), "the held requests are counted");
    f.check(/^glance_store_operator_credentials_refused_stores\{target="openstack\/lockout-fix"\} 1$/m.test(metrics), "the gauge the GlanceStoreCredentialsRefused alert reads counts the store");
  });
  const fixedAt = Date.now();
  await f.step("the password fixed", async () => {
    await reliability.putSecret("lockout-fix-creds", user.credentials);
    await reliability.waitReady("lf-new", 30_000);
    const took = Date.now() - fixedAt;
    f.log(`Ready ${(took / 1000).toFixed(1)} s after the fix`);
    f.check(took <= 10_000, `Ready only ${(took / 1000).toFixed(1)} s after the Secret was fixed (at most 10 s)`);
  });
  f.check(readyLapses(reliability, ["lf-base"], since).length === 0, `lf-base lapsed: ${readyLapses(reliability, ["lf-base"], since).join("; ")}`);
  await reliability.checkPairs(f, recorder, { mustKeep: ["base"], mustNotHold: ["new"], validCredentials: [reliability.openstack.glanceCredentials], to: fixedAt });
  await reliability.checkPairs(f, recorder, { mustKeep: ["base"], validCredentials: [reliability.openstack.glanceCredentials, user.credentials], from: fixedAt });
  await reliability.checkGlanceStarts(f, target, ["base", "new"], "base");
  f.assert();
});

test.serial("lockout across a restart: a new operator process holds off the credentials the previous one saw refused (the status remembers)", async (t) => {
  const f = new Findings(t);
  const target = "lockout-restart";
  const user = await reliability.throwawayUser("lr");
  const wrong = reliability.wrongPassword("lockout-restart");
  await reliability.putSecret("lockout-restart-creds", { ...user.credentials, password: wrong });
  await reliability.e2e.apply(reliability.e2e.store("lr-base", { target, storeId: "base", volumeType: await reliability.volumeType("lr-base"), default: true }));
  await reliability.e2e.apply(reliability.e2e.store("lr-new", { target, storeId: "new", volumeType: await reliability.volumeType("lr-new"), credentialsSecretRef: { name: "lockout-restart-creds" } }));
  const refused = await reliability.e2e.waitForStore("lr-new", "refusal recorded", (s) => s.status?.credentialsRefusal !== undefined, 30_000);
  const retryAt = refused.status?.credentialsRefusal?.retryAt;
  f.check((await reliability.openstack.failedAuthCount(user.credentials.username)) === 1, "one refusal");
  await f.step("the operator killed and a new one started", async () => {
    operator.process.signal("SIGKILL");
    await waitFor(() => (operator.process.exitInfo() !== undefined ? true : undefined), { what: "the operator to die", timeoutMs: 10_000 });
    operator = await reliability.startOperator({ name: "operator-keystone-2" });
    await reliability.waitRecheckPeriods(operator, 4, await reliability.targetCount());
  });
  const failures = await reliability.openstack.failedAuthCount(user.credentials.username);
  f.log(`failed authentications of ${user.credentials.username} across the restart and 4 re-check periods: ${failures}`);
  f.check(failures === 1, `the new operator sent the refused password again: ${failures} failures`);
  const after = await reliability.e2e.getStore("lr-new");
  f.check(after?.status?.credentialsRefusal?.retryAt === retryAt, `the same hold: ${JSON.stringify(after?.status?.credentialsRefusal)} (was until ${retryAt})`);
  const metrics = await operator.metrics();
  f.check(/^glance_store_operator_keystone_auth_held_total [1-9]/m.test(metrics), "the new operator held the request off");
  f.check(/^glance_store_operator_credentials_refused_stores\{target="openstack\/lockout-restart"\} 1$/m.test(metrics), "the new operator counts the store (the GlanceStoreCredentialsRefused alert stays on across the restart)");
  await f.step("the password fixed", async () => {
    const fixedAt = Date.now();
    await reliability.putSecret("lockout-restart-creds", user.credentials);
    await reliability.waitReady("lr-new", 30_000);
    f.log(`Ready ${seconds(fixedAt)} s after the fix`);
    const cleared = await waitFor(async () => (/^glance_store_operator_credentials_refused_stores\{target="openstack\/lockout-restart"\} 0$/m.test(await operator.metrics()) ? true : undefined), {
      what: "the refused-credentials count back to 0",
      timeoutMs: 10_000,
    }).catch(() => false);
    f.check(cleared, "the count drops to 0 once the fixed Secret was accepted");
  });
  f.assert();
});

test.serial("lockout: a wrong password for a user other stores run with never locks it; their stores stay Ready and a fresh glance-api starts", async (t) => {
  const f = new Findings(t);
  const target = "lockout-shared";
  const user = await reliability.throwawayUser("ls");
  const wrong = reliability.wrongPassword("lockout-shared");
  await reliability.putSecret("lockout-shared-good", user.credentials);
  await reliability.putSecret("lockout-shared-bad", { ...user.credentials, password: wrong });
  await reliability.e2e.apply(reliability.e2e.store("ls-a", { target, storeId: "a", volumeType: await reliability.volumeType("ls-a"), default: true, credentialsSecretRef: { name: "lockout-shared-good" } }));
  await reliability.e2e.apply(reliability.e2e.store("ls-b", { target, storeId: "b", volumeType: await reliability.volumeType("ls-b"), credentialsSecretRef: { name: "lockout-shared-good" } }));
  await reliability.waitReady("ls-a");
  await reliability.waitReady("ls-b");
  const recorder = await reliability.recordPairs(target);
  const since = Date.now();
  await reliability.e2e.apply(reliability.e2e.store("ls-c", { target, storeId: "c", volumeType: await reliability.volumeType("ls-c"), credentialsSecretRef: { name: "lockout-shared-bad" } }));

  await f.step("the wrong password next to the right one, over several re-check periods and token lifetimes", async () => {
    await reliability.e2e.waitForStore("ls-c", "AuthFailed", (s) => condition(s, "CredentialsValid")?.reason === "AuthFailed", 30_000);
    // 6 periods of 3 s outlast the operator's 20 s tokens (renewed 10 s before expiry): it authenticates the good set again meanwhile.
    await reliability.waitRecheckPeriods(operator, 6, await reliability.targetCount());
    const failures = await reliability.openstack.failedAuthCount(user.credentials.username);
    f.log(`failed authentications of ${user.credentials.username} after 6 re-check periods: ${failures}`);
    f.check((failures ?? 0) <= 1, `the operator tried the refused password ${failures} times in a row over 6 re-check periods (at most 1 allowed; Keystone locks the user at ${lockout().failureAttempts})`);
    await reliability.storesCaughtUp();
    const lapses = readyLapses(reliability, ["ls-a", "ls-b"], since);
    f.check(lapses.length === 0, `the stores that use the right password stopped being Ready: ${lapses.slice(0, 4).join("; ")}`);
    const c = await reliability.e2e.getStore("ls-c");
    f.check(c?.status?.rendered === false && condition(c, "CredentialsValid")?.reason === "AuthFailed", `ls-c: rendered ${c?.status?.rendered}, CredentialsValid ${reasonOf(c, "CredentialsValid")}`);
  });
  await f.step("the user still authenticates", async () => {
    await issueToken(user.credentials);
  });
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], mustNotHold: ["c"], validCredentials: [user.credentials] });
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});

test.serial("Keystone stopped: rendered stores stay rendered byte for byte, turn Ready=False (KeptLastGood) and come back Ready", async (t) => {
  const f = new Findings(t);
  const target = "keystone-down";
  const { recorder, before, names } = await reliability.twoReadyStores(target);
  const keystone = reliability.openstack.keystone;
  await f.step("Keystone stopped", async () => {
    const stoppedAt = Date.now();
    await keystone.stop();
    try {
      // Tokens last 20 s and are renewed 10 s before expiry: the operator needs Keystone within about 10 s.
      await reliability.waitNotReady(f, names, 60_000, ["Unreachable", "Timeout"]);
      f.log(`not Ready ${seconds(stoppedAt)} s after Keystone stopped`);
      f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files while Keystone is down");
    } finally {
      await keystone.start();
    }
  });
  const endedAt = Date.now();
  await f.step("Keystone back", () => reliability.recoverReady(f, names, endedAt));
  f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files after the outage");
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [reliability.openstack.glanceCredentials] });
  f.check(recorder.pairs().states.length === 1, `the pair was written ${recorder.pairs().states.length - 1} time(s) during the outage`);
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});

test.serial("Keystone slow (each chunk held 2.5 s, within the operator's 30 s timeout): stores stay Ready, nothing is rewritten", async (t) => {
  const f = new Findings(t);
  const target = "keystone-slow";
  const { recorder, before, names } = await reliability.twoReadyStores(target, { credentialsSecretRef: { name: "via-proxy" } });
  const since = Date.now();
  await f.step("Keystone slow", async () => {
    const base = keystoneProxy.stats().bytesFromTarget;
    await keystoneProxy.setMode({ kind: "delay", chunkMs: 2_500 });
    try {
      // A token issued through the slow path proves the operator met the slowness, not only the clock.
      await waitFor(() => (keystoneProxy.stats().bytesFromTarget - base > 1_000 ? true : undefined), { what: "a token issued through the slow proxy", timeoutMs: 60_000, intervalMs: 250 });
      f.log(`a token came through the slow Keystone ${seconds(since)} s into the fault`);
      await reliability.waitRecheckPeriods(operator, 2, await reliability.targetCount());
    } finally {
      await keystoneProxy.setMode({ kind: "pass" });
    }
  });
  await reliability.storesCaughtUp();
  const lapses = readyLapses(reliability, names, since);
  f.check(lapses.length === 0, `slow but answering, Keystone made stores not Ready: ${lapses.slice(0, 4).join("; ")}`);
  f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files after the slowness");
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [viaProxy()] });
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});

test.serial("Keystone answers 500: rendered stores stay rendered byte for byte, Ready=False without AuthFailed (KeptLastGood), and come back Ready", async (t) => {
  const f = new Findings(t);
  const target = "keystone-500";
  const { recorder, before, names } = await reliability.twoReadyStores(target, { credentialsSecretRef: { name: "via-proxy" } });
  await f.step("Keystone answering 500", async () => {
    const startedAt = Date.now();
    await keystoneProxy.setMode({ kind: "status", status: 500 });
    try {
      await reliability.waitNotReady(f, names, 60_000);
      f.log(`not Ready ${seconds(startedAt)} s after Keystone began to answer 500 (${keystoneProxy.stats().statusAnswers} answers)`);
      f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files while Keystone answers 500");
    } finally {
      await keystoneProxy.setMode({ kind: "pass" });
    }
  });
  const endedAt = Date.now();
  await f.step("Keystone well again", () => reliability.recoverReady(f, names, endedAt));
  f.equal(await reliability.e2e.renderedFiles(target), before, "the rendered files after the fault");
  await reliability.checkPairs(f, recorder, { mustKeep: ["a", "b"], validCredentials: [viaProxy()] });
  f.check(recorder.pairs().states.length === 1, `the pair was written ${recorder.pairs().states.length - 1} time(s) during the fault`);
  await reliability.checkGlanceStarts(f, target, ["a", "b"], "a");
  f.assert();
});



