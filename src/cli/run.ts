import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runOperator, type Address } from "../controller/operator.js";
import { loadKubeAccess } from "../kube/access.js";
import { KubeClient } from "../kube/client.js";
import { DEFAULT_LEADER_ELECTION_ID } from "../controller/rbac.js";
import { DEFAULT_GLANCE_STORE_VERSION } from "../controller/reconciler.js";
import type { TlsOptions } from "../runtime/health-server.js";
import { createLoggerFromFlags, LOG_LEVELS } from "../runtime/logger.js";
import { kubeReviewApi, kubernetesAuthorizer } from "../runtime/metrics-auth.js";
import { selfSignedCertificate } from "../runtime/self-signed.js";
import { parseDuration } from "./duration.js";

export const RUN_USAGE = `Usage: glance-store-operator run [options]

Runs the operator: watches GlanceStores, checks them against Keystone and
Cinder, renders <target>-stores and <target>-stores-credentials, rolls
opted-in workloads (with --rollout-workloads=true), and writes each store's status.

Options (each also read from the environment variable in brackets):
  --kubeconfig PATH              kubeconfig to use [KUBECONFIG]; default ~/.kube/config,
                                 else the in-cluster service account
  --namespaces A,B               namespaces to watch [GSO_NAMESPACES]; default all
  --rollout-workloads true|false patch the pod template of Deployments and StatefulSets
                                 annotated glance.stores.dev/target with the config hash, so
                                 they roll when the stores change [GSO_ROLLOUT_WORKLOADS]
                                 (default false: no informer, request or permission on
                                 workloads; let another tool roll them, see docs/security.md)
  --recheck-period DURATION      re-check every target against OpenStack this often
                                 [GSO_RECHECK_PERIOD] (default 5m)
  --concurrency N                targets reconciled at once [GSO_CONCURRENCY] (default 4)
  --auth-refusal-backoff DURATION
                                 after Keystone refuses a credential set, do not send it
                                 again for this long, so the user is never locked out by
                                 Keystone's lockout_failure_attempts; a change of the
                                 Secret is tried at once [GSO_AUTH_REFUSAL_BACKOFF]
                                 (default 1h; not shorter than --recheck-period)
  --glance-store-version X.Y.Z   the glance_store release the Glance deployments run
                                 [GSO_GLANCE_STORE_VERSION] (default ${DEFAULT_GLANCE_STORE_VERSION});
                                 application credentials need 5.4.0
  --log-level LEVEL              ${LOG_LEVELS.join(", ")} [GSO_LOG_LEVEL] (default info)
  --log-format FORMAT            json (one object per line, for clusters), text (readable
                                 lines) or auto (text on a terminal) [GSO_LOG_FORMAT]
                                 (default json)
  --metrics-address HOST:PORT    Prometheus /metrics; "off" disables [GSO_METRICS_ADDRESS]
                                 (default 127.0.0.1:8080)
  --metrics-secure true|false    serve /metrics over HTTPS to scrapers whose bearer token the
                                 apiserver accepts (TokenReview) and who may get /metrics
                                 (SubjectAccessReview) [GSO_METRICS_SECURE] (default true);
                                 false serves plain HTTP to anyone, on a loopback address only
  --metrics-cert-dir DIR         tls.crt and tls.key for /metrics, read again when they change
                                 [GSO_METRICS_CERT_DIR]; default a self-signed certificate
                                 made at start
  --health-address HOST:PORT     /healthz and /readyz; "off" disables [GSO_HEALTH_ADDRESS]
                                 (default 127.0.0.1:8081)
  --leader-elect true|false      elect one active replica on a Lease [GSO_LEADER_ELECT]
                                 (default false; the Helm chart turns it on)
  --leader-election-namespace NS namespace of the Lease [GSO_LEADER_ELECTION_NAMESPACE]
                                 (default: the pod's namespace, else "default")
  --leader-election-id NAME      name of the Lease [GSO_LEADER_ELECTION_ID] (default glance-store-operator)
  --lease-duration DURATION      (default 15s)   --renew-deadline DURATION (default 10s)
  --retry-period DURATION        (default 2s)
`;

