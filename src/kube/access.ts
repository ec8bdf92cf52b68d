import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeconfigError, selectKubeconfig, type KubeconfigFile, type Material, type SelectedCluster, type SelectedUser } from "./kubeconfig.js";

/**
 * How to reach the apiserver: its URL, and per request the connection pool
 * and the headers that authenticate. Credentials that live in files (the
 * service account token kubelet rotates, certificates rotated on disk) are
 * read again at most every `rereadMs`, and a new pool is made only when
 * what TLS is made from changed.
 */
export interface KubeAccess {
  /** The apiserver's base URL, without a trailing slash. */
  readonly server: string;
  /** Where the settings came from, for the log (never a secret). */
  readonly source: string;
  /** The namespace of the kubeconfig context or of the pod's service account, if any. */
  readonly namespace: string | undefined;
  prepare(): Promise<PreparedConnection>;
  /** Closes the idle connections of the pool. */
  close(): void;
}

export interface PreparedConnection {
  readonly agent: http.Agent;
  readonly headers: Readonly<Record<string, string>>;
}

export interface LoadKubeAccessOptions {
  /** Kubeconfig file(s), joined by the platform's path delimiter as in KUBECONFIG. */
  readonly kubeconfig?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
  /** Where a pod's service account is mounted. */
  readonly serviceAccountDir?: string;
  readonly now?: () => number;
  readonly rereadMs?: number;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** client-go reads a service account token file again every minute; certificates rotated on disk are seen as soon. */
const DEFAULT_REREAD_MS = 60_000;

/**
 * Finds the apiserver the way kubectl and client-node's `loadFromDefault`
 * do: the given kubeconfig (or KUBECONFIG), else ~/.kube/config, else the
 * pod's service account. Kubeconfig users that authenticate with a plugin
 * (`exec`, `auth-provider`), impersonate, or a cluster behind `proxy-url`,
 * are handed to client-node, which is loaded only then.
 */
export async function loadKubeAccess(options: LoadKubeAccessOptions = {}): Promise<KubeAccess> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const rereadMs = options.rereadMs ?? DEFAULT_REREAD_MS;
  const given = options.kubeconfig ?? env["KUBECONFIG"];
  let paths: string[];
  if (given !== undefined && given !== "") {
    const listed = given.split(delimiter).filter((path) => path !== "");
    paths = listed.filter((path) => existsSync(path));
    if (paths.length === 0) throw new KubeconfigError(`no kubeconfig file at ${listed.join(", ")}: check --kubeconfig or KUBECONFIG`);
  } else {
    const home = join(options.home ?? env["HOME"] ?? homedir(), ".kube", "config");
    paths = existsSync(home) ? [home] : [];
  }
  if (paths.length === 0) {
    const host = env["KUBERNETES_SERVICE_HOST"];
    const port = env["KUBERNETES_SERVICE_PORT"];
    if (!host || !port) {
      throw new KubeconfigError("no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset): say which cluster to use");
    }
    const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
    const namespaceFile = join(dir, "namespace");
    const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : undefined;
    return new FileCredentialsAccess({
      cluster: { server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`, ca: { file: join(dir, "ca.crt") }, insecure: false, tlsServerName: undefined },
      user: { kind: "token", token: { file: join(dir, "token") } },
      namespace: namespace === "" ? undefined : namespace,
      source: `the pod's service account (${dir})`,
      now,
      rereadMs,
    });
  }
  const files: KubeconfigFile[] = await Promise.all(paths.map(async (path) => ({ path, text: await readFile(path, "utf8") })));
  const selection = selectKubeconfig(files);
  if (selection.kind === "delegated") return ClientNodeAccess.load(paths, selection.context, selection.why);
  return new FileCredentialsAccess({
    cluster: selection.cluster,
    user: selection.user,
    namespace: selection.namespace,
    source: `kubeconfig ${paths.join(delimiter)} (context ${selection.context})`,
    now,
    rereadMs,
  });
}

interface Prepared extends PreparedConnection {
  readonly readAt: number;
  readonly tlsKey: string;
}

/** Credentials from the kubeconfig or the service account, inline or in files. */
class FileCredentialsAccess implements KubeAccess {
  readonly server: string;
  readonly source: string;
  readonly namespace: string | undefined;
  readonly #cluster: SelectedCluster;
  readonly #user: SelectedUser;
  readonly #now: () => number;
  readonly #rereadMs: number;
  #prepared: Prepared | undefined;
  #reading: Promise<Prepared> | undefined;

  constructor(options: {
    cluster: SelectedCluster;
    user: SelectedUser;
    namespace: string | undefined;
    source: string;
    now: () => number;
    rereadMs: number;
  }) {
    this.server = options.cluster.server;
    this.source = options.source;
    this.namespace = options.namespace;
    this.#cluster = options.cluster;
    this.#user = options.user;
    this.#now = options.now;
    this.#rereadMs = options.rereadMs;
  }

