import test from "ava";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive } from "../../src/devstack/pids.js";
import { PortAllocator } from "../../src/devstack/ports.js";
import { ProcessSupervisor } from "../../src/devstack/processes.js";
import { waitFor } from "../../src/devstack/wait.js";

test("stopAll stops a process and what it forked", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gso-test-"));
  const supervisor = new ProcessSupervisor(dir);
  const leader = supervisor.start({ name: "leader", command: "sh", args: ["-c", "sleep 600 & echo $! > grandchild.pid; wait"] });
  const grandchild = await waitFor(async () => Number((await readFile(join(dir, "grandchild.pid"), "utf8").catch(() => "")).trim()) || undefined, {
    what: "the grandchild's pid file",
    timeoutMs: 10_000,
  });
  t.true(isAlive(leader.pid) && isAlive(grandchild));
  await supervisor.stopAll();
  t.false(isAlive(leader.pid));
  await waitFor(() => (isAlive(grandchild) ? undefined : true), { what: "the grandchild to be gone", timeoutMs: 10_000 });
  await rm(dir, { recursive: true, force: true });
  t.pass();
});

test("a stack owner killed with SIGKILL leaves nothing running: the guardian stops its processes", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "gso-test-"));
  const fixture = fileURLToPath(new URL("../support/orphan-fixture.js", import.meta.url));
  const owner = spawn(process.execPath, [fixture, dir], { stdio: ["ignore", "pipe", "inherit"] });
  const pids = await new Promise<{ leader: number; plain: number }>((resolve, reject) => {
    owner.stdout.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { leader: number; plain: number }));
    owner.once("exit", () => reject(new Error("the fixture exited early")));
  });
  const grandchild = await waitFor(async () => Number((await readFile(join(dir, "grandchild.pid"), "utf8").catch(() => "")).trim()) || undefined, {
    what: "the grandchild's pid file",
    timeoutMs: 10_000,
  });
  t.true([pids.leader, pids.plain, grandchild].every(isAlive));
  owner.kill("SIGKILL");
  await waitFor(() => ([pids.leader, pids.plain, grandchild].some(isAlive) ? undefined : true), {
    what: "the guardian to stop the dead owner's processes",
    timeoutMs: 20_000,
  });
  await waitFor(() => (existsSync(dir) ? undefined : true), { what: "the guardian to remove the stack folder", timeoutMs: 10_000 });
  t.pass();
});

test("two allocators in one machine never hand out the same port", async (t) => {
  const first = new PortAllocator();
  const second = new PortAllocator();
  try {
    const [a, b] = await Promise.all([
      Promise.all(Array.from({ length: 40 }, () => first.allocate())),
      Promise.all(Array.from({ length: 40 }, () => second.allocate())),
    ]);
    const all = [...a, ...b];
    t.is(new Set(all).size, all.length);
  } finally {
    first.releaseAll();
    second.releaseAll();
  }
});
