import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/**
 * The part of a kubeconfig file the operator reads: its current context's
 * cluster and user. Parsing and selection are pure; reading the files and
 * making connections is src/kube/access.ts.
 */

const clusterSchema = z.looseObject({
  server: z.string().min(1),
  "certificate-authority": z.string().optional(),
  "certificate-authority-data": z.string().optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
  "tls-server-name": z.string().optional(),
  "proxy-url": z.string().optional(),
});

const userSchema = z.looseObject({
  "client-certificate": z.string().optional(),
  "client-certificate-data": z.string().optional(),
  "client-key": z.string().optional(),
  "client-key-data": z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});

const contextSchema = z.looseObject({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() });

const kubeconfigSchema = z.looseObject({
  "current-context": z.string().optional(),
  clusters: z.array(z.looseObject({ name: z.string(), cluster: clusterSchema })).nullish(),
  users: z.array(z.looseObject({ name: z.string(), user: userSchema.nullish() })).nullish(),
  contexts: z.array(z.looseObject({ name: z.string(), context: contextSchema })).nullish(),
});

/** A file's content, read from `path` (relative paths inside it are relative to its folder). */
export interface KubeconfigFile {
  readonly path: string;
  readonly text: string;
}

/** A value given inline (`*-data`, base64) or as a file to read. */
export type Material = { readonly data: Buffer } | { readonly file: string };

export interface SelectedCluster {
  readonly server: string;
  readonly ca: Material | undefined;
  readonly insecure: boolean;
  readonly tlsServerName: string | undefined;
}

export type SelectedUser =
  | { readonly kind: "certificate"; readonly cert: Material; readonly key: Material; readonly token: Material | undefined }
  | { readonly kind: "token"; readonly token: Material }
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  | { readonly kind: "anonymous" };

/** What a kubeconfig says to connect with, or which of its settings only client-node can apply. */
export type KubeconfigSelection =
  | { readonly kind: "own"; readonly context: string; readonly cluster: SelectedCluster; readonly user: SelectedUser; readonly namespace: string | undefined }
  | { readonly kind: "delegated"; readonly context: string; readonly why: string };

/** Settings of a user that need code the operator does not carry (plugins, a proxy, impersonation): client-node applies them. */
const DELEGATED_USER_FIELDS = ["exec", "auth-provider", "as", "as-uid", "as-groups", "as-user-extra"] as const;

export class KubeconfigError extends Error {
  override readonly name = "KubeconfigError";
}

/**
 * Selects the current context of one or more kubeconfig files merged as
 * kubectl merges the files of KUBECONFIG: the first file that names a
 * cluster, user or context, or sets current-context, wins.
 */
export function selectKubeconfig(files: readonly KubeconfigFile[]): KubeconfigSelection {
  if (files.length === 0) throw new KubeconfigError("no kubeconfig file to read");
  const clusters = new Map<string, { cluster: z.infer<typeof clusterSchema>; base: string }>();
  const users = new Map<string, { user: z.infer<typeof userSchema>; base: string }>();
  const contexts = new Map<string, z.infer<typeof contextSchema>>();
  let current: string | undefined;
  for (const file of files) {
    let raw: unknown;
    try {
      raw = parseYaml(file.text);
    } catch (error) {
      throw new KubeconfigError(`${file.path} is not YAML: ${(error as Error).message}`);
    }
    const parsed = kubeconfigSchema.safeParse(raw ?? {});
    if (!parsed.success) {
      throw new KubeconfigError(`${file.path} is not a kubeconfig kubectl would read: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    }
    const base = dirname(file.path);
    for (const { name, cluster } of parsed.data.clusters ?? []) if (!clusters.has(name)) clusters.set(name, { cluster, base });
    for (const { name, user } of parsed.data.users ?? []) if (!users.has(name)) users.set(name, { user: user ?? {}, base });
    for (const { name, context } of parsed.data.contexts ?? []) if (!contexts.has(name)) contexts.set(name, context);
    if (current === undefined && parsed.data["current-context"]) current = parsed.data["current-context"];
  }
  const where = files.map((file) => file.path).join(", ");
  if (current === undefined) throw new KubeconfigError(`${where} sets no current-context: run kubectl config use-context NAME`);
  const context = contexts.get(current);
  if (context === undefined) throw new KubeconfigError(`${where}: the current context ${JSON.stringify(current)} is not among its contexts (${[...contexts.keys()].join(", ") || "none"})`);
  const clusterEntry = clusters.get(context.cluster);
  if (clusterEntry === undefined) throw new KubeconfigError(`${where}: context ${JSON.stringify(current)} names cluster ${JSON.stringify(context.cluster)}, which is not among its clusters`);
  const userEntry = context.user === undefined || context.user === "" ? undefined : users.get(context.user);
  if (context.user !== undefined && context.user !== "" && userEntry === undefined) {
    throw new KubeconfigError(`${where}: context ${JSON.stringify(current)} names user ${JSON.stringify(context.user)}, which is not among its users`);
  }

  const { cluster, base: clusterBase } = clusterEntry;
  if (cluster["proxy-url"] !== undefined) return { kind: "delegated", context: current, why: "the cluster is reached through proxy-url" };
  const delegatedField = DELEGATED_USER_FIELDS.find((field) => userEntry?.user[field] !== undefined);
  if (delegatedField !== undefined) return { kind: "delegated", context: current, why: `the user authenticates with ${delegatedField}` };

  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new KubeconfigError(`${where}: cluster ${JSON.stringify(context.cluster)} has server ${JSON.stringify(cluster.server)}, which is not a URL`);
  }
  if (server.protocol !== "https:" && server.protocol !== "http:") throw new KubeconfigError(`${where}: cluster server ${cluster.server} is neither https nor http`);
  return {
    kind: "own",
    context: current,
    namespace: context.namespace,
    cluster: {
      server: cluster.server.replace(/\/+$/, ""),
      ca: material(cluster["certificate-authority-data"], cluster["certificate-authority"], clusterBase),
      insecure: cluster["insecure-skip-tls-verify"] === true,
      tlsServerName: cluster["tls-server-name"],
    },
    user: selectUser(userEntry, where),
  };
}

function selectUser(entry: { user: z.infer<typeof userSchema>; base: string } | undefined, where: string): SelectedUser {
  if (entry === undefined) return { kind: "anonymous" };
  const { user, base } = entry;
  const token: Material | undefined =
    user.token !== undefined && user.token !== "" ? { data: Buffer.from(user.token) } : user.tokenFile ? { file: isAbsolute(user.tokenFile) ? user.tokenFile : resolve(base, user.tokenFile) } : undefined;
  const cert = material(user["client-certificate-data"], user["client-certificate"], base);
  const key = material(user["client-key-data"], user["client-key"], base);
  if ((cert === undefined) !== (key === undefined)) throw new KubeconfigError(`${where}: the user has a client certificate without its key, or a key without its certificate`);
  if (cert !== undefined && key !== undefined) return { kind: "certificate", cert, key, token };
  if (token !== undefined) return { kind: "token", token };
  if (user.username !== undefined && user.password !== undefined) return { kind: "basic", username: user.username, password: user.password };
  return { kind: "anonymous" };
}

function material(data: string | undefined, file: string | undefined, base: string): Material | undefined {
  if (data !== undefined && data !== "") return { data: Buffer.from(data, "base64") };
  if (file !== undefined && file !== "") return { file: isAbsolute(file) ? file : resolve(base, file) };
  return undefined;
}
