import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { LeaderStatus } from "./leader-election.js";
import type { RequestAuthorizer } from "./metrics-auth.js";

export interface CheckResult {
  readonly ok: boolean;
  /** One line for a person reading the probe's body; never a secret. */
  readonly detail: string;
}

export interface HealthCheck {
  readonly name: string;
  check(): CheckResult;
}

export interface HttpEndpointsOptions {
  /** `127.0.0.1` in tests; `0.0.0.0` in a pod so the kubelet and Prometheus reach it. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Served at /healthz when given: is the process able to make progress? A failure makes the kubelet restart the pod. */
  readonly liveness?: readonly HealthCheck[];
  /** Served at /readyz when given: may this replica be counted as available? */
  readonly readiness?: readonly HealthCheck[];
  /** Served at /metrics when given, in Prometheus text format. */
  readonly registry?: Registry;
  /** Serve HTTPS with this certificate instead of plain HTTP. */
  readonly tls?: TlsOptions;
  /** Asked before every request is answered (any path); a refusal is answered with its status. */
  readonly authorize?: RequestAuthorizer;
  readonly logger: Logger;
}

export interface TlsOptions {
  /** PEM certificate (chain) and private key. */
  readonly cert: string;
  readonly key: string;
  /**
   * Files the certificate and key came from: read again every
   * `reloadIntervalMs` (default 30 s) and served from then on when they
   * changed, so a certificate rotated in a mounted Secret (cert-manager)
   * needs no restart.
   */
  readonly files?: { readonly cert: string; readonly key: string; readonly reloadIntervalMs?: number };
}

export interface RunningServer {
  /** `http://host:port` (`https://` with TLS), with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, ends open connections after `graceMs`, resolves when closed. */
  close(graceMs?: number): Promise<void>;
}

/**
 * The operator's HTTP endpoints: health probes and metrics. One function for
 * both servers a pod runs (probes on :8081, metrics on :8080, as
 * controller-runtime does); give it the parts a server should serve.
 * Probe bodies are JSON: `{"status":"ok","checks":[{"name","ok","detail"}]}`,
 * 200 when every check passes, else 503.
 */