  async prepare(): Promise<PreparedConnection> {
    const prepared = this.#prepared;
    if (prepared !== undefined && this.#now() - prepared.readAt < this.#rereadMs) return prepared;
    // One read for all the requests that found the credentials stale at once.
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  close(): void {
    this.#prepared?.agent.destroy();
  }

  async #read(): Promise<Prepared> {
    const readAt = this.#now();
    const user = this.#user;
    const [ca, cert, key, token] = await Promise.all([
      readMaterial(this.#cluster.ca, "the cluster's certificate authority"),
      readMaterial(user.kind === "certificate" ? user.cert : undefined, "the client certificate"),
      readMaterial(user.kind === "certificate" ? user.key : undefined, "the client key"),
      readMaterial(user.kind === "certificate" || user.kind === "token" ? user.token : undefined, "the bearer token"),
    ]);
    const headers: Record<string, string> = {};
    if (token !== undefined) {
      const value = token.toString("utf8").trim();
      if (value !== "") headers["Authorization"] = `Bearer ${value}`;
    }
    if (user.kind === "basic") headers["Authorization"] = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;

    const secure = this.server.startsWith("https:");
    const tlsKey = createHash("sha256")
      .update(`${this.server}\0${this.#cluster.insecure}\0${this.#cluster.tlsServerName ?? ""}\0`)
      .update(ca ?? "")
      .update("\0")
      .update(cert ?? "")
      .update("\0")
      .update(key ?? "")
      .digest("hex");
    const previous = this.#prepared;
    let agent: http.Agent;
    if (previous !== undefined && previous.tlsKey === tlsKey) {
      agent = previous.agent;
    } else {
      // Requests still running on the old pool (a watch) finish there; its idle connections close.
      previous?.agent.destroy();
      agent = secure
        ? new https.Agent({
            keepAlive: true,
            ...(ca === undefined ? {} : { ca }),
            ...(cert === undefined ? {} : { cert }),
            ...(key === undefined ? {} : { key }),
            rejectUnauthorized: !this.#cluster.insecure,
            ...(this.#cluster.tlsServerName === undefined ? {} : { servername: this.#cluster.tlsServerName }),
          })
        : new http.Agent({ keepAlive: true });
    }
    const prepared: Prepared = { agent, headers, readAt, tlsKey };
    this.#prepared = prepared;
    return prepared;
  }
}

async function readMaterial(material: Material | undefined, what: string): Promise<Buffer | undefined> {
  if (material === undefined) return undefined;
  if ("data" in material) return material.data;
  try {
    return await readFile(material.file);
  } catch (error) {
    throw new KubeconfigError(`could not read ${what} from ${material.file}: ${(error as Error).message}`);
  }
}

/**
 * A kubeconfig whose user or cluster needs what only client-node does
 * (exec and auth-provider plugins, impersonation, proxy-url). client-node
 * is imported here and only here: loading it costs the process about 70 MB.
 */
class ClientNodeAccess implements KubeAccess {
  readonly server: string;
  readonly source: string;
  readonly namespace: string | undefined;
  readonly #apply: (options: https.RequestOptions) => Promise<void>;

  private constructor(server: string, source: string, namespace: string | undefined, apply: (options: https.RequestOptions) => Promise<void>) {
    this.server = server;
    this.source = source;
    this.namespace = namespace;
    this.#apply = apply;
  }

  static async load(paths: readonly string[], context: string, why: string): Promise<ClientNodeAccess> {
    const [{ KubeConfig }, { shareConnections }] = await Promise.all([import("@kubernetes/client-node"), import("./client-node-connections.js")]);
    const kubeConfig = new KubeConfig();
    try {
      kubeConfig.loadFromFile(paths[0] ?? "");
      for (const path of paths.slice(1)) {
        const next = new KubeConfig();
        next.loadFromFile(path);
        kubeConfig.mergeConfig(next, true);
      }
    } catch (error) {
      // client-node refuses a name that two files both define, which kubectl allows (the first wins).
      throw new KubeconfigError(`client-node, which handles this kubeconfig because ${why}, could not read ${paths.join(delimiter)}: ${(error as Error).message}. Give it one kubeconfig file`);
    }
    kubeConfig.setCurrentContext(context);
    shareConnections(kubeConfig);
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeconfigError(`${paths.join(delimiter)}: context ${context} has no cluster`);
    const namespace = kubeConfig.getContextObject(context)?.namespace;
    return new ClientNodeAccess(cluster.server.replace(/\/+$/, ""), `kubeconfig ${paths.join(delimiter)} (context ${context}; ${why}, which client-node applies)`, namespace, (options) =>
      kubeConfig.applyToHTTPSOptions(options),
    );
  }

  async prepare(): Promise<PreparedConnection> {
    const options: https.RequestOptions = {};
    await this.#apply(options);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) if (typeof value === "string") headers[name] = value;
    if (typeof options.auth === "string" && options.auth !== "") headers["Authorization"] = `Basic ${Buffer.from(options.auth).toString("base64")}`;
    const agent = options.agent instanceof http.Agent ? options.agent : new https.Agent({ keepAlive: true });
    return { agent, headers };
  }

  close(): void {}
}
