import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { URL_USER_INFO } from "./url-parts.js";

/**
 * OpenStack credentials after they have been read from a store's Secret:
 * what both the OpenStack client (to check a store) and the renderer (to
 * write cinder_store_* options) consume. Secret values live only in
 * `password` and `applicationCredentialSecret`; nothing else is secret.
 */

const nonEmpty = z.string().min(1);

export const PasswordAuthSchema = z
  .object({
    kind: z.literal("password"),
    /** Keystone v3 URL, e.g. https://keystone.example.com/v3 */
    authUrl: z.url({ protocol: /^https?$/ }),
    username: nonEmpty,
    password: nonEmpty,
    userDomainName: nonEmpty.optional(),
    userDomainId: nonEmpty.optional(),
    projectName: nonEmpty.optional(),
    projectId: nonEmpty.optional(),
    projectDomainName: nonEmpty.optional(),
    projectDomainId: nonEmpty.optional(),
  })
  .refine((auth) => auth.projectName !== undefined || auth.projectId !== undefined, {
    message: "a project is needed: set projectName (with projectDomainName or projectDomainId) or projectId",
    path: ["projectName"],
  });

export const ApplicationCredentialAuthSchema = z.object({
  kind: z.literal("applicationCredential"),
  authUrl: z.url({ protocol: /^https?$/ }),
  applicationCredentialId: nonEmpty,
  applicationCredentialSecret: nonEmpty,
});

export const OpenStackAuthSchema = z.discriminatedUnion("kind", [PasswordAuthSchema, ApplicationCredentialAuthSchema]);

export const ResolvedCredentialsSchema = z.object({
  auth: OpenStackAuthSchema,
  /** PEM bundle to trust for Keystone and Cinder (the Secret's `caCert`), in addition to nothing else. */
  caCertPem: z.string().optional(),
});

export type PasswordAuth = z.infer<typeof PasswordAuthSchema>;
export type ApplicationCredentialAuth = z.infer<typeof ApplicationCredentialAuthSchema>;
export type OpenStackAuth = z.infer<typeof OpenStackAuthSchema>;
export type ResolvedCredentials = z.infer<typeof ResolvedCredentialsSchema>;

/**
 * A stable identity for a credential set, for caches and de-duplication
 * (one token and one volume-type list per set), in memory only. It is an
 * unsalted hash over the password: never log it, write it to a status or
 * put it in a metric, since a weak password could be guessed back from it.
 */
export function credentialsKey(credentials: ResolvedCredentials): string {
  const auth = credentials.auth;
  const fields =
    auth.kind === "password"
      ? [auth.kind, auth.authUrl, auth.username, auth.password, auth.userDomainName, auth.userDomainId, auth.projectName, auth.projectId, auth.projectDomainName, auth.projectDomainId]
      : [auth.kind, auth.authUrl, auth.applicationCredentialId, auth.applicationCredentialSecret];
  return createHash("sha256")
    .update(JSON.stringify([...fields, credentials.caCertPem ?? ""]))
    .digest("hex")
    .slice(0, 24);
}

/**
 * Keys of a credentials Secret (decoded). Three shapes, exclusive:
 * password (authUrl, username, password, projectName or projectId, domains),
 * application credential (authUrl, applicationCredentialId,
 * applicationCredentialSecret), or a `clouds.yaml` with a cloud name.
 */
export const CREDENTIALS_SECRET_KEYS = {
  authUrl: "authUrl",
  username: "username",
  password: "password",
  projectName: "projectName",
  projectId: "projectId",
  userDomainName: "userDomainName",
  userDomainId: "userDomainId",
  projectDomainName: "projectDomainName",
  projectDomainId: "projectDomainId",
  applicationCredentialId: "applicationCredentialId",
  applicationCredentialSecret: "applicationCredentialSecret",
  caCert: "caCert",
  cloudsYaml: "clouds.yaml",
  cloud: "cloud",
} as const;

