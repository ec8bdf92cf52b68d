import { ApiException, Observable, type ConfigurationOptions, type ObservableMiddleware } from "@kubernetes/client-node";

/**
 * Options for a typed client-node API call that make it abortable:
 * `api.readNamespacedLease({ name, namespace }, withSignal(AbortSignal.timeout(5_000)))`.
 * client-node's calls otherwise have no deadline at all, and a stuck
 * apiserver would hold a caller (a Lease renewal) past its own deadline.
 */
export function withSignal(signal: AbortSignal, options?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { ...options, middleware: [...(options?.middleware ?? []), middleware], middlewareMergeStrategy: "append" };
}

/** The HTTP status of a failed client-node call, if the apiserver answered. */
export function apiStatusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}

/**
 * A short, loggable account of a failed client-node call. `ApiException`'s
 * own message repeats the whole response body and headers; this keeps the
 * status, the Status object's reason and its message.
 */
export function describeKubeError(error: unknown): { status?: number; reason?: string; message: string } {
  if (error instanceof ApiException) {
    const exception = error as ApiException<unknown>;
    let reason: string | undefined;
    let message = `HTTP ${exception.code}`;
    try {
      const body = (typeof exception.body === "string" ? JSON.parse(exception.body) : exception.body) as { reason?: unknown; message?: unknown };
      if (typeof body?.reason === "string") reason = body.reason;
      if (typeof body?.message === "string") message = body.message;
    } catch {
      // Not a Status object.
    }
    return { status: exception.code, ...(reason === undefined ? {} : { reason }), message };
  }
  // node-fetch's AbortError is not a native Error but has a message.
  const message = (error as { message?: unknown } | undefined)?.message;
  return { message: typeof message === "string" ? message : String(error) };
}
