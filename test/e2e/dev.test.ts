/**
 * `npm start` without a cluster: `glance-store-operator dev` as a person
 * runs it. The stores of README.md are applied as they are written, and
 * Glance's own `/v2/info/stores` lists them, served by a glance-api run as
 * a cluster runs it (the WSGI app, the files mounted at
 * /etc/glance/glance.conf.d by a kubelet stand-in), restarted when the
 * operator rolls it.
 */
import test from "ava";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { runCommand } from "../../src/devstack/command.js";
import { issueToken } from "../../src/devstack/openstack-admin.js";
import { ProcessSupervisor, type ManagedProcess } from "../../src/devstack/processes.js";
import { SYSTEM_PATH } from "../../src/devstack/system-packages.js";
import { waitFor } from "../../src/devstack/wait.js";
import { CLI } from "./support.js";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));

let directory: string;
let supervisor: ProcessSupervisor;
let dev: ManagedProcess;

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "gso-dev-test-"));
  // The stack's PostgreSQL runs as its own user and must walk through this folder to its data.
  await chmod(directory, 0o755);
  supervisor = new ProcessSupervisor(directory);
});

test.after.always(async () => {
  await supervisor?.stopAll();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** The GlanceStore documents of README.md's first YAML block, as written there. */
async function readmeStores(): Promise<string> {
  const text = await readFile(README, "utf8");
  const block = /```yaml\n([\s\S]*?)```/.exec(text)?.[1];
  if (block === undefined) throw new Error("README.md has no yaml block");
  const stores = parseAllDocuments(block).filter((document) => document.get("kind") === "GlanceStore");
  if (stores.length < 2) throw new Error(`README.md's yaml block holds ${stores.length} GlanceStore(s)`);
  return stores.map((document) => document.toString()).join("---\n");
}

test.serial("npm start's dev mode: README's stores applied as written are served by the local glance-api, which restarts when they change", async (t) => {
  dev = supervisor.start({
    name: "dev",
    command: process.execPath,
    args: [CLI, "dev", "--state-dir", join(directory, "stack"), "--recheck-period", "3s", "--log-format", "text"],
    env: { ...process.env, PATH: `${SYSTEM_PATH}:${process.env["PATH"] ?? ""}` },
  });
  const envFile = await waitFor(
    async () => /source (\S+env\.sh)/.exec(await dev.logTail(400))?.[1],
    { what: "the dev stack to print its env file", timeoutMs: 180_000, abortIf: () => (dev.exitInfo() ? `dev exited: ${JSON.stringify(dev.exitInfo())}` : undefined) },
  ).catch(async (error: unknown) => {
    throw new Error(`${(error as Error).message}\n${await dev.logTail(60)}`);
  });
  const printed = await dev.logTail(400);
  t.regex(printed, /kubectl apply -f - <<'END'/, "the next steps say what to apply");
  t.regex(printed, /\/v2\/info\/stores/, "and how to look at Glance");
  t.notRegex(printed, /^\{"level"/m, "the logs are lines for a person, not JSON");

  const env = Object.fromEntries(
    (await readFile(envFile, "utf8"))
      .split("\n")
      .map((line) => /^export (\w+)=(.*)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1] as string, match[2] as string]),
  );
  const kubectl = (args: string[], input?: string) =>
    runCommand("kubectl", args, { env: { PATH: SYSTEM_PATH, KUBECONFIG: env["KUBECONFIG"] ?? "" }, ...(input === undefined ? {} : { input }) });
  await kubectl(["apply", "-f", "-"], await readmeStores());
  await waitFor(
    async () => {
      const stores = JSON.parse((await kubectl(["get", "glancestores", "-n", "openstack", "-o", "json"])).stdout) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
      return stores.items.length === 2 && stores.items.every((s) => s.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ? true : undefined;
    },
    { what: "README's stores Ready", timeoutMs: 60_000 },
  );

  const credentials = {
    authUrl: env["OS_AUTH_URL"] ?? "",
    username: env["OS_USERNAME"] ?? "",
    password: env["OS_PASSWORD"] ?? "",
    projectName: env["OS_PROJECT_NAME"] ?? "",
    userDomainName: "Default",
    projectDomainName: "Default",
  };
  const glanceStores = async (): Promise<{ id: string; default?: string; description?: string }[] | undefined> => {
    try {
      const { token } = await issueToken(credentials);
      const response = await fetch(`${env["GLANCE_URL"]}/v2/info/stores`, { headers: { "x-auth-token": token }, signal: AbortSignal.timeout(10_000) });
      return response.ok ? ((await response.json()) as { stores: { id: string; default?: string; description?: string }[] }).stores : undefined;
    } catch {
      return undefined;
    }
  };
  const served = await waitFor(async () => {
    const stores = await glanceStores();
    return stores?.length === 2 ? stores : undefined;
  }, { what: "Glance to serve README's stores", timeoutMs: 120_000, intervalMs: 1_000 });
  t.deepEqual(
    served.map((s) => [s.id, s.default ?? "false", s.description ?? ""]),
    [
      ["fast", "true", "Fast SSD"],
      ["slow", "false", ""],
    ],
  );

  await kubectl(["patch", "glancestore", "-n", "openstack", "slow", "--type=merge", "-p", JSON.stringify({ spec: { description: "Slow HDD" } })]);
  const changed = await waitFor(async () => {
    const stores = await glanceStores();
    return stores?.find((s) => s.id === "slow")?.description === "Slow HDD" ? stores : undefined;
  }, { what: "glance-api restarted with the changed store", timeoutMs: 120_000, intervalMs: 1_000 });
  t.is(changed.length, 2);
  t.regex(await dev.logTail(2_000), /restarting glance-api \(a rollout\)/);

  dev.signal("SIGINT");
  const exit = await dev.exited;
  t.is(exit.code, 0, await dev.logTail(2_000));
  t.is(await glanceStores(), undefined, "Ctrl-C stopped glance-api with the stack");
});