const K = CREDENTIALS_SECRET_KEYS;
const PASSWORD_KEYS = [K.username, K.password, K.projectName, K.projectId, K.userDomainName, K.userDomainId, K.projectDomainName, K.projectDomainId] as const;
const APPLICATION_CREDENTIAL_KEYS = [K.applicationCredentialId, K.applicationCredentialSecret] as const;
const DIRECT_KEYS = [K.authUrl, ...PASSWORD_KEYS, ...APPLICATION_CREDENTIAL_KEYS] as const;
const SECRET_VALUE_KEYS: ReadonlySet<string> = new Set([K.password, K.applicationCredentialSecret]);
const DEFAULT_DOMAIN = "Default";

/** Something wrong in a credentials Secret: the key at fault and why, never the value. */
export interface CredentialsIssue {
  readonly key: string;
  readonly message: string;
}

export type ParseCredentialsResult =
  | { readonly ok: true; readonly credentials: ResolvedCredentials }
  | { readonly ok: false; readonly issues: readonly CredentialsIssue[] };

export interface CredentialsSecretReference {
  readonly name: string;
  readonly cloud?: string | undefined;
}

/**
 * Reads a credentials Secret's decoded data into ResolvedCredentials. Pure:
 * the caller fetched and decoded the Secret. Every issue names the Secret
 * key at fault (for clouds.yaml, the path inside it) and none holds a
 * value, so issues can go into a status, an event or a log.
 */
export function parseCredentialsSecret(data: Readonly<Record<string, string>>, ref: CredentialsSecretReference): ParseCredentialsResult {
  const issues: CredentialsIssue[] = [];
  const secretName = `Secret ${JSON.stringify(ref.name)}`;
  issues.push(...misspelledKeys(data, secretName));

  const present = (key: string): boolean => data[key] !== undefined;
  let caCertPem: string | undefined;
  if (present(K.caCert)) {
    const pem = data[K.caCert] ?? "";
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      issues.push({ key: K.caCert, message: `${secretName} key caCert holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)` });
    } else {
      caCertPem = pem;
    }
  }

  let auth: Record<string, string | undefined> | undefined;
  if (present(K.cloudsYaml)) {
    const mixed = DIRECT_KEYS.filter(present);
    if (mixed.length > 0) {
      issues.push({
        key: mixed[0] ?? K.cloudsYaml,
        message: `${secretName} has clouds.yaml and also ${mixed.join(", ")}: use one or the other, not both`,
      });
    }
    const fromClouds = authFromCloudsYaml(data[K.cloudsYaml] ?? "", ref.cloud ?? data[K.cloud], secretName);
    issues.push(...fromClouds.issues);
    auth = fromClouds.auth;
  } else {
    if (present(K.cloud) && ref.cloud === undefined) {
      issues.push({ key: K.cloud, message: `${secretName} names a cloud but has no clouds.yaml key` });
    }
    auth = {};
    for (const key of DIRECT_KEYS) {
      const value = data[key];
      if (value !== undefined) auth[key] = value;
    }
  }

  if (auth !== undefined) issues.push(...authIssues(auth, secretName, present(K.cloudsYaml)));
  if (issues.length > 0 || auth === undefined) return { ok: false, issues: dedupe(issues) };

  const candidate = isApplicationCredential(auth)
    ? { kind: "applicationCredential", authUrl: auth[K.authUrl], applicationCredentialId: auth[K.applicationCredentialId], applicationCredentialSecret: auth[K.applicationCredentialSecret] }
    : {
        kind: "password",
        authUrl: auth[K.authUrl],
        username: auth[K.username],
        password: auth[K.password],
        ...defined(K.projectName, auth[K.projectName]),
        ...defined(K.projectId, auth[K.projectId]),
        ...defined(K.userDomainId, auth[K.userDomainId]),
        ...defined(K.projectDomainId, auth[K.projectDomainId]),
        // Keystone's (and glance_store's) default domain, unless an id names another.
        ...defined(K.userDomainName, auth[K.userDomainName] ?? (auth[K.userDomainId] === undefined ? DEFAULT_DOMAIN : undefined)),
        ...defined(K.projectDomainName, auth[K.projectDomainName] ?? (auth[K.projectDomainId] === undefined ? DEFAULT_DOMAIN : undefined)),
      };
  const parsed = ResolvedCredentialsSchema.safeParse({ auth: candidate, ...(caCertPem === undefined ? {} : { caCertPem }) });
  if (!parsed.success) {
    return {
      ok: false,
      issues: dedupe(
        parsed.error.issues.map((issue) => {
          const field = String(issue.path[issue.path.length - 1] ?? "auth");
          const key = present(K.cloudsYaml) ? K.cloudsYaml : field;
          const what = field === "authUrl" ? "is not an http:// or https:// URL" : "is not valid";
          return { key, message: `${secretName} ${present(K.cloudsYaml) ? `clouds.yaml ${cloudsYamlName(field)}` : `key ${key}`} ${what}` };
        }),
      ),
    };
  }
  return { ok: true, credentials: parsed.data };
}

