import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LevelWithSilent[];

/**
 * Structured JSON logs on stderr. Any field whose name suggests a secret is
 * redacted as a second line of defence: no code path should log one at all.
 */
export function createLogger(options: { level?: LevelWithSilent; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? "glance-store-operator",
      level: options.level ?? "info",
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ["password", "*.password", "secret", "*.secret", "token", "*.token", "applicationCredentialSecret", "*.applicationCredentialSecret"],
        censor: "[redacted]",
      },
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}