export const OPTIONS = {
  kubeconfig: { type: "string", env: "KUBECONFIG" },
  namespaces: { type: "string", env: "GSO_NAMESPACES" },
  "rollout-workloads": { type: "string", env: "GSO_ROLLOUT_WORKLOADS", default: "false" },
  "recheck-period": { type: "string", env: "GSO_RECHECK_PERIOD", default: "5m" },
  concurrency: { type: "string", env: "GSO_CONCURRENCY", default: "4" },
  "auth-refusal-backoff": { type: "string", env: "GSO_AUTH_REFUSAL_BACKOFF", default: "1h" },
  "glance-store-version": { type: "string", env: "GSO_GLANCE_STORE_VERSION", default: DEFAULT_GLANCE_STORE_VERSION },
  "log-level": { type: "string", env: "GSO_LOG_LEVEL", default: "info" },
  "log-format": { type: "string", env: "GSO_LOG_FORMAT", default: "json" },
  "metrics-address": { type: "string", env: "GSO_METRICS_ADDRESS", default: "127.0.0.1:8080" },
  "metrics-secure": { type: "string", env: "GSO_METRICS_SECURE", default: "true" },
  "metrics-cert-dir": { type: "string", env: "GSO_METRICS_CERT_DIR" },
  "health-address": { type: "string", env: "GSO_HEALTH_ADDRESS", default: "127.0.0.1:8081" },
  "leader-elect": { type: "string", env: "GSO_LEADER_ELECT", default: "false" },
  "leader-election-namespace": { type: "string", env: "GSO_LEADER_ELECTION_NAMESPACE" },
  "leader-election-id": { type: "string", env: "GSO_LEADER_ELECTION_ID", default: DEFAULT_LEADER_ELECTION_ID },
  "lease-duration": { type: "string", env: "GSO_LEASE_DURATION", default: "15s" },
  "renew-deadline": { type: "string", env: "GSO_RENEW_DEADLINE", default: "10s" },
  "retry-period": { type: "string", env: "GSO_RETRY_PERIOD", default: "2s" },
  help: { type: "boolean", short: "h" },
} as const;

type RunFlags = { -readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** Flags win over environment variables, which win over defaults. Pure apart from reading `env`. */
export function resolveRunFlags(argv: readonly string[], env: NodeJS.ProcessEnv): RunFlags {
  const parseOptions = Object.fromEntries(Object.entries(OPTIONS).map(([name, o]) => [name, { type: o.type, ...("short" in o ? { short: o.short } : {}) }]));
  const { values } = parseArgs({ args: [...argv], options: parseOptions as never, strict: true, allowPositionals: false });
  const flags: Record<string, string | boolean | undefined> = {};
  for (const [name, option] of Object.entries(OPTIONS)) {
    const given = (values as Record<string, string | boolean | undefined>)[name];
    const fromEnv = "env" in option ? env[option.env] : undefined;
    flags[name] = given ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : "default" in option ? option.default : undefined);
  }
  return flags as RunFlags;
}

export function parseAddress(text: string, flag: string): Address | undefined {
  if (text === "off") return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new Error(`${flag} ${JSON.stringify(text)} is not HOST:PORT (or "off"), e.g. 0.0.0.0:8080`);
  return { host: match[1] === "" ? "0.0.0.0" : (match[1] as string), port };
}

/** 127.0.0.0/8, ::1 and localhost: reachable from the pod (or host) itself only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The certificate /metrics is served with: tls.crt and tls.key of `certDir`
 * (a mounted kubernetes.io/tls Secret, re-read when it changes), else a
 * self-signed one made now.
 */
export function metricsCertificate(certDir: string | undefined): TlsOptions {
  if (certDir === undefined) {
    const name = process.env["POD_NAME"] ?? hostname();
    return selfSignedCertificate({ commonName: `glance-store-operator metrics (${name})`, altNames: ["localhost", hostname(), "127.0.0.1", "::1"] });
  }
  const files = { cert: join(certDir, "tls.crt"), key: join(certDir, "tls.key") };
  try {
    return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8"), files };
  } catch (error) {
    throw new Error(`--metrics-cert-dir ${JSON.stringify(certDir)}: cannot read tls.crt and tls.key there (${(error as Error).message})`, { cause: error });
  }
}