function defined<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

function isApplicationCredential(auth: Record<string, string | undefined>): boolean {
  return APPLICATION_CREDENTIAL_KEYS.some((key) => auth[key] !== undefined);
}

// Line breaks cannot be written into a Glance config file (docs/foundations.md section 2),
// and a trailing one is the usual trace of `echo pass > file` before
// `kubectl create secret --from-file`: say so here rather than at render time.
const CONTROL_CHARACTER = /[\x00-\x08\x0A-\x1F\x7F]/;

function authIssues(auth: Record<string, string | undefined>, secretName: string, fromClouds: boolean): CredentialsIssue[] {
  const issues: CredentialsIssue[] = [];
  const where = (key: string): { key: string; label: string } =>
    fromClouds ? { key: K.cloudsYaml, label: `clouds.yaml ${cloudsYamlName(key)}` } : { key, label: `key ${key}` };
  for (const [key, value] of Object.entries(auth)) {
    if (value === undefined) continue;
    const { key: issueKey, label } = where(key);
    if (value === "") {
      issues.push({ key: issueKey, message: `${secretName} ${label} is empty` });
    } else if (CONTROL_CHARACTER.test(value)) {
      const trailing = /[\r\n]+$/.test(value) ? " (it ends with a line break: was the file made with echo? use printf or --from-literal)" : "";
      issues.push({
        key: issueKey,
        message: `${secretName} ${label} contains a line break or another control character, which a Glance config file cannot hold${trailing}`,
      });
    } else if (!/\S/.test(value) && !SECRET_VALUE_KEYS.has(key)) {
      issues.push({ key: issueKey, message: `${secretName} ${label} is only whitespace` });
    }
  }
  const authUrl = auth[K.authUrl];
  if (authUrl !== undefined && authUrl !== "" && !CONTROL_CHARACTER.test(authUrl)) {
    const { key: issueKey, label } = where(K.authUrl);
    for (const why of authUrlLeaks(authUrl)) issues.push({ key: issueKey, message: `${secretName} ${label} ${why}` });
  }
  const has = (key: string): boolean => auth[key] !== undefined;
  const need = (key: string, why: string): void => {
    if (!has(key)) issues.push({ key: where(key).key, message: `${secretName} lacks ${fromClouds ? `clouds.yaml ${cloudsYamlName(key)}` : `key ${key}`}: ${why}` });
  };
  need(K.authUrl, "the Keystone v3 URL, e.g. https://keystone.example.com/v3");
  if (isApplicationCredential(auth)) {
    const mixed = PASSWORD_KEYS.filter(has);
    if (mixed.length > 0) {
      issues.push({
        key: where(mixed[0] ?? K.password).key,
        message: `${secretName} has both an application credential and ${mixed.map((key) => (fromClouds ? cloudsYamlName(key) : key)).join(", ")}: use either a password or an application credential`,
      });
    }
    need(K.applicationCredentialId, "an application credential needs its id");
    need(K.applicationCredentialSecret, "an application credential needs its secret");
  } else {
    need(K.username, "the Keystone user glance_store authenticates as");
    need(K.password, "that user's password (or use applicationCredentialId and applicationCredentialSecret)");
    if (!has(K.projectName) && !has(K.projectId)) {
      issues.push({ key: where(K.projectName).key, message: `${secretName} lacks ${fromClouds ? "clouds.yaml auth.project_name" : "key projectName"}: the project that owns the image volumes` });
    }
  }
  return issues;
}

