import { pino, type Logger, type LevelWithSilent } from "pino";
import { PinoPretty } from "pino-pretty";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const satisfies readonly LevelWithSilent[];

/** `json` for clusters (one object per line, for a log pipeline); `text` for a person at a terminal; `auto`: text on a terminal, else JSON. */
export const LOG_FORMATS = ["auto", "json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  readonly name?: string;
  readonly destination?: NodeJS.WritableStream;
  /** Default json. */
  readonly format?: LogFormat;
}

/**
 * A logger from the text of the --log-level and --log-format flags, or an
 * error that names the flag, the value and what it may be.
 */
export function createLoggerFromFlags(flags: { readonly level: string; readonly format: string }): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(flags.level)) throw new Error(`--log-level ${JSON.stringify(flags.level)} is not one of ${LOG_LEVELS.join(", ")}`);
  if (!(LOG_FORMATS as readonly string[]).includes(flags.format)) throw new Error(`--log-format ${JSON.stringify(flags.format)} is not one of ${LOG_FORMATS.join(", ")}`);
  return createLogger({ level: flags.level as LevelWithSilent, format: flags.format as LogFormat });
}

/**
 * Structured logs on stderr: JSON lines, or the same records as readable
 * lines for a terminal. Any field whose name suggests a secret is redacted
 * as a second line of defence: no code path should log one at all.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const text = options.format === "text" || (options.format === "auto" && (destination as { isTTY?: boolean }).isTTY === true);
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
    text
      ? PinoPretty({
          destination,
          sync: true,
          colorize: (destination as { isTTY?: boolean }).isTTY === true,
          translateTime: "HH:MM:ss.l",
          ignore: "name,component",
          messageFormat: "{if component}{component}: {end}{msg}",
          // Our error fields are plain summaries (OpenStackError.toJSON), kept on the line like any field.
          errorLikeObjectKeys: ["err"],
          // The level arrives as a label (the formatter above), which pino-pretty reads as it is.
          customLevels: "trace:10,debug:20,info:30,warn:40,error:50,fatal:60",
          singleLine: true,
        })
      : (destination as pino.DestinationStream),
  );
}
