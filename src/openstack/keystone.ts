import { z } from "zod";
import type { OpenStackAuth, PasswordAuth } from "../api/credentials.js";
import { CatalogSchema, type Catalog } from "./catalog.js";
import { AuthFailedError, KeystoneRejectedError, UnexpectedError, UnreachableError } from "./errors.js";
import type { HttpResponse, HttpTransport, TlsSettings } from "./http.js";
import { redactSecrets, safeUrl } from "./redact.js";

/** A Keystone v3 token and what came with it; `value` is secret. */
export interface KeystoneToken {
  readonly value: string;
  readonly userId: string;
  readonly userName: string | undefined;
  readonly projectId: string;
  readonly projectName: string | undefined;
  readonly roles: readonly string[];
  readonly catalog: Catalog;
  /** Keystone's own `expires_at`, for messages. */
  readonly expiresAt: string;
  /** `expires_at - issued_at`: how long the token lives. */
  readonly lifetimeMs: number;
  /** When it expires on the injected clock (see `authenticate`). */
  readonly expiresAtMs: number;
}

/** glance_store's defaults for `cinder_store_user_domain_name` and `cinder_store_project_domain_name`. */
export const DEFAULT_DOMAIN_NAME = "Default";

type DomainRef = { id: string } | { name: string };

function domain(id: string | undefined, name: string | undefined): DomainRef {
  if (id !== undefined) return { id };
  return { name: name ?? DEFAULT_DOMAIN_NAME };
}

/** The body of `POST /v3/auth/tokens` for a credential set. */
export function buildAuthRequest(auth: OpenStackAuth): unknown {
  if (auth.kind === "applicationCredential") {
    // An application credential carries its own scope: a scope here is an error.
    return {
      auth: {
        identity: {
          methods: ["application_credential"],
          application_credential: { id: auth.applicationCredentialId, secret: auth.applicationCredentialSecret },
        },
      },
    };
  }
  const project =
    auth.projectId !== undefined
      ? { id: auth.projectId }
      : { name: auth.projectName, domain: domain(auth.projectDomainId, auth.projectDomainName) };
  return {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: auth.username, domain: domain(auth.userDomainId, auth.userDomainName), password: auth.password } },
      },
      scope: { project },
    },
  };
}

function describeDomain(id: string | undefined, name: string | undefined): string {
  return id !== undefined ? `domain id "${id}"` : `domain "${name ?? DEFAULT_DOMAIN_NAME}"`;
}

function describeProject(auth: PasswordAuth): string {
  if (auth.projectId !== undefined) return `project id "${auth.projectId}"`;
  return `project "${auth.projectName ?? ""}" (${describeDomain(auth.projectDomainId, auth.projectDomainName)})`;
}

/** Who is authenticating, for messages: names and ids only, never a secret. */
export function describeIdentity(auth: OpenStackAuth): string {
  if (auth.kind === "applicationCredential") return `application credential "${auth.applicationCredentialId}"`;
  return `user "${auth.username}" (${describeDomain(auth.userDomainId, auth.userDomainName)}) in ${describeProject(auth)}`;
}

/** The secret values of a credential set, for scrubbing. */
export function authSecrets(auth: OpenStackAuth): string[] {
  return auth.kind === "password" ? [auth.password] : [auth.applicationCredentialSecret];
}

/**
 * glance_store's V3Password/V3ApplicationCredential plugins append
 * `/auth/tokens` to `cinder_store_auth_address` as it is: the address must be
 * the v3 root. Done the same way so a wrong address fails here first.
 */
export function tokensUrl(authUrl: string): string {
  return `${authUrl.replace(/\/+$/, "")}/auth/tokens`;
}

const TokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    user: z.object({ id: z.string(), name: z.string().optional() }),
    project: z.object({ id: z.string(), name: z.string().optional() }).optional(),
    roles: z.array(z.object({ name: z.string() })).optional(),
    catalog: CatalogSchema.optional(),
  }),
});

/** Keystone's error body: `{"error": {"code", "title", "message"}}`. */
export function keystoneErrorMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    const message = parsed.error?.message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}

export interface AuthenticateOptions {
  readonly transport: HttpTransport;
  readonly auth: OpenStackAuth;
  readonly tls: TlsSettings;
  readonly retries: number;
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
  /** "unsent-only" for credentials Keystone never accepted: a lost answer to a wrong password must not be sent twice. */
  readonly replay?: "always" | "unsent-only";
}

/**
 * Asks Keystone for a project-scoped token. Its expiry is kept on the
 * injected clock as (clock when the request started + the token's lifetime
 * by Keystone's own clock): the operator's and Keystone's clocks need not
 * agree, and starting the count before the request errs on the early side.
 */