/**
 * What an auth URL must not carry. It is rendered into the ConfigMap as
 * cinder_store_auth_address, which anyone who can read ConfigMaps sees, so
 * user information (`https://user:pass@host/v3`) would publish a password.
 * glance_store (through keystoneauth) and the operator append
 * `/auth/tokens` to it, which lands inside a query or a fragment: such a
 * URL cannot work, and a query may hold a token. Each reason names the
 * part, never the value.
 */
export function authUrlLeaks(url: string): string[] {
  const reasons: string[] = [];
  if (URL_USER_INFO.test(url)) {
    reasons.push("holds user information (user:password@ before the host), which would be written into the ConfigMap: put the user and the password in their own keys");
  }
  if (url.includes("?")) {
    reasons.push("has a query (?...): /auth/tokens is appended to this URL, which a query breaks, and the URL is written into the ConfigMap; use the bare Keystone v3 URL");
  }
  if (url.includes("#")) {
    reasons.push("has a fragment (#...): /auth/tokens is appended to this URL, which a fragment breaks, and the URL is written into the ConfigMap; use the bare Keystone v3 URL");
  }
  return reasons;
}

const CLOUDS_AUTH_KEYS: Readonly<Record<string, string>> = {
  auth_url: K.authUrl,
  username: K.username,
  password: K.password,
  project_name: K.projectName,
  project_id: K.projectId,
  user_domain_name: K.userDomainName,
  user_domain_id: K.userDomainId,
  project_domain_name: K.projectDomainName,
  project_domain_id: K.projectDomainId,
  application_credential_id: K.applicationCredentialId,
  application_credential_secret: K.applicationCredentialSecret,
};
const CLOUDS_AUTH_TYPES = ["password", "v3password", "applicationcredential", "v3applicationcredential"];

function cloudsYamlName(key: string): string {
  const entry = Object.entries(CLOUDS_AUTH_KEYS).find(([, ours]) => ours === key);
  return `auth.${entry?.[0] ?? key}`;
}

function authFromCloudsYaml(
  text: string,
  requestedCloud: string | undefined,
  secretName: string,
): { auth?: Record<string, string | undefined>; issues: CredentialsIssue[] } {
  const key = K.cloudsYaml;
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    // The parser's message quotes the offending line, which may hold the password: report the position only.
    const position = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    return { issues: [{ key, message: `${secretName} key clouds.yaml is not valid YAML${position ? ` (line ${position.line}, column ${position.col})` : ""}` }] };
  }
  const clouds = isRecord(document) ? document["clouds"] : undefined;
  if (!isRecord(clouds) || Object.keys(clouds).length === 0) {
    return { issues: [{ key, message: `${secretName} key clouds.yaml has no "clouds" mapping with at least one cloud` }] };
  }
  const names = Object.keys(clouds);
  const cloudName = requestedCloud ?? (names.length === 1 ? names[0] : undefined);
  if (cloudName === undefined) {
    return {
      issues: [
        {
          key: K.cloud,
          message: `${secretName} clouds.yaml has several clouds (${names.join(", ")}): name one in spec.credentialsSecretRef.cloud or in the Secret key cloud`,
        },
      ],
    };
  }
  const cloud = clouds[cloudName];
  if (!isRecord(cloud)) {
    return { issues: [{ key: requestedCloud === undefined ? key : K.cloud, message: `${secretName} clouds.yaml has no cloud ${JSON.stringify(cloudName)} (it has ${names.join(", ")})` }] };
  }
  const issues: CredentialsIssue[] = [];
  const path = `clouds.${cloudName}`;
  if (cloud["cacert"] !== undefined) {
    issues.push({ key, message: `${secretName} clouds.yaml ${path}.cacert names a file, which does not exist where the operator runs: put the PEM bundle in the Secret key caCert instead` });
  }
  const authType = cloud["auth_type"];
  if (authType !== undefined && !(typeof authType === "string" && CLOUDS_AUTH_TYPES.includes(authType))) {
    issues.push({ key, message: `${secretName} clouds.yaml ${path}.auth_type must be one of ${CLOUDS_AUTH_TYPES.join(", ")}` });
  }
  const authSection = cloud["auth"];
  if (!isRecord(authSection)) {
    issues.push({ key, message: `${secretName} clouds.yaml ${path} has no auth mapping` });
    return { issues };
  }
  const auth: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(authSection)) {
    const ours = CLOUDS_AUTH_KEYS[name];
    if (ours === undefined) {
      issues.push({ key, message: `${secretName} clouds.yaml ${path}.auth.${name} is not supported (supported: ${Object.keys(CLOUDS_AUTH_KEYS).join(", ")})` });
      continue;
    }
    // YAML reads `password: 0123` as the number 123: refuse rather than guess what was meant.
    if (typeof value !== "string") {
      issues.push({ key, message: `${secretName} clouds.yaml ${path}.auth.${name} is not a string: quote it` });
      continue;
    }
    auth[ours] = value;
  }
  return { auth, issues };
}

