/**
 * Runs detached beside a test or dev process that owns a local stack. When the
 * owner dies without tearing the stack down (SIGKILL, a crashed test worker,
 * an interrupted CI job), the guardian stops the stack's processes by pid and
 * removes its state, so nothing keeps listening on loopback afterwards.
 *
 * Usage: node guardian.js <supervisor-state.json>
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import { isAlive, processStartTime, signalGroup } from "./pids.js";
import type { SupervisorState } from "./processes.js";

const POLL_MS = 500;
const GRACE_MS = 5_000;

async function main(stateFile: string): Promise<void> {
  let state = readState(stateFile);
  if (state === undefined) return;
  while (isAlive(state.ownerPid)) {
    await delay(POLL_MS);
    if (!existsSync(stateFile)) return; // torn down normally
    state = readState(stateFile) ?? state;
  }
  const stillOurs = (p: { pid: number; startTime: string }): boolean => isAlive(p.pid) && processStartTime(p.pid) === p.startTime;
  const survivors = state.processes.filter(stillOurs);
  for (const p of survivors) signalGroup(p.pid, "SIGTERM");
  const deadline = Date.now() + GRACE_MS;
  while (Date.now() < deadline && survivors.some(stillOurs)) {
    await delay(100);
  }
  for (const p of survivors) signalGroup(p.pid, "SIGKILL");
  for (const reservation of state.portReservations) rmSync(reservation, { force: true });
  if (process.env["GSO_KEEP_STACK"] !== "1") rmSync(state.stackDir, { recursive: true, force: true });
}

function readState(stateFile: string): SupervisorState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, "utf8")) as SupervisorState;
  } catch {
    return undefined;
  }
}

process.on("SIGTERM", () => process.exit(0));
const stateFile = process.argv[2];
if (stateFile !== undefined) await main(stateFile);
