import { execFile } from "node:child_process";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface CommandOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Resolve with the exit code instead of rejecting when it is not zero. */
  readonly allowFailure?: boolean;
  readonly uid?: number;
  readonly gid?: number;
}

/** Runs a program to completion and collects its output; errors carry the program's stderr. */
export function runCommand(path: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      path,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 300_000,
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      },
      (error, stdout, stderr) => {
        if (error && typeof (error as NodeJS.ErrnoException).code === "string") {
          reject(new Error(`could not run ${path}: ${error.message}`, { cause: error }));
          return;
        }
        const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1) : 0;
        const result = { stdout, stderr, code };
        if (code !== 0 && !options.allowFailure) {
          const killed = error?.killed ? " (killed: timed out)" : "";
          reject(new Error(`${path} ${args.join(" ")} exited ${code}${killed}: ${(stderr.trim() || stdout.trim()).split("\n").slice(-20).join("\n")}`));
          return;
        }
        resolve(result);
      },
    );
    // A program that exits without reading its input closes the pipe: not an error of ours.
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input ?? "");
  });
}
