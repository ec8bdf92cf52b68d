/**
 * The pair check itself, on made-up states (no stack; the real oslo.config
 * and glance_store of python3): it must pass a good pair and name each way a
 * pair can keep glance-api from starting or lose a store, or the fault suite
 * proves nothing.
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PasswordCredentials } from "../../src/devstack/openstack-admin.js";
import { checkPairs, type PairState, type SideVersion } from "./pairs.js";

const valid: PasswordCredentials = {
  authUrl: "http://127.0.0.1:5000/v3",
  username: "glance",
  password: "right-password",
  projectName: "service",
  userDomainName: "Default",
  projectDomainName: "Default",
};

function storesConf(ids: string[], defaultId: string | undefined, options: { user?: string; omit?: string } = {}): string {
  const lines = ["[DEFAULT]", `enabled_backends = ${ids.map((id) => `${id}:cinder`).join(", ")}`, "[glance_store]", ...(defaultId === undefined ? [] : [`default_backend = ${defaultId}`])];
  for (const id of ids) {
    lines.push(`[${id}]`, `cinder_volume_type = "type-${id}"`);
    for (const [key, value] of [
      ["cinder_store_auth_address", valid.authUrl],
      ["cinder_store_user_name", options.user ?? valid.username],
      ["cinder_store_project_name", valid.projectName],
    ] as const) {
      if (options.omit !== key) lines.push(`${key} = "${value}"`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function credentialsConf(ids: string[], password = valid.password): string {
  return ids.map((id) => `[${id}]\ncinder_store_password = "${password}"\n`).join("");
}

let rv = 100n;
function side(kind: "configMap" | "secret", file: string | undefined, at: number, extra: Partial<SideVersion> = {}): SideVersion {
  rv += 1n;
  return { side: kind, rv, present: file !== undefined, file, keys: file === undefined ? [] : ["k"], injected: false, gap: false, at, ...extra };
}

function states(pairs: { configMap: SideVersion; secret: SideVersion }[]): PairState[] {
  return pairs.map((pair, index) => ({ index, rv: BigInt(index), at: Math.max(pair.configMap.at, pair.secret.at), cause: index === 0 ? "start" : "configMap", ...pair }));
}

async function check(pairs: { configMap: SideVersion; secret: SideVersion }[], options: { mustKeep?: string[]; mustNotHold?: string[] } = {}): Promise<readonly string[]> {
  const scratch = await mkdtemp(join(tmpdir(), "gso-pairs-test-"));
  try {
    const result = await checkPairs({ target: "t", states: states(pairs), gaps: 0 }, { mustKeep: options.mustKeep ?? ["a"], ...(options.mustNotHold ? { mustNotHold: options.mustNotHold } : {}), validCredentials: [valid], scratchDir: scratch, restoreWithinMs: 5_000 });
    return result.violations;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const good = () => ({ configMap: side("configMap", storesConf(["a", "b"], "a"), 1_000), secret: side("secret", credentialsConf(["a", "b"]), 1_000) });

test("a good pair passes", async (t) => {
  t.deepEqual(await check([good()], { mustKeep: ["a", "b"] }), []);
});

const bad: { name: string; pair: () => { configMap: SideVersion; secret: SideVersion }; options?: { mustKeep?: string[]; mustNotHold?: string[] }; expect: RegExp }[] = [
  { name: "only the ConfigMap", pair: () => ({ configMap: side("configMap", storesConf(["a"], "a"), 1_000), secret: side("secret", undefined, 1_000) }), expect: /only the ConfigMap exists/ },
  { name: "a store Glance ran is missing", pair: () => ({ configMap: side("configMap", storesConf(["a"], "a"), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), options: { mustKeep: ["a", "b"] }, expect: /store "b", which Glance ran before the fault, is missing/ },
  { name: "no default_backend", pair: () => ({ configMap: side("configMap", storesConf(["a"], undefined), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /default_backend is unset/ },
  { name: "a default that is not a store", pair: () => ({ configMap: side("configMap", storesConf(["a"], "z"), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /default_backend 'z' is not in enabled_backends/ },
  { name: "a reserved id", pair: () => ({ configMap: side("configMap", storesConf(["a", "os_glance_x"], "a"), 1_000), secret: side("secret", credentialsConf(["a", "os_glance_x"]), 1_000) }), expect: /reserved \(os_glance_\)/ },
  { name: "a store without its password", pair: () => ({ configMap: side("configMap", storesConf(["a", "b"], "a"), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /store 'b' lacks cinder_store_password/ },
  { name: "a store without its user", pair: () => ({ configMap: side("configMap", storesConf(["a"], "a", { omit: "cinder_store_user_name" }), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /lacks cinder_store_user_name/ },
  { name: "the first store's password is not a valid one", pair: () => ({ configMap: side("configMap", storesConf(["a"], "a"), 1_000), secret: side("secret", credentialsConf(["a"], "wrong-password"), 1_000) }), expect: /first cinder store "a" carries credentials Keystone does not accept \(user "glance"/ },
  { name: "the first store's user mixed with another's password", pair: () => ({ configMap: side("configMap", storesConf(["a"], "a", { user: "other" }), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /does not accept \(user "other"/ },
  { name: "a duplicate key in enabled_backends", pair: () => ({ configMap: side("configMap", storesConf(["a", "a"], "a"), 1_000), secret: side("secret", credentialsConf(["a"]), 1_000) }), expect: /oslo.config refused|enabled_backends/ },
  { name: "a store that must not be rendered", pair: () => ({ configMap: side("configMap", storesConf(["a", "c"], "a"), 1_000), secret: side("secret", credentialsConf(["a", "c"]), 1_000) }), options: { mustNotHold: ["c"] }, expect: /store "c" must not be rendered/ },
];

test("each way a pair can fail is caught in its own state (one python run for all)", async (t) => {
  // good, bad 1, good, bad 2, ...: each bad state must have its own violation, and no good one any.
  const sequence = bad.flatMap((row) => [good(), row.pair()]);
  const mustKeep = [...new Set(bad.flatMap((row) => row.options?.mustKeep ?? ["a"]))];
  const mustNotHold = bad.flatMap((row) => row.options?.mustNotHold ?? []);
  const violations = await check(sequence, { mustKeep: mustKeep.filter((id) => id === "a"), mustNotHold });
  for (const [i, row] of bad.entries()) {
    if (row.options?.mustKeep !== undefined) continue; // checked on its own below
    const index = 2 * i + 1;
    const own = violations.filter((v) => new RegExp(`#${index}\\b`).test(v));
    t.true(own.some((v) => row.expect.test(v)), `${row.name}: ${JSON.stringify(own)}`);
  }
  for (const v of violations) {
    const blamed = [...v.matchAll(/#(\d+)/g)].map((m) => Number(m[1]));
    t.false(blamed.some((n) => n % 2 === 0), `a good state was blamed: ${v}`);
  }
  t.false(violations.some((v) => v.includes("right-password") || v.includes("wrong-password")), "no password in a violation");
  // mustKeep is per window in the suite; here it is checked on its own.
  t.regex((await check([good(), bad[1]!.pair()], { mustKeep: ["a", "b"] })).join("\n"), /store "b", which Glance ran before the fault, is missing/);
});

test("an injected state is exempt, but must be replaced by a valid pair within the deadline", async (t) => {
  const first = good();
  const injectedAbsence = side("configMap", undefined, 2_000, { injected: true });
  const restored = side("configMap", storesConf(["a", "b"], "a"), 3_000);
  t.deepEqual(await check([first, { configMap: injectedAbsence, secret: first.secret }, { configMap: restored, secret: first.secret }]), []);
  const late = side("configMap", storesConf(["a", "b"], "a"), 9_000);
  t.regex((await check([first, { configMap: injectedAbsence, secret: first.secret }, { configMap: late, secret: first.secret }])).join("\n"), /replaced the injected state only after 7000 ms/);
  t.regex((await check([first, { configMap: injectedAbsence, secret: first.secret }])).join("\n"), /never replaced/);
  const wrongRestore = side("configMap", storesConf(["a"], "a"), 3_000);
  t.regex((await check([first, { configMap: injectedAbsence, secret: first.secret }, { configMap: wrongRestore, secret: first.secret }], { mustKeep: ["a", "b"] })).join("\n"), /store "b", which Glance ran before the fault, is missing/);
});
