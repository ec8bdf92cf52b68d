import type { V1ObjectMeta, V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.js";
import { apiStatusOf, describeKubeError } from "../kube/errors.js";
import { withoutManagedFields } from "./informers/resources.js";
import { secretKey } from "./indexes.js";

/** A GET of one Secret: undefined when the apiserver answers 404; any other failure rejects. */
export type SecretFetch = (namespace: string, name: string) => Promise<V1Secret | undefined>;

export interface SecretDataOptions {
  /** Every Secret's metadata (the metadata-only informer): which exist, at which resourceVersion. */
  readonly metadata: { get(namespace: string, name: string): { readonly metadata?: V1ObjectMeta } | undefined };
  /** The operator's own rendered Secrets in full (the label-selected informer). */
  readonly owned: { get(namespace: string, name: string): V1Secret | undefined };
  readonly fetch: SecretFetch;
  /** Whether a store still references the Secret: the data of one no store references is not kept. */
  readonly referenced: (namespace: string, name: string) => boolean;
}

interface Entry {
  /** Undefined: the GET answered 404 (deleted since the metadata informer saw it). */
  readonly secret: V1Secret | undefined;
  /** The resourceVersions of the metadata informer this data answers for: the one the GET was sent for, and the object's own. */
  readonly answers: ReadonlySet<string>;
}

/**
 * Secrets in full, without caching every Secret's data: the Secret informer
 * holds only metadata (so a namespace's Helm release Secrets cost their
 * names, not their megabytes), the operator's own rendered Secrets come from
 * a label-selected informer, and the credentials Secrets stores reference
 * are read with a GET when a reconcile needs them and their data is missing
 * or older than the metadata informer's resourceVersion. Their data is kept
 * until the Secret is deleted or no store references it any more.
 *
 * `get` is synchronous and answers from what was fetched: a reconcile calls
 * `ensure` for the Secrets its stores reference first. Reconciles that need
 * the same Secret at once share one GET.
 */
export class SecretData {
  readonly #options: SecretDataOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Flight>();
  #gets = 0;

  constructor(options: SecretDataOptions) {
    this.#options = options;
  }

  /**
   * The Secret in full: one of the operator's own, or a referenced one as
   * `ensure` last fetched it. Undefined when it does not exist, or when its
   * data was never fetched.
   */
  get(namespace: string, name: string): V1Secret | undefined {
    const own = this.#options.owned.get(namespace, name);
    if (own !== undefined) return own;
    if (this.#options.metadata.get(namespace, name) === undefined) return undefined;
    return this.#entries.get(secretKey(namespace, name))?.secret;
  }

  /** The Secret's metadata, whoever's it is: enough to tell whether one of that name exists. */
  metadata(namespace: string, name: string): V1ObjectMeta | undefined {
    return this.#options.owned.get(namespace, name)?.metadata ?? this.#options.metadata.get(namespace, name)?.metadata;
  }

  /**
   * Fetches the data of the named Secrets that the metadata informer shows
   * at a resourceVersion not fetched yet; a Secret it does not show is
   * taken as absent, and is not asked for. Rejects when a GET fails other
   * than with 404 (the reconcile is then retried with backoff).
   */
  async ensure(namespace: string, names: Iterable<string>, signal?: AbortSignal): Promise<void> {
    await Promise.all([...new Set(names)].map((name) => this.#ensureOne(namespace, name, signal)));
  }

  /** Drops what is kept of a Secret: it was deleted, or no store references it any more. */
  forget(namespace: string, name: string): void {
    const key = secretKey(namespace, name);
    this.#entries.delete(key);
    // A GET still running stores nothing: it is no longer the one in flight.
    this.#inFlight.delete(key);
  }

  /** How many Secrets' data is kept, and how many GETs were sent. */
  stats(): { readonly kept: number; readonly gets: number } {
    return { kept: this.#entries.size, gets: this.#gets };
  }

  async #ensureOne(namespace: string, name: string, signal: AbortSignal | undefined): Promise<void> {
    const key = secretKey(namespace, name);
    // A GET already running may have been sent before the version this caller saw: then once more, at most twice.
    for (let round = 0; round < 3; round++) {
      signal?.throwIfAborted();
      if (this.#options.owned.get(namespace, name) !== undefined) return;
      const resourceVersion = this.#options.metadata.get(namespace, name)?.metadata?.resourceVersion;
      if (resourceVersion === undefined) {
        this.#entries.delete(key);
        return;
      }
      if (this.#entries.get(key)?.answers.has(resourceVersion) === true) return;
      const flight = this.#inFlight.get(key) ?? this.#fetch(key, namespace, name, resourceVersion);
      await abortable(flight.done, signal);
    }
  }

  /** Starts the GET, registered as the one in flight for `key`; what it finds is kept only if it still is when it answers. */
  #fetch(key: string, namespace: string, name: string, resourceVersion: string): Flight {
    this.#gets++;
    const flight = {} as Flight;
    this.#inFlight.set(key, flight);
    const current = (): boolean => this.#inFlight.get(key) === flight;
    flight.done = (async () => {
      try {
        const fetched = await this.#options.fetch(namespace, name);
        if (!current() || !this.#options.referenced(namespace, name)) return;
        const secret = fetched === undefined ? undefined : withoutManagedFields(fetched);
        const answers = new Set([resourceVersion]);
        if (secret?.metadata?.resourceVersion !== undefined) answers.add(secret.metadata.resourceVersion);
        this.#entries.set(key, { secret, answers });
      } finally {
        if (current()) this.#inFlight.delete(key);
      }
    })();
    return flight;
  }
}

interface Flight {
  done: Promise<void>;
}

/** Resolves or rejects with `promise`, or rejects as soon as `signal` aborts (the promise runs on, for others). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** GET /api/v1/namespaces/<ns>/secrets/<name>, with the client's 30 s deadline; 404 as undefined. */
export function secretFetcher(kube: KubeClient): SecretFetch {
  return async (namespace, name) => {
    try {
      return await kube.request<V1Secret>({ method: "GET", path: `/api/v1/namespaces/${namespace}/secrets/${name}` });
    } catch (error) {
      if (apiStatusOf(error) === 404) return undefined;
      const described = describeKubeError(error);
      throw new Error(`reading Secret ${namespace}/${name} (a store's spec.credentialsSecretRef) failed: ${described.message}`, { cause: error });
    }
  };
}
