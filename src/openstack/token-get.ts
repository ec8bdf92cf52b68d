import type { HttpResponse, HttpTransport, TlsSettings } from "./http.js";
import type { KeystoneToken } from "./keystone.js";

/** The tokens of one credential set, as an API client needs them. */
export interface TokenProvider {
  get(): Promise<KeystoneToken>;
  /** The token was refused by the service: forget it. */
  invalidate(token: KeystoneToken): void;
  /** Secret values to scrub (credential secret and tokens). */
  secrets(): string[];
}

export interface TokenGetOptions {
  readonly transport: HttpTransport;
  readonly service: "cinder" | "glance";
  readonly tls: TlsSettings;
  readonly retries: number;
  readonly tokens: TokenProvider;
  readonly signal?: AbortSignal | undefined;
  /** Called when the service refused a token (401), before the one retry with a new token. */
  readonly onUnauthorized?: (() => void) | undefined;
}

/**
 * A GET with the credential set's token. A 401 means the service no longer
 * takes a token Keystone issued (revoked, or expired early): it is forgotten
 * and the GET is sent once more with a new one. Any status is returned.
 */
export async function getWithToken(options: TokenGetOptions, url: string): Promise<HttpResponse> {
  let token = await options.tokens.get();
  let response = await send(options, url, token);
  if (response.status === 401) {
    options.onUnauthorized?.();
    options.tokens.invalidate(token);
    token = await options.tokens.get();
    response = await send(options, url, token);
  }
  return response;
}

function send(options: TokenGetOptions, url: string, token: KeystoneToken): Promise<HttpResponse> {
  return options.transport.send({
    service: options.service,
    method: "GET",
    url,
    headers: { "x-auth-token": token.value },
    tls: options.tls,
    retries: options.retries,
    secrets: options.tokens.secrets(),
    signal: options.signal,
  });
}
