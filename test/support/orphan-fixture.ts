/**
 * A stand-in for a test worker that owns a stack and then dies without
 * tearing it down. Prints the pids it started, then waits to be killed.
 */
import { ProcessSupervisor } from "../../src/devstack/processes.js";

const stackDir = process.argv[2];
if (stackDir === undefined) throw new Error("usage: orphan-fixture <stack-dir>");
const supervisor = new ProcessSupervisor(stackDir);
const leader = supervisor.start({ name: "leader", command: "sh", args: ["-c", "sleep 600 & echo $! > grandchild.pid; wait"] });
const plain = supervisor.start({ name: "plain", command: "sleep", args: ["600"] });
process.stdout.write(`${JSON.stringify({ leader: leader.pid, plain: plain.pid })}\n`);
setInterval(() => {}, 60_000);