export async function authenticate(options: AuthenticateOptions): Promise<KeystoneToken> {
  const { auth } = options;
  const url = tokensUrl(auth.authUrl);
  const secrets = authSecrets(auth);
  const startedAt = options.now();
  const response = await options.transport.send({
    service: "keystone",
    method: "POST",
    url,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(buildAuthRequest(auth)),
    tls: options.tls,
    retries: options.retries,
    secrets,
    signal: options.signal,
    replay: options.replay ?? "always",
  });
  if (response.status !== 201) throw authFailure(response, auth, url, secrets);
  const value = headerValue(response, "x-subject-token");
  const details = { service: "keystone" as const, url: safeUrl(url), method: "POST", status: response.status, attempts: response.attempts };
  if (value === undefined || value === "") {
    throw new UnexpectedError(`Keystone at ${safeUrl(url)} answered 201 without an X-Subject-Token header: is authUrl a Keystone v3 endpoint?`, details);
  }
  const parsed = TokenBodySchema.safeParse(safeJson(response.text));
  if (!parsed.success) {
    throw new UnexpectedError(`Keystone at ${safeUrl(url)} answered 201 with a token body this client does not understand (${parsed.error.issues[0]?.message ?? "invalid"} at ${parsed.error.issues[0]?.path.join(".") ?? "?"})`, details);
  }
  const token = parsed.data.token;
  if (token.project === undefined) {
    throw new AuthFailedError(`Keystone gave ${describeIdentity(auth)} a token without a project scope; Cinder needs a project-scoped token: name a project in the Secret`, details);
  }
  const expiresAt = Date.parse(token.expires_at);
  const issuedAt = token.issued_at === undefined ? Number.NaN : Date.parse(token.issued_at);
  if (Number.isNaN(expiresAt)) {
    throw new UnexpectedError(`Keystone's token has an unreadable expires_at "${token.expires_at}"`, details);
  }
  // Without issued_at, fall back to trusting that the clocks agree.
  const lifetimeMs = Number.isNaN(issuedAt) ? Math.max(0, expiresAt - startedAt) : Math.max(0, expiresAt - issuedAt);
  return {
    value,
    userId: token.user.id,
    userName: token.user.name,
    projectId: token.project.id,
    projectName: token.project.name,
    roles: (token.roles ?? []).map((role) => role.name),
    catalog: token.catalog ?? [],
    expiresAt: token.expires_at,
    lifetimeMs,
    expiresAtMs: startedAt + lifetimeMs,
  };
}

function headerValue(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function authFailure(response: HttpResponse, auth: OpenStackAuth, url: string, secrets: readonly string[]): Error {
  const details = { service: "keystone" as const, url: safeUrl(url), method: "POST", status: response.status, attempts: response.attempts };
  const said = keystoneErrorMessage(response.text);
  const keystoneSays = said === undefined ? "" : ` Keystone says: "${redactSecrets(said, secrets)}".`;
  const who = describeIdentity(auth);
  if (response.status === 401) {
    return new AuthFailedError(
      auth.kind === "password"
        ? `Keystone at ${safeUrl(auth.authUrl)} refused ${who} (HTTP 401).${keystoneSays} Check the username, password, project and both domains in the credentials Secret; Keystone does not say which one is wrong`
        : `Keystone at ${safeUrl(auth.authUrl)} refused ${who} (HTTP 401).${keystoneSays} Check the application credential id and secret in the credentials Secret, and that it has not expired or been deleted`,
      details,
    );
  }
  if (response.status === 400) {
    return new KeystoneRejectedError(`Keystone at ${safeUrl(auth.authUrl)} rejected the authentication request for ${who} as malformed (HTTP 400).${keystoneSays} Check the credential fields in the Secret`, details);
  }
  if (response.status === 403) {
    return new KeystoneRejectedError(
      `the token request for ${who} at ${safeUrl(url)} was forbidden (HTTP 403).${keystoneSays} Keystone refuses wrong credentials with 401, so this is most likely a proxy or firewall in front of it, or an authUrl that points at another service`,
      details,
    );
  }
  if (response.status === 404) {
    return new KeystoneRejectedError(
      `Keystone answered 404 at ${safeUrl(url)}: authUrl "${safeUrl(auth.authUrl)}" does not look like a Keystone v3 endpoint. It must be the v3 root, e.g. https://keystone.example.com/v3 (glance_store appends /auth/tokens to it)`,
      details,
    );
  }
  if (response.status >= 500) {
    return new UnreachableError(`Keystone at ${safeUrl(auth.authUrl)} answered HTTP ${response.status} to ${response.attempts} attempt(s): it or a proxy in front of it is failing`, details);
  }
  return new UnexpectedError(`Keystone at ${safeUrl(auth.authUrl)} answered HTTP ${response.status} to the authentication of ${who}.${keystoneSays}`, details);
}
