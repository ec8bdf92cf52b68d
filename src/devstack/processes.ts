import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processStartTime, signalGroup } from "./pids.js";

export interface ProcessSpec {
  /** Short unique name, used for the log file and in messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run as this user (root only): PostgreSQL refuses to run as root. */
  readonly uid?: number;
  readonly gid?: number;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process has exited, however that happened. */
  readonly exited: Promise<ExitInfo>;
  exitInfo(): ExitInfo | undefined;
  /** Sends a signal to the process group (the process and what it forked). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<ExitInfo>;
  logTail(lines?: number): Promise<string>;
}

/** What the guardian needs to clean up after an owner that died without tearing down. */
export interface SupervisorState {
  readonly ownerPid: number;
  readonly stackDir: string;
  readonly processes: readonly { readonly name: string; readonly pid: number; readonly startTime: string }[];
  readonly portReservations: readonly string[];
}

/**
 * Starts and stops the processes of one local stack. Every child leads its
 * own process group so that a stop also reaches what it forked (uwsgi
 * workers, postgres backends). The pids are written to a state file that a
 * detached guardian process reads: if the owner dies, even by SIGKILL, the
 * guardian stops them, so no test leaves servers behind.
 */
export class ProcessSupervisor {
  readonly #stackDir: string;
  readonly #stateFile: string;
  readonly #processes: ManagedProcess[] = [];
  readonly #recorded = new Map<number, { name: string; pid: number; startTime: string }>();
  readonly #portReservations = new Set<string>();
  readonly #onExit = (): void => this.killAllNow();
  #guardian: ChildProcess | undefined;

  constructor(stackDir: string) {
    this.#stackDir = stackDir;
    this.#stateFile = join(stackDir, "supervisor-state.json");
    mkdirSync(join(stackDir, "logs"), { recursive: true });
    this.#writeState();
    process.on("exit", this.#onExit);
    this.#startGuardian();
  }

  get stackDir(): string {
    return this.#stackDir;
  }

  start(spec: ProcessSpec): ManagedProcess {
    const logFile = join(this.#stackDir, "logs", `${spec.name}.log`);
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        cwd: spec.cwd ?? this.#stackDir,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ["ignore", fd, fd],
        ...(spec.uid === undefined ? {} : { uid: spec.uid }),
        ...(spec.gid === undefined ? {} : { gid: spec.gid }),
      });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      throw new Error(`could not start ${spec.name} (${spec.command}): is it installed and executable?`);
    }
    let exitInfo: ExitInfo | undefined;
    let stopped: Promise<ExitInfo> | undefined;
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once("exit", (code, signal) => {
        exitInfo = { code, signal };
        this.#recorded.delete(pid);
        this.#writeState();
        resolve(exitInfo);
      });
      child.once("error", () => {
        exitInfo ??= { code: null, signal: null };
        this.#recorded.delete(pid);
        this.#writeState();
        resolve(exitInfo);
      });
    });
    this.#recorded.set(pid, { name: spec.name, pid, startTime: processStartTime(pid) ?? "" });
    this.#writeState();

    const signalIfRunning = (signal: NodeJS.Signals): void => {
      if (exitInfo === undefined) signalGroup(pid, signal);
    };
    const managed: ManagedProcess = {
      name: spec.name,
      pid,
      logFile,
      exited,
      exitInfo: () => exitInfo,
      signal: signalIfRunning,
      stop: async (graceMs = 10_000) => {
        // Once stopped, the group is gone and its pid may belong to someone else: never signal it again.
        if (stopped !== undefined) return stopped;
        stopped = (async () => {
          if (exitInfo === undefined) {
            signalIfRunning("SIGTERM");
            const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
            try {
              await exited;
            } finally {
              clearTimeout(timer);
            }
          }
          // Children that outlived their leader, or ignored its SIGTERM, go too.
          signalGroup(pid, "SIGKILL");
          return exited;
        })();
        return stopped;
      },
      logTail: async (lines = 40) => {
        const text = await readFile(logFile, "utf8").catch(() => "");
        return text.split("\n").slice(-lines).join("\n");
      },
    };
    this.#processes.push(managed);
    return managed;
  }

  /** Records a port reservation file for the guardian to remove after a crash. */
  trackPortReservation(path: string): void {
    this.#portReservations.add(path);
    this.#writeState();
  }

  untrackPortReservation(path: string): void {
    this.#portReservations.delete(path);
    this.#writeState();
  }

  /** Stops every process, newest first (servers before the databases they use). */
  async stopAll(graceMs = 10_000): Promise<void> {
    for (const managed of [...this.#processes].reverse()) {
      await managed.stop(graceMs);
    }
    this.#processes.length = 0;
    process.off("exit", this.#onExit);
    this.#guardian?.kill("SIGTERM");
    this.#guardian = undefined;
  }

  /** Synchronous last resort, for `process.on("exit")`. */
  killAllNow(): void {
    for (const { pid } of this.#recorded.values()) signalGroup(pid, "SIGKILL");
  }

  #writeState(): void {
    const state: SupervisorState = {
      ownerPid: process.pid,
      stackDir: this.#stackDir,
      processes: [...this.#recorded.values()],
      portReservations: [...this.#portReservations],
    };
    const temporary = `${this.#stateFile}.tmp`;
    writeFileSync(temporary, JSON.stringify(state));
    renameSync(temporary, this.#stateFile);
  }

  #startGuardian(): void {
    const script = fileURLToPath(new URL("./guardian.js", import.meta.url));
    const guardian = spawn(process.execPath, [script, this.#stateFile], {
      detached: true,
      stdio: "ignore",
    });
    guardian.unref();
    this.#guardian = guardian;
  }
}
