import test from "ava";
import type { V1ObjectMeta, V1Secret } from "@kubernetes/client-node";
import { SecretData } from "../../src/controller/secret-data.js";

/** The metadata informer, the owned informer and the apiserver's GET, all as maps the test changes. */
function world() {
  const metadata = new Map<string, V1ObjectMeta>();
  const owned = new Map<string, V1Secret>();
  const stored = new Map<string, V1Secret>();
  const referenced = new Set<string>();
  const gets: string[] = [];
  let failWith: Error | undefined;
  let gate: Promise<void> = Promise.resolve();
  const put = (name: string, resourceVersion: string, password: string): void => {
    const meta = { name, namespace: "openstack", uid: `uid-${name}`, resourceVersion };
    metadata.set(name, meta);
    stored.set(name, { metadata: { ...meta, managedFields: [{ manager: "kubectl" }] }, data: { password: Buffer.from(password).toString("base64") } });
    referenced.add(name);
  };
  const data = new SecretData({
    metadata: { get: (_namespace, name) => (metadata.has(name) ? { metadata: metadata.get(name)! } : undefined) },
    owned: { get: (_namespace, name) => owned.get(name) },
    fetch: async (_namespace, name) => {
      gets.push(name);
      await gate;
      if (failWith !== undefined) throw failWith;
      return stored.get(name);
    },
    referenced: (_namespace, name) => referenced.has(name),
  });
  return {
    data,
    metadata,
    owned,
    stored,
    referenced,
    gets,
    put,
    fail: (error: Error | undefined) => (failWith = error),
    hold: () => {
      let release = (): void => {};
      gate = new Promise((resolve) => (release = resolve));
      return () => release();
    },
  };
}

const password = (secret: V1Secret | undefined): string | undefined => (secret?.data?.["password"] === undefined ? undefined : Buffer.from(secret.data["password"], "base64").toString());

test("a referenced Secret is fetched once per resourceVersion; its data is kept without managedFields", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  t.is(w.data.get("openstack", "glance-cinder"), undefined, "nothing is fetched before ensure");
  await w.data.ensure("openstack", ["glance-cinder", "glance-cinder"]);
  t.is(password(w.data.get("openstack", "glance-cinder")), "one");
  t.is(w.data.get("openstack", "glance-cinder")?.metadata?.managedFields, undefined);
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.deepEqual(w.gets, ["glance-cinder"], "unchanged: no second GET");
  w.put("glance-cinder", "11", "two");
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.is(password(w.data.get("openstack", "glance-cinder")), "two");
  t.deepEqual(w.gets, ["glance-cinder", "glance-cinder"]);
  t.deepEqual(w.data.stats(), { kept: 1, gets: 2 });
});

test("a GET that found a newer version than the metadata informer's is not repeated when the informer catches up", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  w.stored.set("glance-cinder", { metadata: { name: "glance-cinder", namespace: "openstack", resourceVersion: "12" }, data: { password: Buffer.from("newer").toString("base64") } });
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.is(password(w.data.get("openstack", "glance-cinder")), "newer");
  w.metadata.set("glance-cinder", { ...w.metadata.get("glance-cinder"), resourceVersion: "12" });
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.is(w.gets.length, 1);
});

test("reconciles that need the same Secret at once share one GET", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  const release = w.hold();
  const both = Promise.all([w.data.ensure("openstack", ["glance-cinder"]), w.data.ensure("openstack", ["glance-cinder"])]);
  release();
  await both;
  t.deepEqual(w.gets, ["glance-cinder"]);
});

test("a Secret the metadata informer does not show is absent and not asked for; a 404 is absent too", async (t) => {
  const w = world();
  await w.data.ensure("openstack", ["missing"]);
  t.deepEqual(w.gets, []);
  t.is(w.data.get("openstack", "missing"), undefined);
  // Deleted between the informer's view and the GET.
  w.put("going", "10", "x");
  w.stored.delete("going");
  await w.data.ensure("openstack", ["going"]);
  t.is(w.data.get("openstack", "going"), undefined);
  await w.data.ensure("openstack", ["going"]);
  t.deepEqual(w.gets, ["going"], "the 404 answers for that resourceVersion");
});

test("a failed GET rejects ensure, and the next ensure asks again", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  w.fail(new Error("connection refused"));
  await t.throwsAsync(() => w.data.ensure("openstack", ["glance-cinder"]), { message: "connection refused" });
  w.fail(undefined);
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.is(password(w.data.get("openstack", "glance-cinder")), "one");
  t.is(w.gets.length, 2);
});

test("the data is dropped when forgotten, not kept when no store references the Secret, and the operator's own Secrets come from their informer", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  await w.data.ensure("openstack", ["glance-cinder"]);
  w.data.forget("openstack", "glance-cinder");
  t.deepEqual(w.data.stats().kept, 0);
  w.referenced.delete("glance-cinder");
  await w.data.ensure("openstack", ["glance-cinder"]);
  t.deepEqual(w.data.stats().kept, 0);
  // Deleted (and so forgotten) while its GET runs: what the GET brings is not kept.
  w.referenced.add("glance-cinder");
  const release = w.hold();
  const running = w.data.ensure("openstack", ["glance-cinder"]);
  w.metadata.delete("glance-cinder");
  w.data.forget("openstack", "glance-cinder");
  release();
  await running;
  t.deepEqual(w.data.stats().kept, 0);
  t.is(w.data.get("openstack", "glance-cinder"), undefined);

  const own: V1Secret = { metadata: { name: "glance-api-stores-credentials", namespace: "openstack", resourceVersion: "20", labels: { "app.kubernetes.io/managed-by": "glance-store-operator" } }, data: {} };
  w.owned.set("glance-api-stores-credentials", own);
  w.metadata.set("glance-api-stores-credentials", own.metadata!);
  const gets = w.gets.length;
  await w.data.ensure("openstack", ["glance-api-stores-credentials"]);
  t.is(w.data.get("openstack", "glance-api-stores-credentials"), own);
  t.is(w.gets.length, gets);
  t.deepEqual(w.data.metadata("openstack", "glance-api-stores-credentials")?.labels, own.metadata!.labels);
  w.metadata.set("someone-elses", { name: "someone-elses", namespace: "openstack", resourceVersion: "30" });
  t.is(w.data.metadata("openstack", "someone-elses")?.name, "someone-elses");
  t.is(w.data.get("openstack", "someone-elses"), undefined);
});

test("an aborted reconcile stops waiting; the GET goes on for the others", async (t) => {
  const w = world();
  w.put("glance-cinder", "10", "one");
  const release = w.hold();
  const abort = new AbortController();
  const first = w.data.ensure("openstack", ["glance-cinder"], abort.signal);
  const second = w.data.ensure("openstack", ["glance-cinder"]);
  abort.abort(new Error("shutting down"));
  await t.throwsAsync(() => first, { message: "shutting down" });
  release();
  await second;
  t.is(password(w.data.get("openstack", "glance-cinder")), "one");
  t.is(w.gets.length, 1);
});