export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<RunningServer> {
  const logger = options.logger.child({ component: "http-endpoints" });
  const listener: RequestListener = (request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      logger.error({ err: error, path: request.url }, "could not answer an HTTP request");
      if (!response.headersSent) response.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      response.end("internal error\n");
    });
  };
  const tls = options.tls;
  const secure = tls === undefined ? undefined : createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" }, listener);
  const server = secure ?? createServer(listener);
  let reload: NodeJS.Timeout | undefined;
  if (secure !== undefined && tls?.files !== undefined) {
    const files = tls.files;
    let served = `${tls.cert}\0${tls.key}`;
    reload = setInterval(() => {
      void Promise.all([readFile(files.cert, "utf8"), readFile(files.key, "utf8")]).then(
        ([cert, key]) => {
          if (`${cert}\0${key}` === served) return;
          try {
            secure.setSecureContext({ cert, key, minVersion: "TLSv1.2" });
            served = `${cert}\0${key}`;
            logger.info({ cert: files.cert }, "serving the renewed certificate");
          } catch (error) {
            // A Secret's two keys are updated together, but a read can fall between them: the next one sees both.
            logger.warn({ err: error, cert: files.cert }, "the certificate files do not make a usable pair; still serving the previous one");
          }
        },
        (error: unknown) => logger.warn({ err: error, cert: files.cert }, "could not read the certificate files; still serving the previous certificate"),
      );
    }, files.reloadIntervalMs ?? 30_000);
    reload.unref();
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw new Error(`could not listen on ${options.host}:${options.port} for health and metrics: ${(error as Error).message}; pick another address or port`, {
      cause: error,
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${secure === undefined ? "http" : "https"}://${host}:${address.port}`;
  logger.info({ url, paths: servedPaths(options), authorization: options.authorize !== undefined }, "serving health and metrics");
  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close(graceMs = 2_000) {
      clearInterval(reload);
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function servedPaths(options: HttpEndpointsOptions): string[] {
  return [options.liveness && "/healthz", options.readiness && "/readyz", options.registry && "/metrics"].filter((p): p is string => typeof p === "string");
}

async function handle(request: IncomingMessage, response: ServerResponse, options: HttpEndpointsOptions): Promise<void> {
  if (options.authorize !== undefined) {
    // Before anything else: a client that may not read learns nothing, not even which paths exist.
    const decision = await options.authorize(request);
    if (!decision.allowed) {
      if (decision.status === 401) response.setHeader("WWW-Authenticate", 'Bearer realm="glance-store-operator metrics"');
      send(response, request, decision.status, "text/plain; charset=utf-8", `${decision.reason}\n`);
      return;
    }
  }
  const path = new URL(request.url ?? "/", "http://localhost").pathname;
  const checks = path === "/healthz" ? options.liveness : path === "/readyz" ? options.readiness : undefined;
  const known = checks !== undefined || (path === "/metrics" && options.registry !== undefined);
  if (!known) {
    send(response, request, 404, "text/plain; charset=utf-8", `not found; this server answers ${servedPaths(options).join(", ")}\n`);
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    send(response, request, 405, "text/plain; charset=utf-8", "only GET and HEAD\n");
    return;
  }
  if (checks !== undefined) {
    const results = checks.map((c) => runCheck(c));
    const ok = results.every((r) => r.ok);
    send(response, request, ok ? 200 : 503, "application/json", `${JSON.stringify({ status: ok ? "ok" : "failed", checks: results })}\n`);
    return;
  }
  const registry = options.registry!;
  send(response, request, 200, registry.contentType, await registry.metrics());
}

function runCheck(check: HealthCheck): CheckResult & { name: string } {
  try {
    const { ok, detail } = check.check();
    return { name: check.name, ok, detail };
  } catch (error) {
    return { name: check.name, ok: false, detail: `the check itself failed: ${(error as Error).message}` };
  }
}

function send(response: ServerResponse, request: IncomingMessage, status: number, contentType: string, body: string): void {
  response.writeHead(status, { "Content-Type": contentType, "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(body) });
  response.end(request.method === "HEAD" ? undefined : body);
}

/** What an informer tells the probes (the `Informer` class has it). */
export interface InformerHealthSource {
  health(): { readonly resource: string; readonly synced: boolean; readonly wedged: boolean; readonly detail: string };
}

/** Liveness: fails only when an informer's restart machinery is stuck; an apiserver outage is not a reason to restart the pod. */
export function informersLive(informers: readonly InformerHealthSource[]): HealthCheck {
  return {
    name: "informers",
    check() {
      const healths = informers.map((i) => i.health());
      const wedged = healths.filter((h) => h.wedged);
      return wedged.length === 0
        ? { ok: true, detail: `${healths.length} informers making progress` }
        : { ok: false, detail: wedged.map((h) => `${h.resource}: ${h.detail}`).join("; ") };
    },
  };
}

/** Readiness: every informer has listed once, so reads from the caches mean something. */
export function informersSynced(informers: readonly InformerHealthSource[]): HealthCheck {
  return {
    name: "informers",
    check() {
      const pending = informers.map((i) => i.health()).filter((h) => !h.synced);
      return pending.length === 0
        ? { ok: true, detail: `${informers.length} informers synced` }
        : { ok: false, detail: `waiting for ${pending.map((h) => h.resource).join(", ")} to sync` };
    },
  };
}

/**
 * Readiness of leadership: always ok, since a standby is a healthy replica
 * ready to take over; the detail says who leads.
 */
export function leadership(source: { status(): LeaderStatus }): HealthCheck {
  return {
    name: "leader-election",
    check() {
      const { identity, leading, leader } = source.status();
      if (leading) return { ok: true, detail: `leading as ${identity}` };
      return { ok: true, detail: leader === undefined ? `standby (${identity}); no leader seen yet` : `standby (${identity}); ${leader} leads` };
    },
  };
}
