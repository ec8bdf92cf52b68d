import test from "ava";
import { stringify } from "yaml";
import { KubeconfigError, selectKubeconfig, type KubeconfigSelection } from "../../src/kube/kubeconfig.js";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

function kubeconfig(options: {
  current?: string;
  clusters?: Record<string, Record<string, unknown>>;
  users?: Record<string, Record<string, unknown> | null>;
  contexts?: Record<string, Record<string, unknown>>;
}): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    ...(options.current === undefined ? {} : { "current-context": options.current }),
    clusters: Object.entries(options.clusters ?? {}).map(([name, cluster]) => ({ name, cluster })),
    users: Object.entries(options.users ?? {}).map(([name, user]) => ({ name, user })),
    contexts: Object.entries(options.contexts ?? {}).map(([name, context]) => ({ name, context })),
  });
}

const one = (text: string, path = "/home/admin/.kube/config"): KubeconfigSelection => selectKubeconfig([{ path, text }]);

test("a client certificate inline, the CA inline, the context's namespace", (t) => {
  const selected = one(
    kubeconfig({
      current: "dev",
      clusters: { dev: { server: "https://127.0.0.1:6443/", "certificate-authority-data": b64("CA") } },
      users: { admin: { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") } },
      contexts: { dev: { cluster: "dev", user: "admin", namespace: "openstack" } },
    }),
  );
  if (selected.kind !== "own") return t.fail(selected.kind);
  t.is(selected.cluster.server, "https://127.0.0.1:6443", "no trailing slash");
  t.deepEqual(selected.cluster.ca, { data: Buffer.from("CA") });
  t.false(selected.cluster.insecure);
  t.is(selected.namespace, "openstack");
  t.deepEqual(selected.user, { kind: "certificate", cert: { data: Buffer.from("CERT") }, key: { data: Buffer.from("KEY") }, token: undefined });
});

test("files are relative to the kubeconfig's folder, as kubectl reads them; absolute ones stay", (t) => {
  const selected = one(
    kubeconfig({
      current: "c",
      clusters: { c: { server: "https://k8s.example:6443", "certificate-authority": "pki/ca.crt", "tls-server-name": "kubernetes", "insecure-skip-tls-verify": false } },
      users: { u: { "client-certificate": "pki/admin.crt", "client-key": "/etc/keys/admin.key", tokenFile: "token" } },
      contexts: { c: { cluster: "c", user: "u" } },
    }),
    "/srv/cluster/kubeconfig",
  );
  if (selected.kind !== "own") return t.fail(selected.kind);
  t.deepEqual(selected.cluster.ca, { file: "/srv/cluster/pki/ca.crt" });
  t.is(selected.cluster.tlsServerName, "kubernetes");
  t.deepEqual(selected.user, { kind: "certificate", cert: { file: "/srv/cluster/pki/admin.crt" }, key: { file: "/etc/keys/admin.key" }, token: { file: "/srv/cluster/token" } });
  t.is(selected.namespace, undefined);
});

test("a bearer token, a token file, basic auth and no user at all", (t) => {
  const base = { current: "c", clusters: { c: { server: "https://k", "insecure-skip-tls-verify": true } } };
  const cases: [Record<string, unknown> | null, unknown][] = [
    [{ token: "abc" }, { kind: "token", token: { data: Buffer.from("abc") } }],
    [{ tokenFile: "/var/run/token" }, { kind: "token", token: { file: "/var/run/token" } }],
    [{ username: "admin", password: "pw" }, { kind: "basic", username: "admin", password: "pw" }],
    [null, { kind: "anonymous" }],
    [{}, { kind: "anonymous" }],
  ];
  for (const [user, expected] of cases) {
    const selected = one(kubeconfig({ ...base, users: { u: user }, contexts: { c: { cluster: "c", user: "u" } } }));
    if (selected.kind !== "own") return t.fail(selected.kind);
    t.deepEqual(selected.user, expected, JSON.stringify(user));
    t.true(selected.cluster.insecure);
  }
  const noUser = one(kubeconfig({ ...base, contexts: { c: { cluster: "c" } } }));
  t.deepEqual(noUser.kind === "own" ? noUser.user : undefined, { kind: "anonymous" });
});

test("plugins, impersonation and proxies are handed to client-node, saying why", (t) => {
  const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [{}, { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } }, /authenticates with exec/],
    [{}, { "auth-provider": { name: "oidc" } }, /authenticates with auth-provider/],
    [{}, { token: "t", as: "someone" }, /authenticates with as/],
    [{ "proxy-url": "socks5://127.0.0.1:1080" }, { token: "t" }, /proxy-url/],
  ];
  for (const [cluster, user, why] of cases) {
    const selected = one(kubeconfig({ current: "c", clusters: { c: { server: "https://k", ...cluster } }, users: { u: user }, contexts: { c: { cluster: "c", user: "u" } } }));
    t.is(selected.kind, "delegated");
    t.regex(selected.kind === "delegated" ? selected.why : "", why);
  }
});

test("several files merge as KUBECONFIG does: the first to name an entry or set current-context wins", (t) => {
  const first = kubeconfig({ current: "work", clusters: { work: { server: "https://first:6443" } }, users: { me: { token: "first" } } });
  const second = kubeconfig({
    current: "other",
    clusters: { work: { server: "https://second:6443" } },
    users: { me: { token: "second" } },
    contexts: { work: { cluster: "work", user: "me", namespace: "ns" } },
  });
  const selected = selectKubeconfig([
    { path: "/a/config", text: first },
    { path: "/b/config", text: second },
  ]);
  if (selected.kind !== "own") return t.fail(selected.kind);
  t.is(selected.context, "work");
  t.is(selected.cluster.server, "https://first:6443");
  t.deepEqual(selected.user, { kind: "token", token: { data: Buffer.from("first") } });
  t.is(selected.namespace, "ns");
});

test("what kubectl would refuse is refused with what to fix", (t) => {
  const cluster = { c: { server: "https://k" } };
  const cases: [string, RegExp][] = [
    ["a: [", /is not YAML/],
    [kubeconfig({ clusters: cluster, contexts: { c: { cluster: "c" } } }), /sets no current-context: run kubectl config use-context/],
    [kubeconfig({ current: "x", clusters: cluster, contexts: { c: { cluster: "c" } } }), /current context "x" is not among its contexts \(c\)/],
    [kubeconfig({ current: "c", contexts: { c: { cluster: "missing" } } }), /names cluster "missing", which is not among its clusters/],
    [kubeconfig({ current: "c", clusters: cluster, contexts: { c: { cluster: "c", user: "nobody" } } }), /names user "nobody"/],
    [kubeconfig({ current: "c", clusters: { c: { server: "k8s:6443" } }, contexts: { c: { cluster: "c" } } }), /neither https nor http|not a URL/],
    [kubeconfig({ current: "c", clusters: cluster, users: { u: { "client-certificate-data": b64("C") } }, contexts: { c: { cluster: "c", user: "u" } } }), /certificate without its key/],
    [stringify({ clusters: [{ name: "c", cluster: { server: 6443 } }] }), /is not a kubeconfig kubectl would read: clusters\.0\.cluster\.server/],
  ];
  for (const [text, message] of cases) {
    const error = t.throws(() => one(text), { instanceOf: KubeconfigError });
    t.regex(error?.message ?? "", message);
  }
  t.throws(() => selectKubeconfig([]), { message: /no kubeconfig file/ });
});
