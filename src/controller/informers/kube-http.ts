import type { IncomingMessage } from "node:http";
import { readBody } from "../../kube/client.js";
import { apiErrorFromBody, type KubeApiError, KubeRequestTimeoutError } from "../../kube/errors.js";
import { abortAfter, type Clock } from "../../runtime/clock.js";

/** The error an answer other than 200 means, from its Status body when it has one. */
export async function apiErrorFrom(response: IncomingMessage, what: string): Promise<KubeApiError> {
  const status = response.statusCode ?? 0;
  let body = "";
  try {
    body = await readBody(response);
  } catch {
    // The status line says enough.
  }
  return apiErrorFromBody(status, body, what);
}

/** A deadline for one request on `clock`, aborting with a KubeRequestTimeoutError that names `what`. */
export function timeoutSignal(clock: Clock, ms: number, what: string): { readonly signal: AbortSignal; cancel(): void } {
  return abortAfter(clock, ms, () => new KubeRequestTimeoutError(`${what} got no answer within ${ms} ms; is the apiserver overloaded or unreachable?`));
}
