import { STATUS_CODES } from "node:http";

/**
 * What a failed apiserver request means, for callers that branch on it
 * (404: gone, 409: conflict, 410: re-list) and for log lines that must stay
 * short: the status, the Status object's reason and its message, never the
 * whole response.
 */

/** An answer of the apiserver other than 2xx, with the fields of its Status object. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly code = "KUBE_API_ERROR";
  /** HTTP status, e.g. 404, 409, 410 (Gone: list again). */
  readonly statusCode: number;
  /** `Status.reason`, e.g. `NotFound`, `Conflict`, `Expired`, `Forbidden`. */
  readonly reason: string | undefined;

  constructor(statusCode: number, reason: string | undefined, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

/** A request the apiserver did not answer in time. */
export class KubeRequestTimeoutError extends Error {
  override readonly name = "KubeRequestTimeoutError";
  readonly code = "KUBE_REQUEST_TIMEOUT";
}

/** The HTTP status of a failed apiserver request, if the apiserver answered. */
export function apiStatusOf(error: unknown): number | undefined {
  return error instanceof KubeApiError ? error.statusCode : undefined;
}

/** A short, loggable account of a failed apiserver request. */
export function describeKubeError(error: unknown): { status?: number; reason?: string; message: string } {
  if (error instanceof KubeApiError) {
    return { status: error.statusCode, ...(error.reason === undefined ? {} : { reason: error.reason }), message: error.message };
  }
  const message = (error as { message?: unknown } | undefined)?.message;
  return { message: typeof message === "string" ? message : String(error) };
}

/** The error an answer other than 2xx means, from its Status body when it has one. */
export function apiErrorFromBody(statusCode: number, body: string, what: string): KubeApiError {
  let reason: string | undefined;
  let message = STATUS_CODES[statusCode] ?? "unexpected status";
  try {
    const status = JSON.parse(body) as { reason?: unknown; message?: unknown };
    if (typeof status.reason === "string" && status.reason !== "") reason = status.reason;
    if (typeof status.message === "string" && status.message !== "") message = status.message;
  } catch {
    // Not a Status object: the status line says enough.
  }
  return new KubeApiError(statusCode, reason, `${what} answered HTTP ${statusCode}${reason ? ` (${reason})` : ""}: ${message}`);
}
