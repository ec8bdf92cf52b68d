/**
 * Plain HTTPS calls to kube-apiserver with a kubeconfig's client
 * certificate: what a test needs when it must see exactly what the
 * apiserver answered (resourceVersions, watch events one by one, a
 * precondition on a delete) without a client library in between.
 */
import { readFile } from "node:fs/promises";
import { Agent, request, type Dispatcher } from "undici";
import { parse } from "yaml";

export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path} answered ${status}: ${body.slice(0, 400)}`);
  }
}

export interface WatchEvent<T = KubeObject> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: T;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name?: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly uid?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    readonly [key: string]: unknown;
  };
  readonly data?: Record<string, string>;
  readonly [key: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  readonly metadata: { readonly resourceVersion: string };
  readonly items: T[];
}

interface KubeconfigFile {
  clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
}

export class KubeRaw {
  readonly #agent: Agent;

  private constructor(
    readonly server: string,
    agent: Agent,
  ) {
    this.#agent = agent;
  }

  static async fromKubeconfig(path: string): Promise<KubeRaw> {
    const config = parse(await readFile(path, "utf8")) as KubeconfigFile;
    const cluster = config.clusters[0]?.cluster;
    const user = config.users[0]?.user;
    if (!cluster || !user) throw new Error(`${path} has no cluster or user`);
    const decode = (value: string): string => Buffer.from(value, "base64").toString("utf8");
    const agent = new Agent({
      connect: { ca: decode(cluster["certificate-authority-data"]), cert: decode(user["client-certificate-data"]), key: decode(user["client-key-data"]) },
    });
    return new KubeRaw(cluster.server, agent);
  }

  async #call(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType = "application/json"): Promise<{ status: number; text: string }> {
    const response = await request(`${this.server}${path}`, {
      method,
      dispatcher: this.#agent,
      headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": contentType }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return { status: response.statusCode, text: await response.body.text() };
  }

  async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType?: string): Promise<T> {
    const { status, text } = await this.#call(method, path, body, contentType);
    if (status < 200 || status >= 300) throw new KubeApiError(method, path, status, text);
    return JSON.parse(text) as T;
  }

  /** undefined on 404. */
  async get<T = KubeObject>(path: string): Promise<T | undefined> {
    const { status, text } = await this.#call("GET", path);
    if (status === 404) return undefined;
    if (status < 200 || status >= 300) throw new KubeApiError("GET", path, status, text);
    return JSON.parse(text) as T;
  }

  mergePatch<T = KubeObject>(path: string, patch: unknown): Promise<T> {
    return this.json<T>("PATCH", path, patch, "application/merge-patch+json");
  }

  /** Deletes only the version `resourceVersion` (a precondition): the caller knows exactly which version it removed. */
  async deleteVersion(path: string, resourceVersion: string): Promise<void> {
    await this.json("DELETE", path, { kind: "DeleteOptions", apiVersion: "v1", preconditions: { resourceVersion } });
  }

  /**
   * A watch as a stream of events, until `signal` aborts or the server ends
   * it. Throws KubeApiError when the watch is refused (410: too old a
   * resourceVersion).
   */
  async *watch<T = KubeObject>(path: string, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const response = await request(`${this.server}${path}`, {
      method: "GET",
      dispatcher: this.#agent,
      headers: { accept: "application/json" },
      headersTimeout: 30_000,
      bodyTimeout: 0,
      signal,
    });
    if (response.statusCode !== 200) {
      throw new KubeApiError("GET", path, response.statusCode, await response.body.text());
    }
    let buffered = "";
    for await (const chunk of response.body) {
      buffered += (chunk as Buffer).toString("utf8");
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== "") yield JSON.parse(line) as WatchEvent<T>;
      }
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
