/**
 * inPrivateMounts (src/devstack/mount-namespace.ts): a process sees the bind
 * mounts made for it, read-only when asked, and this machine does not; the
 * pid started is the program itself. As root, and as an unprivileged user
 * (then through a user namespace).
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../src/devstack/command.js";
import { inPrivateMounts } from "../../src/devstack/mount-namespace.js";
import { ProcessSupervisor } from "../../src/devstack/processes.js";
import { SYSTEM_PATH } from "../../src/devstack/system-packages.js";
import { waitFor } from "../../src/devstack/wait.js";

const NOBODY = 65534;
let scratch: string;

test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "gso-mounts-"));
  await chmod(scratch, 0o755);
});
test.after.always(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function layout(name: string): Promise<{ source: string; target: string }> {
  const source = join(scratch, name, "source");
  const target = join(scratch, name, "target");
  await mkdir(source, { recursive: true });
  await mkdir(target, { recursive: true });
  await writeFile(join(source, "stores.conf"), "[fast]\n");
  // Writable by anyone: a refused write can then only come from a read-only mount.
  await chmod(source, 0o777);
  await chmod(join(scratch, name), 0o755);
  return { source, target };
}

// What the program inside reports: the file through the mount, and whether it may write there.
const PROBE = 'cat "$1/stores.conf"; if touch "$1/new" 2>/dev/null; then echo writable; else echo read-only; fi';

for (const user of [
  { name: "as root", asRoot: true, uid: undefined },
  { name: "as an unprivileged user, through a user namespace", asRoot: false, uid: NOBODY },
] as const) {
  for (const readOnly of [true, false]) {
    test(`${user.name}: the program sees the mount${readOnly ? ", read-only" : ", writable"}, and this machine does not`, async (t) => {
      if (process.getuid?.() !== 0) {
        t.pass("needs root to run as both users");
        return;
      }
      const { source, target } = await layout(`${user.asRoot ? "root" : "user"}-${readOnly ? "ro" : "rw"}`);
      const { command, args } = inPrivateMounts([{ source, target, readOnly }], "/bin/sh", ["-c", PROBE, "probe", target], { asRoot: user.asRoot });
      const result = await runCommand(command, args, { env: { PATH: SYSTEM_PATH }, ...(user.uid === undefined ? {} : { uid: user.uid, gid: user.uid }) });
      t.is(result.stdout, `[fast]\n${readOnly ? "read-only" : "writable"}\n`);
      t.deepEqual(await readdir(target), []);
      t.deepEqual((await readdir(source)).sort(), readOnly ? ["stores.conf"] : ["new", "stores.conf"]);
    });
  }
}

test("the pid the supervisor holds is the program itself, and stopping its group ends it", async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass("needs root");
    return;
  }
  const { source, target } = await layout("pid");
  const supervisor = new ProcessSupervisor(join(scratch, "supervisor"));
  try {
    const sleeper = supervisor.start({ name: "sleeper", ...inPrivateMounts([{ source, target }], "/bin/sleep", ["300"]), env: { PATH: SYSTEM_PATH } });
    // Until the shell has made the mounts and exec'd, the pid still shows unshare or sh.
    const commandLine = () => readFileSync(`/proc/${sleeper.pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    await waitFor(() => (commandLine() === "/bin/sleep 300" ? true : undefined), { what: "the sleeper to be exec'd", timeoutMs: 10_000, intervalMs: 20 });
    t.is(commandLine(), "/bin/sleep 300");
    const exit = await sleeper.stop(5_000);
    t.is(exit.signal, "SIGTERM");
  } finally {
    await supervisor.stopAll();
  }
});
