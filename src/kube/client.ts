import * as http from "node:http";
import * as https from "node:https";
import { loadKubeAccess, type KubeAccess, type LoadKubeAccessOptions } from "./access.js";
import { apiErrorFromBody, KubeRequestTimeoutError } from "./errors.js";

export type KubeMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface KubeRequest {
  readonly method: KubeMethod;
  /** From the server's root, e.g. `/api/v1/namespaces/openstack/secrets/x`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Default `application/json`; patches say which kind they are. */
  readonly contentType?: string;
  readonly accept?: string;
  readonly signal?: AbortSignal;
  /** Default the client's (30 s). */
  readonly timeoutMs?: number;
  /** `none`: the caller does not read a successful answer, which is then drained unparsed (a status patch echoes the whole object). Default `json`. */
  readonly answer?: "json" | "none";
}

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";

/** A GET whose answer is read as it streams (a watch). */
export interface KubeStream {
  /** The response once its headers arrived; rejects if the request failed or was aborted first. */
  readonly response: Promise<http.IncomingMessage>;
  /** Settles (never rejects) once the request is over and its connection released, however it ended. */
  readonly closed: Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The apiserver client of the operator: JSON over HTTP/1.1 through one
 * keep-alive pool, every request with a deadline, every answer other than
 * 2xx a KubeApiError carrying the Status object's reason. It sends what the
 * caller gives and returns what the apiserver answered, with no model
 * classes: the operator's objects are checked by its own schemas.
 */
export class KubeClient {
  readonly access: KubeAccess;
  readonly #timeoutMs: number;

  constructor(access: KubeAccess, options: { readonly timeoutMs?: number } = {}) {
    this.access = access;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** A client of the apiserver `loadKubeAccess` finds, e.g. `KubeClient.load({ kubeconfig: path })`. */
  static async load(options: LoadKubeAccessOptions = {}): Promise<KubeClient> {
    return new KubeClient(await loadKubeAccess(options));
  }

  /** Closes the idle connections. */
  close(): void {
    this.access.close();
  }

  /** Sends one request and returns its JSON answer (undefined for an empty body). */
  async request<T = unknown>(request: KubeRequest): Promise<T> {
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs;
    const what = `${request.method} ${request.path}`;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = request.signal === undefined ? deadline : AbortSignal.any([deadline, request.signal]);
    const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
    try {
      const response = await this.#send(request.method, request.path, request.query ?? {}, signal, {
        accept: request.accept ?? "application/json",
        ...(body === undefined ? {} : { "content-type": request.contentType ?? "application/json", "content-length": String(body.length) }),
      }, body);
      const status = response.statusCode ?? 0;
      const ok = status >= 200 && status <= 299;
      if (ok && request.answer === "none") {
        await drain(response);
        return undefined as T;
      }
      const text = await readBody(response);
      if (!ok) throw apiErrorFromBody(status, text, `the apiserver, asked ${what},`);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch (error) {
      if (deadline.aborted && !(request.signal?.aborted ?? false)) {
        throw new KubeRequestTimeoutError(`the apiserver did not answer ${what} within ${timeoutMs} ms; is it overloaded or unreachable?`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * A GET that hands back the response as soon as its headers arrive, for
   * a caller that reads the body as it streams, and says when the
   * connection is really gone (a new watch must not open before).
   */
  open(path: string, query: Readonly<Record<string, string | undefined>>, signal: AbortSignal, accept = "application/json"): KubeStream {
    let markClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    let sent = false;
    const response = (async () => {
      try {
        return await this.#send("GET", path, query, signal, { accept }, undefined, () => {
          sent = true;
        }, markClosed);
      } catch (error) {
        // A request that was sent emits 'close' even after an error; one never sent has nothing open.
        if (!sent) markClosed();
        throw error;
      }
    })();
    // Callers may only look at `closed`; the failure is theirs to read from `response`, not an unhandled rejection.
    response.catch(() => {});
    return { response, closed };
  }

  async #send(
    method: KubeMethod,
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    signal: AbortSignal,
    headers: Record<string, string>,
    body: Buffer | undefined,
    onSent?: () => void,
    onClosed?: () => void,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.access.server + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const connection = await this.access.prepare();
    signal.throwIfAborted();
    const transport = url.protocol === "http:" ? http : https;
    const request = transport.request(url, { method, agent: connection.agent, headers: { ...connection.headers, ...headers }, signal });
    onSent?.();
    if (onClosed !== undefined) request.once("close", onClosed);
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once("response", resolve);
      // `on`, not `once`: a connection can fail more than once (before and after the response), and an unheard 'error' would crash the process.
      request.on("error", (error) => reject(signal.aborted && signal.reason instanceof Error ? signal.reason : error));
      request.end(body);
    });
  }
}

/** Reads a whole response body as text. */
export async function readBody(response: http.IncomingMessage): Promise<string> {
  response.setEncoding("utf8");
  let body = "";
  for await (const chunk of response) body += chunk as string;
  return body;
}

/** Reads a response to its end without keeping it. */
async function drain(response: http.IncomingMessage): Promise<void> {
  for await (const _chunk of response);
}

/** A Kubernetes MicroTime: RFC 3339 with six fractional digits, as the apiserver wants for Events and Leases. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