function parseBoolean(text: string, flag: string): boolean {
  if (text === "true" || text === "false") return text === "true";
  throw new Error(`${flag} ${JSON.stringify(text)} must be true or false`);
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function runRun(argv: readonly string[], signal: AbortSignal): Promise<number> {
  const flags = resolveRunFlags(argv, process.env);
  if (flags.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const logger = createLoggerFromFlags({ level: flags["log-level"] as string, format: flags["log-format"] as string });
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency ${JSON.stringify(flags.concurrency)} must be a positive integer`);

  const metricsAddress = parseAddress(flags["metrics-address"] as string, "--metrics-address");
  const metricsSecure = parseBoolean(flags["metrics-secure"] as string, "--metrics-secure");
  if (metricsAddress !== undefined && !metricsSecure && !isLoopback(metricsAddress.host)) {
    throw new Error(
      `--metrics-secure=false serves /metrics without TLS or authentication to anyone who reaches ${flags["metrics-address"]}: allowed on a loopback address only (127.0.0.1:PORT, e.g. behind a sidecar proxy). Keep --metrics-secure=true (Prometheus then scrapes with a bearer token over HTTPS), or bind 127.0.0.1`,
    );
  }
  const rolloutWorkloads = parseBoolean(flags["rollout-workloads"] as string, "--rollout-workloads");

  const access = await loadKubeAccess({ kubeconfig: flags.kubeconfig });
  logger.info({ apiserver: access.server, from: access.source }, "apiserver");
  const kube = new KubeClient(access);
  const namespaces = (flags.namespaces ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  const leaderElect = parseBoolean(flags["leader-elect"] as string, "--leader-elect");
  const recheckPeriodMs = parseDuration(flags["recheck-period"] as string, "--recheck-period");
  const authRefusalBackoffMs = parseDuration(flags["auth-refusal-backoff"] as string, "--auth-refusal-backoff");
  if (authRefusalBackoffMs < recheckPeriodMs) {
    throw new Error(
      `--auth-refusal-backoff ${flags["auth-refusal-backoff"]} is shorter than --recheck-period ${flags["recheck-period"]}: refused credentials would be sent to Keystone at every re-check, which locks the user out where Keystone counts failures. Make it at least the re-check period (the default, 1h, suits most clouds)`,
    );
  }
  const glanceStoreVersion = flags["glance-store-version"] as string;
  if (!/^\d+(\.\d+){0,2}$/.test(glanceStoreVersion)) throw new Error(`--glance-store-version ${JSON.stringify(glanceStoreVersion)} is not a release number like 4.1.0`);
  const metricsSecurity =
    metricsAddress !== undefined && metricsSecure
      ? { tls: metricsCertificate(flags["metrics-cert-dir"]), authorize: kubernetesAuthorizer({ reviews: kubeReviewApi(kube), logger }) }
      : undefined;

  await runOperator(
    {
      kube,
      namespaces,
      rolloutWorkloads,
      recheckPeriodMs,
      authRefusalBackoffMs,
      glanceStoreVersion,
      concurrency,
      logger,
      metricsAddress,
      ...(metricsSecurity === undefined ? {} : { metricsSecurity }),
      healthAddress: parseAddress(flags["health-address"] as string, "--health-address"),
      leaderElection: leaderElect
        ? {
            enabled: true,
            namespace: flags["leader-election-namespace"] ?? inClusterNamespace() ?? "default",
            name: flags["leader-election-id"] as string,
            timing: {
              leaseDurationMs: parseDuration(flags["lease-duration"] as string, "--lease-duration"),
              renewDeadlineMs: parseDuration(flags["renew-deadline"] as string, "--renew-deadline"),
              retryPeriodMs: parseDuration(flags["retry-period"] as string, "--retry-period"),
            },
          }
        : { enabled: false },
    },
    signal,
  );
  return 0;
}
