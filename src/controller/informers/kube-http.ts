import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { abortAfter, type Clock } from "../../runtime/clock.js";

/** An answer of the apiserver other than 200, with the fields of its Status object. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly code = "KUBE_API_ERROR";
  /** HTTP status; `ListWatch` re-lists when this is 410 (Gone). */
  readonly statusCode: number;
  /** `Status.reason`, e.g. `Expired`, `Forbidden`. */
  readonly reason: string | undefined;

  constructor(statusCode: number, reason: string | undefined, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

export class KubeRequestTimeoutError extends Error {
  override readonly name = "KubeRequestTimeoutError";
  readonly code = "KUBE_REQUEST_TIMEOUT";
}

export interface KubeGet {
  /** The response once its headers arrived; rejects if the request failed or was aborted first. */
  readonly response: Promise<http.IncomingMessage>;
  /** Settles (never rejects) once the request is over and its connection released, however it ended. */
  readonly closed: Promise<void>;
}

/**
 * A GET against the apiserver of `kubeConfig`'s current context, with its
 * TLS, client certificates, token or proxy settings applied exactly as
 * client-node applies them (`applyToHTTPSOptions`). Node's own http client is
 * used rather than client-node's `Watch` because a watch needs what that
 * class cannot do: a signal that also cancels a request still connecting,
 * a notice of when the connection is really gone, and extra query
 * parameters (`allowWatchBookmarks`, `timeoutSeconds`). `accept` asks for
 * another representation, e.g. only the objects' metadata.
 */
export function kubeGet(
  kubeConfig: KubeConfig,
  path: string,
  query: Readonly<Record<string, string | undefined>>,
  signal: AbortSignal,
  accept = "application/json",
): KubeGet {
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  let created = false;
  const response = (async () => {
    try {
      const cluster = kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error("the kubeconfig has no current cluster: set current-context to a context that names a cluster");
      const url = new URL(cluster.server.replace(/\/+$/, "") + path);
      for (const [name, value] of Object.entries(query)) {
        if (value !== undefined && value !== "") url.searchParams.set(name, value);
      }
      const options: https.RequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(options);
      signal.throwIfAborted();
      const transport = url.protocol === "http:" ? http : https;
      const request = transport.request(url, {
        method: "GET",
        headers: { ...options.headers, Accept: accept },
        ...(options.agent === undefined ? {} : { agent: options.agent }),
        ...(options.auth ? { auth: options.auth } : {}),
        signal,
      });
      created = true;
      request.once("close", markClosed);
      return await new Promise<http.IncomingMessage>((resolve, reject) => {
        request.once("response", resolve);
        // `on`, not `once`: a connection can fail more than once (before and after the response), and an unheard 'error' would crash the process.
        request.on("error", (error) => reject(signal.aborted && signal.reason instanceof Error ? signal.reason : error));
        request.end();
      });
    } catch (error) {
      // A request that was sent emits 'close' even after an error; one never created has nothing open.
      if (!created) markClosed();
      throw error;
    }
  })();
  // Callers may only look at `closed`; the failure is theirs to read from `response`, not an unhandled rejection.
  response.catch(() => {});
  return { response, closed };
}

/** Reads a whole response body as text. */
export async function readBody(response: http.IncomingMessage): Promise<string> {
  response.setEncoding("utf8");
  let body = "";
  for await (const chunk of response) body += chunk as string;
  return body;
}

/** The error an answer other than 200 means, from its Status body when it has one. */
export async function apiErrorFrom(response: http.IncomingMessage, what: string): Promise<KubeApiError> {
  const status = response.statusCode ?? 0;
  let reason: string | undefined;
  let message = http.STATUS_CODES[status] ?? "unexpected status";
  try {
    const body = JSON.parse(await readBody(response)) as { reason?: unknown; message?: unknown };
    if (typeof body.reason === "string") reason = body.reason;
    if (typeof body.message === "string") message = body.message;
  } catch {
    // Not a Status object: the status line says enough.
  }
  return new KubeApiError(status, reason, `${what} answered HTTP ${status}${reason ? ` (${reason})` : ""}: ${message}`);
}

/** A deadline for one request on `clock`, aborting with a KubeRequestTimeoutError that names `what`. */
export function timeoutSignal(clock: Clock, ms: number, what: string): { readonly signal: AbortSignal; cancel(): void } {
  return abortAfter(clock, ms, () => new KubeRequestTimeoutError(`${what} got no answer within ${ms} ms; is the apiserver overloaded or unreachable?`));
}
