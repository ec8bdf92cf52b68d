#!/usr/bin/env node
import { parseArgs } from "node:util";
import { parseDuration } from "./duration.js";
import { createLoggerFromFlags, LOG_LEVELS } from "../runtime/logger.js";

const USAGE = `Usage: glance-store-operator <command> [options]

Commands:
  run       Run the operator against a cluster (run --help for its options).
  dev       Start the local development stack (kube-apiserver, etcd, Keystone,
            Cinder API) on 127.0.0.1, install the CRD and run the operator
            against it, until Ctrl-C.
            --no-kube, --no-openstack  leave a half out
            --no-operator              only the stack
            --recheck-period DURATION  the operator's re-check period (default 30s)
            --state-dir DIR            keep state in DIR (default: a new temp dir)
            --keep-state               do not delete the state dir on exit
  render    Render the Glance config files from GlanceStore and Secret manifests,
            without a cluster: render -f PATH [-f PATH ...] --out DIR
            (render --help for more)
  migrate   Write the manifests (GlanceStoreTarget, GlanceStores, credentials
            Secrets) that reproduce the stores of an existing glance-api.conf,
            single-store or multi-store: migrate --from PATH [--check-cinder]
            [--dry-run] [--out FILE|-] (migrate --help for more)

Global options:
  --log-level LEVEL   ${LOG_LEVELS.join(", ")} (default info)
  --log-format F      dev: auto (readable lines on a terminal, else JSON), text or json;
                      run: json by default (run --help)
  -h, --help          show this help
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    switch (command) {
      case "dev": {
        const { values } = parseArgs({
          args: [...rest],
          options: {
            "no-kube": { type: "boolean", default: false },
            "no-openstack": { type: "boolean", default: false },
            "state-dir": { type: "string" },
            "keep-state": { type: "boolean", default: false },
            "no-operator": { type: "boolean", default: false },
            "recheck-period": { type: "string", default: "30s" },
            "log-level": { type: "string", default: "info" },
            "log-format": { type: "string", default: "auto" },
          },
          strict: true,
        });
        const logger = createLoggerFromFlags({ level: values["log-level"], format: values["log-format"] });
        const { runDev } = await import("./dev.js");
        await runDev(
          {
            kube: !values["no-kube"],
            openstack: !values["no-openstack"],
            stateDir: values["state-dir"],
            keepState: values["keep-state"],
            operator: !values["no-operator"],
            recheckPeriodMs: parseDuration(values["recheck-period"], "--recheck-period"),
          },
          logger,
          controller.signal,
        );
        return 0;
      }
      // Each command loads only its own modules: `run`, the operator, does not carry the dev stack or the migration.
      case "run": {
        const { runRun } = await import("./run.js");
        return await runRun(rest, controller.signal);
      }
      case "render": {
        const { runRender } = await import("./render.js");
        return await runRender(rest, {
          stdout: (text) => process.stdout.write(text),
          stderr: (text) => process.stderr.write(text),
          readStdin: async () => {
            const chunks: Buffer[] = [];
            for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
            return Buffer.concat(chunks).toString("utf8");
          },
        });
      }
      case "migrate": {
        const { runMigrate } = await import("./migrate.js");
        return await runMigrate(rest, {
          stdout: (text) => process.stdout.write(text),
          stderr: (text) => process.stderr.write(text),
        });
      }
      default:
        process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`glance-store-operator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
