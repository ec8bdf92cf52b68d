import { createHash } from "node:crypto";
import { z } from "zod";

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
 * (one token and one volume-type list per set). It is a hash, so it can be
 * logged and used as a map key without exposing the secret it covers.
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
