/**
 * The one error hierarchy of the OpenStack client. Every failure that leaves
 * src/openstack is one of these, classified once at the boundary (the HTTP
 * transport or the response handler), so the controller can map `reason`
 * straight to a condition reason and never has to look at an undici error.
 *
 * None of them holds a secret: messages are built from non-secret fields and
 * scrubbed again, and `cause` is a plain summary (name, code, scrubbed
 * message), never the original error object, whose properties (sockets,
 * request options) nobody has audited.
 */

export const OPENSTACK_ERROR_REASONS = [
  "AuthFailed",
  "KeystoneRejected",
  "EndpointNotFound",
  "Unreachable",
  "Timeout",
  "VolumeTypeNotFound",
  "VolumeTypeNotAccessible",
  "Unexpected",
] as const;

export type OpenStackErrorReason = (typeof OPENSTACK_ERROR_REASONS)[number];

export type OpenStackService = "keystone" | "cinder" | "glance";

/** What is kept of a low-level error: enough to diagnose, nothing that could hold a secret. */
export interface CauseSummary {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

export interface OpenStackErrorDetails {
  readonly service?: OpenStackService;
  /** The URL that was called, without query string (no secret is ever in a URL this client builds). */
  readonly url?: string;
  readonly method?: string;
  /** HTTP status of the answer, when there was one. */
  readonly status?: number;
  /** How many attempts were made before giving up. */
  readonly attempts?: number;
  readonly cause?: CauseSummary;
}

export abstract class OpenStackError extends Error {
  abstract readonly reason: OpenStackErrorReason;
  /** Stable, machine-readable, in the style of undici's `UND_ERR_*` codes. */
  abstract readonly code: string;
  /** Whether trying again later (next round) may succeed without anyone changing anything. */
  abstract readonly transient: boolean;
  readonly service: OpenStackService | undefined;
  readonly url: string | undefined;
  readonly method: string | undefined;
  readonly status: number | undefined;
  readonly attempts: number | undefined;

  constructor(message: string, details: OpenStackErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.service = details.service;
    this.url = details.url;
    this.method = details.method;
    this.status = details.status;
    this.attempts = details.attempts;
  }

  /** For structured logs and status messages: every field, all of them safe. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      reason: this.reason,
      code: this.code,
      message: this.message,
      ...(this.service === undefined ? {} : { service: this.service }),
      ...(this.url === undefined ? {} : { url: this.url }),
      ...(this.method === undefined ? {} : { method: this.method }),
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.attempts === undefined ? {} : { attempts: this.attempts }),
      ...(this.cause === undefined ? {} : { cause: this.cause }),
    };
  }
}

/** When Keystone refused a credential set, and when the operator sends it again (see auth-refusals.ts). */
export interface RefusalTimes {
  readonly refusedAtMs: number;
  readonly retryAtMs: number;
  /** True when this answer is the memory of an earlier refusal: nothing was sent to Keystone this time. */
  readonly held: boolean;
}

/**
 * Keystone refused the credentials (HTTP 401: wrong password, unknown user
 * or project, locked or disabled account), or Cinder refused the token's
 * permissions. Every 401 for a password counts towards Keystone's lockout.
 */
export class AuthFailedError extends OpenStackError {
  override readonly name = "AuthFailedError";
  readonly reason = "AuthFailed";
  readonly code = "OS_AUTH_FAILED";
  readonly transient = false;
  /** Set for a refusal by Keystone: when it happened and when the set is tried again. */
  readonly refusal: RefusalTimes | undefined;

  constructor(message: string, details: OpenStackErrorDetails & { readonly refusal?: RefusalTimes } = {}) {
    super(message, details);
    this.refusal = details.refusal;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      ...(this.refusal === undefined
        ? {}
        : { refusedAt: new Date(this.refusal.refusedAtMs).toISOString(), retryAt: new Date(this.refusal.retryAtMs).toISOString(), held: this.refusal.held }),
    };
  }
}

/**
 * Something at authUrl answered the token request with 400, 403 or 404:
 * not a refusal of the credentials (Keystone does not count it towards a
 * lockout) but a request that did not reach Keystone's identity check, such
 * as an authUrl that is not the v3 root or a proxy that forbids the path.
 */
export class KeystoneRejectedError extends OpenStackError {
  override readonly name = "KeystoneRejectedError";
  readonly reason = "KeystoneRejected";
  readonly code = "OS_KEYSTONE_REJECTED";
  readonly transient = false;
}

/** The catalog (or the endpoint template) gives no usable Cinder endpoint for what the store asks. */
export class EndpointNotFoundError extends OpenStackError {
  override readonly name = "EndpointNotFoundError";
  readonly reason = "EndpointNotFound";
  readonly code = "OS_ENDPOINT_NOT_FOUND";
  readonly transient = false;
}

/** No answer could be had: connection refused or reset, TLS refused, or the service answered 502/503/504. */
export class UnreachableError extends OpenStackError {
  override readonly name = "UnreachableError";
  readonly reason = "Unreachable";
  readonly code = "OS_UNREACHABLE";
  readonly transient = true;
}

/** A connection, the response headers or the response body took longer than allowed. */
export class TimeoutError extends OpenStackError {
  override readonly name = "OpenStackTimeoutError";
  readonly reason = "Timeout";
  readonly code = "OS_TIMEOUT";
  readonly transient = true;
}

export class VolumeTypeNotFoundError extends OpenStackError {
  override readonly name = "VolumeTypeNotFoundError";
  readonly reason = "VolumeTypeNotFound";
  readonly code = "OS_VOLUME_TYPE_NOT_FOUND";
  readonly transient = false;
}

/** The type exists (an admin view shows it) but is private and the project was never granted access. */
export class VolumeTypeNotAccessibleError extends OpenStackError {
  override readonly name = "VolumeTypeNotAccessibleError";
  readonly reason = "VolumeTypeNotAccessible";
  readonly code = "OS_VOLUME_TYPE_NOT_ACCESSIBLE";
  readonly transient = false;
}

/** Anything else: an answer this client does not understand, a status it did not expect, a cancelled call. */
export class UnexpectedError extends OpenStackError {
  override readonly name = "UnexpectedOpenStackError";
  readonly reason = "Unexpected";
  readonly code = "OS_UNEXPECTED";
  readonly transient = true;
}

export function isOpenStackError(value: unknown): value is OpenStackError {
  return value instanceof OpenStackError;
}
