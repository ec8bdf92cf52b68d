import { createHash } from "node:crypto";
import { setTimeout as sleepFor } from "node:timers/promises";
import type { Logger } from "pino";
import { Pool, type Dispatcher } from "undici";
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { TimeoutError, UnexpectedError, UnreachableError, type OpenStackError, type OpenStackService } from "./errors.js";
import { causeCodes, safeUrl, summarizeCause } from "./redact.js";

/**
 * The HTTP edge of the client: the only module that touches undici. It
 * bounds every attempt in time, retries what a retry can fix, and turns every
 * transport failure into an OpenStackError. HTTP answers (any status) are
 * returned; what a status means is the caller's to say.
 */

export interface TlsSettings {
  /** PEM bundle that replaces the default trust store, as glance_store's `cinder_ca_certificates_file` does. */
  readonly caCertPem?: string | undefined;
  /** Skip certificate verification (`cinder_api_insecure`). */
  readonly insecure: boolean;
}

export interface DispatcherRequest {
  /** scheme://host:port */
  readonly origin: string;
  readonly tls: TlsSettings;
  readonly connectTimeoutMs: number;
}

/** Makes the connection pool for one origin and TLS setting; injected so tests can route or observe traffic. */
export type DispatcherFactory = (request: DispatcherRequest) => Dispatcher;

/**
 * One keep-alive pool per origin and TLS setting. An idle connection is
 * closed after 2 s, before the servers in front of Keystone and Cinder close
 * it (uWSGI's http11-socket after about 4 s, Apache's KeepAliveTimeout 5 s):
 * a request written on a connection the server is closing at that moment
 * fails with "other side closed", and a token request for credentials
 * Keystone never accepted must not be sent again when it may have arrived.
 */
export const createDefaultDispatcher: DispatcherFactory = ({ origin, tls, connectTimeoutMs }) =>
  new Pool(origin, {
    connections: 8,
    keepAliveTimeout: 2_000,
    keepAliveMaxTimeout: 60_000,
    connect: {
      timeout: connectTimeoutMs,
      rejectUnauthorized: !tls.insecure,
      ...(tls.caCertPem === undefined ? {} : { ca: tls.caCertPem }),
    },
  });

export interface HttpRequest {
  readonly service: OpenStackService;
  readonly method: "GET" | "POST";
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly tls: TlsSettings;
  /** Retries after the first attempt, for connection errors and 500/502/503/504. */
  readonly retries: number;
  /**
   * "always" (default): retry as `retries` says. "unsent-only": retry only
   * when the request provably never reached the service (the connection
   * could not be opened) or it answered 503 without processing it. For
   * requests whose repetition has a cost, such as a password Keystone may
   * refuse: every refusal counts towards its lockout.
   */
  readonly replay?: "always" | "unsent-only";
  /** Values to scrub from any text kept from a failure. */
  readonly secrets: readonly string[];
  readonly signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  readonly attempts: number;
}

export interface HttpTransportOptions {
  readonly dispatcherFactory?: DispatcherFactory;
  readonly connectTimeoutMs?: number;
  /** Bound on one attempt: connecting, waiting for headers and reading the whole body. */
  readonly requestTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly maxResponseBytes?: number;
  readonly logger?: Logger | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const RETRIED_STATUSES = new Set([500, 502, 503, 504]);

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);
/** Failures that happen before a byte of the request is sent. */
const UNSENT_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);
const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|ERR_TLS_|ERR_SSL_|ERR_OSSL_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/;

const SERVICE_LABEL: Record<OpenStackService, string> = { keystone: "Keystone", cinder: "Cinder", glance: "Glance" };

export type TransportFailure = "connection" | "timeout" | "tls" | "other";

/** Which kind of failure an error chain from undici or node:net/tls is. */
export function classifyTransportError(error: unknown): TransportFailure {
  const codes = causeCodes(error);
  if (codes.some((code) => TLS_CODE.test(code))) return "tls";
  if (codes.some((code) => TIMEOUT_CODES.has(code))) return "timeout";
  if (codes.some((code) => CONNECTION_CODES.has(code))) return "connection";
  return "other";
}

class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  readonly code = "BODY_TOO_LARGE";
}

export class HttpTransport {
  readonly #factory: DispatcherFactory;
  readonly #connectTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #maxResponseBytes: number;
  readonly #logger: Logger | undefined;
  readonly #dispatchers = new Map<string, Dispatcher>();
  #closed = false;