/** A key that differs from one of ours only by case, `_`, `-` or an OS_ prefix: almost certainly meant as ours. */
function misspelledKeys(data: Readonly<Record<string, string>>, secretName: string): CredentialsIssue[] {
  const normal = (key: string): string => key.toLowerCase().replace(/^os_/, "").replace(/[-_.]/g, "");
  const ours = new Map(Object.values(CREDENTIALS_SECRET_KEYS).map((key) => [normal(key), key]));
  const known: ReadonlySet<string> = new Set(Object.values(CREDENTIALS_SECRET_KEYS));
  const issues: CredentialsIssue[] = [];
  for (const key of Object.keys(data).sort()) {
    if (known.has(key)) continue;
    const meant = ours.get(normal(key));
    if (meant !== undefined) issues.push({ key, message: `${secretName} key ${JSON.stringify(key)} is not read: did you mean ${meant}?` });
  }
  return issues;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dedupe(issues: readonly CredentialsIssue[]): CredentialsIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.key}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export type DecodeSecretResult =
  | { readonly ok: true; readonly data: Record<string, string> }
  | { readonly ok: false; readonly issues: readonly CredentialsIssue[] };

/**
 * A Secret's `data` (base64) and `stringData` as one map of strings, the way
 * the apiserver merges them (stringData wins). For manifests read from
 * files; Secrets read from the apiserver have `data` only.
 */
export function decodeSecretData(secret: { readonly data?: unknown; readonly stringData?: unknown }, secretName: string): DecodeSecretResult {
  const issues: CredentialsIssue[] = [];
  const out: Record<string, string> = {};
  if (secret.data !== undefined && secret.data !== null) {
    if (!isRecord(secret.data)) return { ok: false, issues: [{ key: "data", message: `Secret ${JSON.stringify(secretName)}: data is not a mapping` }] };
    for (const [key, value] of Object.entries(secret.data)) {
      const encoded = typeof value === "string" ? value.replace(/\s+/g, "") : undefined;
      if (encoded === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
        issues.push({ key, message: `Secret ${JSON.stringify(secretName)} data key ${key} is not base64 (use stringData for plain text)` });
        continue;
      }
      try {
        out[key] = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(encoded, "base64"));
      } catch {
        issues.push({ key, message: `Secret ${JSON.stringify(secretName)} data key ${key} is not UTF-8 text` });
      }
    }
  }
  if (secret.stringData !== undefined && secret.stringData !== null) {
    if (!isRecord(secret.stringData)) return { ok: false, issues: [{ key: "stringData", message: `Secret ${JSON.stringify(secretName)}: stringData is not a mapping` }] };
    for (const [key, value] of Object.entries(secret.stringData)) {
      if (typeof value !== "string") {
        issues.push({ key, message: `Secret ${JSON.stringify(secretName)} stringData key ${key} is not a string: quote it` });
        continue;
      }
      out[key] = value;
    }
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, data: out };
}