  constructor(options: HttpTransportOptions = {}) {
    this.#factory = options.dispatcherFactory ?? createDefaultDispatcher;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal === undefined ? undefined : { signal }));
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#logger = options.logger;
  }

  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  async send(request: HttpRequest): Promise<HttpResponse> {
    if (this.#closed) throw new UnexpectedError("the OpenStack client was closed; make a new one", { service: request.service });
    const url = new URL(request.url);
    const dispatcher = this.#dispatcher(url.origin, request.tls);
    const where = `${request.method} ${safeUrl(request.url)}`;
    const maxAttempts = request.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const deadline = AbortSignal.timeout(this.#requestTimeoutMs);
      const signal = request.signal === undefined ? deadline : AbortSignal.any([deadline, request.signal]);
      try {
        const response = await dispatcher.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers: { accept: "application/json", "user-agent": "glance-store-operator", ...request.headers },
          ...(request.body === undefined ? {} : { body: request.body }),
          headersTimeout: this.#requestTimeoutMs,
          bodyTimeout: this.#requestTimeoutMs,
          signal,
        });
        const text = await this.#readBody(response.body);
        const replayable = request.replay === "unsent-only" ? response.statusCode === 503 : RETRIED_STATUSES.has(response.statusCode);
        if (replayable && attempt < maxAttempts) {
          await this.#retryPause(request, attempt, maxAttempts, `HTTP ${response.statusCode}`);
          continue;
        }
        return { status: response.statusCode, headers: response.headers, text, attempts: attempt };
      } catch (error) {
        if (request.signal?.aborted) {
          throw new UnexpectedError(`${where} was cancelled before ${SERVICE_LABEL[request.service]} answered`, {
            service: request.service,
            url: safeUrl(request.url),
            method: request.method,
            attempts: attempt,
          });
        }
        const failure = deadline.aborted ? "timeout" : classifyTransportError(error);
        const retryable =
          request.replay === "unsent-only"
            ? causeCodes(error).some((code) => UNSENT_CODES.has(code))
            : failure === "connection" || (failure === "timeout" && causeCodes(error).includes("UND_ERR_CONNECT_TIMEOUT"));
        if (retryable && attempt < maxAttempts) {
          await this.#retryPause(request, attempt, maxAttempts, summarizeCause(error, request.secrets).code ?? failure);
          continue;
        }
        throw this.#classify(error, failure, request, attempt);
      }
    }
  }

  async #retryPause(request: HttpRequest, attempt: number, maxAttempts: number, why: string): Promise<void> {
    const delayMs = backoffDelayMs(attempt - 1, this.#backoff, this.#random);
    this.#logger?.debug({ service: request.service, method: request.method, url: safeUrl(request.url), attempt, maxAttempts, why, delayMs }, "retrying OpenStack request");
    try {
      await this.#sleep(delayMs, request.signal);
    } catch {
      throw new UnexpectedError(`${request.method} ${safeUrl(request.url)} was cancelled while waiting to retry`, { service: request.service, url: safeUrl(request.url), method: request.method, attempts: attempt });
    }
  }

  #classify(error: unknown, failure: TransportFailure, request: HttpRequest, attempts: number): OpenStackError {
    const label = SERVICE_LABEL[request.service];
    const origin = new URL(request.url).origin;
    const cause = summarizeCause(error, request.secrets);
    const details = { service: request.service, url: safeUrl(request.url), method: request.method, attempts, cause };
    const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
    switch (failure) {
      case "tls":
        return new UnreachableError(
          `TLS to ${label} at ${origin} failed (${cause.code ?? cause.name}: ${cause.message}). If its certificate is signed by a private CA, put that CA into the credentials Secret's caCert; apiInsecure turns verification off (only for tests)`,
          details,
        );
      case "timeout":
        if (causeCodes(error).includes("UND_ERR_CONNECT_TIMEOUT")) {
          return new TimeoutError(
            `could not connect to ${label} at ${origin} within ${this.#connectTimeoutMs} ms (${tries}). Check that the host and port are right and reachable from the operator (a firewall that drops packets looks like this), and that an https URL is not pointing at a plain-HTTP port`,
            details,
          );
        }
        return new TimeoutError(
          `${label} at ${origin} did not answer ${request.method} ${new URL(request.url).pathname} within ${this.#requestTimeoutMs} ms (${cause.code ?? cause.name}, ${tries}). Check the service's health and load, or the network between the operator and it`,
          details,
        );
      case "connection":
        return new UnreachableError(
          `${label} at ${origin} is unreachable (${cause.code ?? cause.name}: ${cause.message}; ${tries}). Check that the URL is right, the service is running and the operator's network may reach it`,
          details,
        );
      case "other":
        return new UnexpectedError(`${request.method} ${safeUrl(request.url)} to ${label} failed: ${cause.name}${cause.code ? ` ${cause.code}` : ""}: ${cause.message}`, details);
    }
  }

  async #readBody(body: AsyncIterable<Buffer> & { destroy?: (error?: Error) => void }): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > this.#maxResponseBytes) {
        const error = new BodyTooLargeError(`the answer is larger than ${this.#maxResponseBytes} bytes`);
        body.destroy?.(error);
        throw error;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  #dispatcher(origin: string, tls: TlsSettings): Dispatcher {
    const caHash = tls.caCertPem === undefined ? "-" : createHash("sha256").update(tls.caCertPem).digest("hex").slice(0, 16);
    const key = `${origin}|${tls.insecure ? "insecure" : "verify"}|${caHash}`;
    let dispatcher = this.#dispatchers.get(key);
    if (dispatcher === undefined) {
      dispatcher = this.#factory({ origin, tls, connectTimeoutMs: this.#connectTimeoutMs });
      this.#dispatchers.set(key, dispatcher);
    }
    return dispatcher;
  }

  /** Number of connection pools held, one per origin and TLS setting. */
  get poolCount(): number {
    return this.#dispatchers.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const dispatchers = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    // destroy, not close: a call hanging on a dead server must not hold shutdown up.
    await Promise.allSettled(dispatchers.map((dispatcher) => dispatcher.destroy()));
  }
}
