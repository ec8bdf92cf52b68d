import type { IncomingMessage } from "node:http";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { systemClock, type CancelTimer, type Clock } from "../../runtime/clock.js";
import type { InformerMetrics, InformerRestartReason } from "../../runtime/metrics.js";
import { readBody, type KubeClient, type KubeStream } from "../../kube/client.js";
import { apiStatusOf } from "../../kube/errors.js";
import { apiErrorFrom, timeoutSignal } from "./kube-http.js";
import { acceptHeader, apiVersionOf, collectionPath, resourceName, type ResourceType } from "./resources.js";

export interface InformerBackoff {
  /** Wait before the first restart after a failure. */
  readonly initialMs: number;
  /** Longest wait between restarts. */
  readonly maxMs: number;
  /** A watch that stayed connected this long resets the backoff to `initialMs`. */
  readonly resetAfterMs: number;
}

export interface InformerOptions<T extends KubernetesObject> {
  readonly kube: KubeClient;
  readonly type: ResourceType<T>;
  /** Namespaces to watch, one list-and-watch each; omitted or empty means all namespaces (one cluster-wide watch). */
  readonly namespaces?: readonly string[];
  /** Server-side label selector, e.g. `app.kubernetes.io/managed-by=glance-store-operator`. */
  readonly labelSelector?: string;
  readonly logger: Logger;
  readonly metrics?: InformerMetrics;
  readonly clock?: Clock;
  /** Defaults: client-go's reflector backoff, 800 ms doubling to 30 s, reset after 2 min of health. */
  readonly backoff?: Partial<InformerBackoff>;
  /**
   * A watch with no event and no bookmark for this long is taken for dead
   * (a half-open connection, a stuck apiserver) and restarted. The apiserver
   * sends a bookmark about every minute, so the default of 3 min only fires
   * on a watch that really went silent.
   */
  readonly watchdogMs?: number;
  /** Deadline of a list page, and of a watch's response headers. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /**
   * The apiserver ends each watch after a random time between this and twice
   * this (client-go's 5 to 10 min), and the watch resumes from its last
   * resourceVersion; long-lived connections are refreshed that way.
   */
  readonly serverWatchTimeoutSeconds?: number;
  /** Objects per list page. Default 500. */
  readonly pageSize?: number;
  /** In [0, 1); jitters backoff and watch timeouts. Injected so tests are deterministic. */
  readonly random?: () => number;
}

/**
 * The values an object is filed under in one index, e.g. `["openstack/glance-api"]`
 * for an index of GlanceStores by target. It gets every cached object, valid or not,
 * and must not throw (an object it throws for is filed under nothing).
 */
export type IndexFunction<T> = (object: T) => readonly string[];

export interface InformerHandlers<T> {
  add?(object: T): void;
  /** `old` is the object as this informer last saw it. */
  update?(old: T, object: T): void;
  /** The object's last state: from the DELETED event, or from the cache when a re-list found it gone. */
  delete?(object: T): void;
}

export interface InformerHealth {
  readonly resource: string;
  /** Every namespace was listed at least once; reads from the cache are meaningful. */
  readonly synced: boolean;
  /** The restart machinery made no progress for far longer than any backoff or deadline allows. */
  readonly wedged: boolean;
  readonly detail: string;
}

export interface InformerStats {
  readonly restarts: Readonly<Record<InformerRestartReason, number>>;
  /** Full lists (each may span several pages): the first one, and every re-list after a restart or a 410. */
  readonly lists: number;
  /** Watch requests opened, including resumptions after the apiserver ended a watch normally. */
  readonly watches: number;
  /** List or watch requests open right now, over all namespaces. */
  readonly openRequests: number;
  /** The most requests ever open at once for one namespace (1 when restarts never overlap). */
  readonly maxOpenRequestsPerNamespace: number;
}

const DEFAULT_BACKOFF: InformerBackoff = { initialMs: 800, maxMs: 30_000, resetAfterMs: 120_000 };

/**
 * A list-and-watch cache of one resource type, as client-go's reflector
 * keeps one: list (in pages), watch from the list's resourceVersion with
 * bookmarks, resume a watch the apiserver ended from the last
 * resourceVersion seen, and list again on 410 (Gone), diffing the new list
 * into add/update/delete. Besides:
 *
 * - Every other error restarts the informer after an exponential backoff.
 *   A restart is a new epoch that lists again (so changes made while
 *   nothing was watching are seen) and whose list is diffed against this
 *   cache; the old epoch is aborted and its connection closed before the new
 *   one opens, so there are never two watches at once.
 * - A watchdog restarts a watch that went silent (no event, no bookmark).
 * - Every request has a deadline, so a stuck apiserver cannot hang a list.
 *
 * The cache is read-only for callers and holds what the apiserver sent,
 * decoded by the resource type.
 */
export class Informer<T extends KubernetesObject> {
  readonly resource: string;
  readonly #scopes: ScopeRunner<T>[];
  readonly #allNamespaces: boolean;
  readonly #handlers = new Set<InformerHandlers<T>>();
  readonly #indexes = new Map<string, Index<T>>();
  readonly #logger: Logger;
  #syncWaiters: (() => void)[] = [];

  constructor(options: InformerOptions<T>) {
    this.resource = resourceName(options.type);
    const namespaces = [...new Set(options.namespaces ?? [])];
    if (!options.type.namespaced && namespaces.length > 0) {
      throw new Error(`${this.resource} is cluster-scoped: an informer for it cannot be limited to namespaces ${namespaces.join(", ")}`);
    }
    for (const namespace of namespaces) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
        throw new Error(`${JSON.stringify(namespace)} is not a valid namespace name (lower-case letters, digits and '-'); fix the watched namespaces`);
      }
    }
    this.#allNamespaces = namespaces.length === 0;
    this.#logger = options.logger.child({ resource: this.resource });
    const shared: SharedConfig<T> = {
      kube: options.kube,
      type: options.type,
      labelSelector: options.labelSelector,
      logger: this.#logger,
      metrics: options.metrics,
      clock: options.clock ?? systemClock,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      watchdogMs: options.watchdogMs ?? 180_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
      serverWatchTimeoutSeconds: options.serverWatchTimeoutSeconds ?? 300,
      pageSize: options.pageSize ?? 500,
      random: options.random ?? Math.random,
      resource: this.resource,
      emit: (event) => this.#emit(event),
      stored: (key, object) => {
        for (const index of this.#indexes.values()) index.file(key, object);
      },
      onSynced: () => this.#checkSynced(),
    };
    this.#scopes = this.#allNamespaces ? [new ScopeRunner(shared, undefined)] : namespaces.map((namespace) => new ScopeRunner(shared, namespace));
  }

  /** Starts listing and watching; idempotent. */
  start(): void {
    for (const scope of this.#scopes) scope.start();
  }

  /** Stops every watch and timer; resolves once their connections are closed. The cache is kept. */
  async stop(): Promise<void> {
    await Promise.all(this.#scopes.map((scope) => scope.stop()));
  }

  hasSynced(): boolean {
    return this.#scopes.every((scope) => scope.synced);
  }

  /** Resolves once every watched namespace was listed; rejects if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason ?? new Error(`gave up waiting for the ${this.resource} informer to sync`));
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /** One object by namespace (`""` for cluster-scoped types) and name. */
  get(namespace: string, name: string): T | undefined {
    return this.#scopeFor(namespace)?.objects.get(objectKey(namespace, name));
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    if (namespace === undefined) return this.#scopes.flatMap((scope) => [...scope.objects.values()]);
    const scope = this.#scopeFor(namespace);
    if (scope === undefined) return [];
    const objects = [...scope.objects.values()];
    return this.#allNamespaces ? objects.filter((o) => (o.metadata?.namespace ?? "") === namespace) : objects;
  }

  /**
   * Adds an index: `byIndex(name, value)` then answers from it instead of a
   * scan of the cache. Kept up to date as objects are added, changed and
   * deleted, before any handler hears of the change. Objects already cached
   * are filed at once.
   */
  addIndex(name: string, fn: IndexFunction<T>): void {
    if (this.#indexes.has(name)) throw new Error(`the ${this.resource} informer has an index ${name} already`);
    const index = new Index(fn, (error, object) => this.#logger.error({ err: error, index: name, object: describeObject(object) }, "an index function threw; the object is left out of that index"));
    for (const scope of this.#scopes) for (const [key, object] of scope.objects) index.file(key, object);
    this.#indexes.set(name, index);
  }

  /** The cached objects filed under `value` in the index `name`. */
  byIndex(name: string, value: string): T[] {
    return this.#index(name).objects(value);
  }

  /** Every value the index `name` has objects under. */
  indexValues(name: string): string[] {
    return this.#index(name).values();
  }

  #index(name: string): Index<T> {
    const index = this.#indexes.get(name);
    if (index === undefined) throw new Error(`the ${this.resource} informer has no index ${name}`);
    return index;
  }

  /**
   * Registers event handlers; returns a function that removes them. With
   * `replay` (default) the objects already cached are delivered as adds first,
   * as client-go does for a handler added late.
   */
  addHandlers(handlers: InformerHandlers<T>, options: { replay?: boolean } = {}): () => void {
    this.#handlers.add(handlers);
    if (options.replay ?? true) {
      for (const object of this.list()) this.#call(handlers, { type: "add", object });
    }
    return () => {
      this.#handlers.delete(handlers);
    };
  }

  health(): InformerHealth {
    const synced = this.hasSynced();
    const wedgedScopes = this.#scopes.filter((scope) => scope.wedged());
    const restarting = this.#scopes.filter((scope) => scope.restarting);
    const parts = [synced ? "synced" : "not synced yet"];
    if (restarting.length > 0) parts.push(`restarting in ${restarting.map((s) => s.label).join(", ")}`);
    if (wedgedScopes.length > 0) parts.push(`wedged in ${wedgedScopes.map((s) => s.label).join(", ")}`);
    return { resource: this.resource, synced, wedged: wedgedScopes.length > 0, detail: parts.join("; ") };
  }

  stats(): InformerStats {
    const sum = (pick: (scope: ScopeRunner<T>) => number): number => this.#scopes.reduce((total, scope) => total + pick(scope), 0);
    return {
      restarts: { error: sum((s) => s.restarts.error), silent: sum((s) => s.restarts.silent) },
      lists: sum((s) => s.lists),
      watches: sum((s) => s.watches),
      openRequests: sum((s) => s.openRequests),
      maxOpenRequestsPerNamespace: Math.max(...this.#scopes.map((s) => s.maxOpenRequests)),
    };
  }

  #scopeFor(namespace: string): ScopeRunner<T> | undefined {
    return this.#allNamespaces ? this.#scopes[0] : this.#scopes.find((scope) => scope.namespace === namespace);
  }

  #emit(event: InformerEvent<T>): void {
    for (const handlers of this.#handlers) this.#call(handlers, event);
  }

  #call(handlers: InformerHandlers<T>, event: InformerEvent<T>): void {
    try {
      switch (event.type) {
        case "add":
          handlers.add?.(event.object);
          break;
        case "update":
          handlers.update?.(event.old, event.object);
          break;
        case "delete":
          handlers.delete?.(event.object);
          break;
      }
    } catch (error) {
      // A handler bug must not stop the informer or the other handlers.
      this.#logger.error({ err: error, event: event.type, object: describeObject(event.object) }, "informer event handler threw");
    }
  }

  #checkSynced(): void {
    if (!this.hasSynced()) return;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

type InformerEvent<T> = { type: "add"; object: T } | { type: "update"; old: T; object: T } | { type: "delete"; object: T };

interface SharedConfig<T extends KubernetesObject> {
  readonly kube: KubeClient;
  readonly type: ResourceType<T>;
  readonly labelSelector: string | undefined;
  readonly logger: Logger;
  readonly metrics: InformerMetrics | undefined;
  readonly clock: Clock;
  readonly backoff: InformerBackoff;
  readonly watchdogMs: number;
  readonly requestTimeoutMs: number;
  readonly serverWatchTimeoutSeconds: number;
  readonly pageSize: number;
  readonly random: () => number;
  readonly resource: string;
  readonly emit: (event: InformerEvent<T>) => void;
  /** Called on every change of the cache, before `emit`: the object now under `key`, or undefined once it is gone. */
  readonly stored: (key: string, object: T | undefined) => void;
  readonly onSynced: () => void;
}

/** Raised into an epoch that was replaced, so its late callbacks are recognised and dropped. */
class EpochEndedError extends Error {
  override readonly name = "EpochEndedError";
}

interface Epoch {
  readonly id: number;
  readonly abort: AbortController;
  /** Where the next watch resumes; empty: list first. */
  resourceVersion: string;
  connectedAt: number | undefined;
  openRequests: number;
  closedWaiters: (() => void)[];
}

/** The list-and-watch of one namespace (or of all), restarted epoch by epoch. */
class ScopeRunner<T extends KubernetesObject> {
  readonly namespace: string | undefined;
  readonly label: string;
  readonly objects = new Map<string, T>();
  synced = false;
  restarting = false;
  readonly restarts: Record<InformerRestartReason, number> = { error: 0, silent: 0 };
  lists = 0;
  watches = 0;
  openRequests = 0;
  maxOpenRequests = 0;

  readonly #shared: SharedConfig<T>;
  readonly #path: string;
  readonly #logger: Logger;
  #epoch: Epoch | undefined;
  #nextEpochId = 1;
  #failures = 0;
  #running = false;
  #lastProgressAt = 0;
  #cancelRestart: CancelTimer | undefined;
  #cancelWatchdog: CancelTimer | undefined;

  constructor(shared: SharedConfig<T>, namespace: string | undefined) {
    this.#shared = shared;
    this.namespace = namespace;
    this.label = namespace === undefined ? "all namespaces" : `namespace ${namespace}`;
    this.#path = collectionPath(shared.type, namespace);
    this.#logger = namespace === undefined ? shared.logger : shared.logger.child({ namespace });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#begin();
    this.#armWatchdog();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.restarting = false;
    this.#cancelRestart?.();
    this.#cancelRestart = undefined;
    this.#cancelWatchdog?.();
    this.#cancelWatchdog = undefined;
    const epoch = this.#epoch;
    this.#epoch = undefined;
    if (epoch !== undefined) {
      epoch.abort.abort(new EpochEndedError(`the ${this.#shared.resource} informer was stopped`));
      await this.#closed(epoch);
    }
  }

  wedged(): boolean {
    if (!this.#running) return false;
    const { watchdogMs, backoff, requestTimeoutMs } = this.#shared;
    return this.#shared.clock.now() - this.#lastProgressAt > 2 * (watchdogMs + backoff.maxMs + requestTimeoutMs);
  }

  #begin(): void {
    const epoch: Epoch = {
      id: this.#nextEpochId++,
      abort: new AbortController(),
      resourceVersion: "",
      connectedAt: undefined,
      openRequests: 0,
      closedWaiters: [],
    };
    this.#epoch = epoch;
    this.#progress();
    this.#run(epoch).catch((error: unknown) => this.#failed(epoch, error));
  }

  /** Lists, then watches and resumes watching until an error ends the epoch; lists again after a 410. */
  async #run(epoch: Epoch): Promise<void> {
    for (;;) {
      this.#checkCurrent(epoch);
      if (epoch.resourceVersion === "") {
        const { items, resourceVersion } = await this.#list(epoch);
        this.#applyList(epoch, items);
        epoch.resourceVersion = resourceVersion;
      }
      await this.#watch(epoch);
    }
  }

  async #list(epoch: Epoch): Promise<{ items: T[]; resourceVersion: string }> {
    this.#checkCurrent(epoch);
    this.lists++;
    const { type, labelSelector, pageSize, requestTimeoutMs, clock } = this.#shared;
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    do {
      const timeout = timeoutSignal(clock, requestTimeoutMs, `listing ${this.#shared.resource} in ${this.label}`);
      const request = this.#request(epoch, this.#path, { labelSelector, limit: String(pageSize), continue: continueToken }, timeout.signal, acceptHeader(type, "list"));
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: KubernetesObject[] };
      try {
        const response = await request.response;
        if (response.statusCode !== 200) throw await apiErrorFrom(response, `listing ${this.#shared.resource} in ${this.label}`);
        page = JSON.parse(await readBody(response)) as typeof page;
      } finally {
        timeout.cancel();
        // The next request (a page or the watch) opens only once this connection is gone.
        await request.closed;
      }
      this.#checkCurrent(epoch);
      this.#progress();
      resourceVersion ||= page.metadata?.resourceVersion ?? "";
      continueToken = page.metadata?.continue || undefined;
      for (const raw of page.items ?? []) {
        // List items carry no apiVersion/kind; watch events do. Make them alike.
        const decoded = this.#decode({ ...raw, apiVersion: raw.apiVersion ?? apiVersionOf(type), kind: raw.kind ?? type.kind });
        if (decoded !== undefined) items.push(decoded);
      }
    } while (continueToken !== undefined);
    return { items, resourceVersion };
  }

  /**
   * One watch from `epoch.resourceVersion`. Resolves once it ended and its
   * connection is gone: normally (the server's timeout; watch again from the
   * last resourceVersion) or with 410 (resourceVersion emptied: list again).
   * Rejects on any other failure.
   */
  #watch(epoch: Epoch): Promise<void> {
    this.#checkCurrent(epoch);
    this.watches++;
    const { requestTimeoutMs, serverWatchTimeoutSeconds, random, clock, labelSelector } = this.#shared;
    const controller = new AbortController();
    const timeout = timeoutSignal(clock, requestTimeoutMs, `watching ${this.#shared.resource} in ${this.label}`);
    const request = this.#request(
      epoch,
      this.#path,
      {
        watch: "true",
        allowWatchBookmarks: "true",
        resourceVersion: epoch.resourceVersion,
        labelSelector,
        timeoutSeconds: String(Math.floor(serverWatchTimeoutSeconds * (1 + random()))),
      },
      AbortSignal.any([controller.signal, timeout.signal]),
      acceptHeader(this.#shared.type, "watch"),
    );
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (error: unknown): void => {
        if (finished) return;
        finished = true;
        timeout.cancel();
        controller.abort();
        // The next request (a watch, or a list after 410) opens only once this connection is gone.
        void request.closed.then(() => {
          if (error === null || error === undefined) {
            resolve();
          } else if (apiStatusOf(error) === 410) {
            epoch.resourceVersion = "";
            resolve();
          } else {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      };
      request.response.then(
        (response) => {
          timeout.cancel();
          if (response.statusCode !== 200) {
            apiErrorFrom(response, `watching ${this.#shared.resource} in ${this.label}`).then(finish, finish);
            return;
          }
          epoch.connectedAt = clock.now();
          this.#progress();
          this.#stream(epoch, response, finish);
        },
        (error: unknown) => finish(error),
      );
    });
  }

  #stream(epoch: Epoch, response: IncomingMessage, finish: (error: unknown) => void): void {
    response.setEncoding("utf8");
    let buffered = "";
    response.on("data", (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== "" && epoch === this.#epoch) this.#deliver(epoch, line);
      }
    });
    response.once("end", () => finish(null));
    response.on("error", (error) => finish(error));
    response.once("close", () => {
      finish(response.complete ? null : new Error(`the watch of ${this.#shared.resource} in ${this.label} was cut off before the apiserver ended it`));
    });
  }

  #deliver(epoch: Epoch, line: string): void {
    let event: { type?: string; object?: KubernetesObject & { code?: unknown } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      this.#logger.warn({ length: line.length }, "ignored a watch line that is not JSON");
      return;
    }
    this.#progress();
    const { type, object } = event;
    if (type === undefined || object === undefined) return;
    if (type === "ERROR") {
      // The apiserver ends the watch after this event. 410: what we had is gone from its history, list again; otherwise resume.
      if (object.code === 410) epoch.resourceVersion = "";
      this.#logger.info({ status: object }, "the apiserver ended the watch with an error event; resuming or re-listing");
      return;
    }
    if (type === "ADDED" || type === "MODIFIED") {
      const decoded = this.#decode(object);
      if (decoded !== undefined) this.#upsert(epoch, decoded);
    } else if (type === "DELETED") {
      this.#remove(epoch, keyOf(object));
    } else if (type !== "BOOKMARK") {
      return;
    }
    const resourceVersion = object.metadata?.resourceVersion;
    if (resourceVersion !== undefined && resourceVersion !== "") epoch.resourceVersion = resourceVersion;
  }

  #decode(raw: KubernetesObject): T | undefined {
    try {
      return this.#shared.type.decode(raw);
    } catch (error) {
      this.#logger.error({ err: error, object: describeObject(raw) }, "could not decode an object; it is left out of the cache");
      return undefined;
    }
  }

  /** Opens a request of `epoch`, counting it until its connection is gone. */
  #request(epoch: Epoch, path: string, query: Record<string, string | undefined>, signal: AbortSignal, accept: string): KubeStream {
    epoch.openRequests++;
    this.openRequests++;
    this.maxOpenRequests = Math.max(this.maxOpenRequests, this.openRequests);
    const request = this.#shared.kube.open(path, query, AbortSignal.any([epoch.abort.signal, signal]), accept);
    void request.closed.then(() => {
      epoch.openRequests--;
      this.openRequests--;
      if (epoch.openRequests === 0) {
        const waiters = epoch.closedWaiters;
        epoch.closedWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
    return request;
  }

  #closed(epoch: Epoch): Promise<void> {
    if (epoch.openRequests === 0) return Promise.resolve();
    return new Promise((resolve) => epoch.closedWaiters.push(resolve));
  }

  /** Applies a full list: objects cached before (an earlier epoch, or before a 410) that it does not hold were deleted while nothing watched. */
  #applyList(epoch: Epoch, items: readonly T[]): void {
    this.#checkCurrent(epoch);
    const listed = new Set<string>();
    for (const object of items) {
      listed.add(keyOf(object));
      this.#upsert(epoch, object);
    }
    for (const key of [...this.objects.keys()]) {
      if (!listed.has(key)) this.#remove(epoch, key);
    }
    if (!this.synced) {
      this.synced = true;
      this.#logger.debug({ objects: this.objects.size }, "informer synced");
      this.#shared.onSynced();
    }
  }

  #upsert(epoch: Epoch, object: T): void {
    if (epoch !== this.#epoch) return;
    const key = keyOf(object);
    const old = this.objects.get(key);
    this.objects.set(key, object);
    this.#shared.stored(key, object);
    if (old === undefined) {
      this.#shared.emit({ type: "add", object });
    } else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion || old.metadata?.resourceVersion === undefined) {
      this.#shared.emit({ type: "update", old, object });
    }
  }

  #remove(epoch: Epoch, key: string): void {
    if (epoch !== this.#epoch) return;
    const object = this.objects.get(key);
    if (object !== undefined && this.objects.delete(key)) {
      this.#shared.stored(key, undefined);
      this.#shared.emit({ type: "delete", object });
    }
  }

  #failed(epoch: Epoch, error: unknown): void {
    if (epoch !== this.#epoch || error instanceof EpochEndedError || !this.#running) return;
    this.#restart("error", error);
  }

  #restart(reason: InformerRestartReason, error?: unknown): void {
    if (!this.#running || this.restarting) return;
    const { clock, backoff, random, metrics, resource } = this.#shared;
    const old = this.#epoch;
    this.#epoch = undefined;
    this.restarting = true;
    const now = clock.now();
    if (old?.connectedAt !== undefined && now - old.connectedAt >= backoff.resetAfterMs) this.#failures = 0;
    const attempt = ++this.#failures;
    const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 30));
    // Up to 50 % more at random, so many informers do not come back in step.
    const delayMs = Math.round(Math.min(backoff.maxMs, ceiling * (1 + 0.5 * random())));
    this.restarts[reason]++;
    metrics?.informerRestarted(resource, reason);
    this.#logger.warn(
      {
        reason,
        attempt,
        delayMs,
        ...(error === undefined ? { silentForMs: now - this.#lastProgressAt } : { err: error }),
      },
      reason === "silent" ? "watch went silent; restarting the informer" : "list or watch failed; restarting the informer",
    );
    old?.abort.abort(new EpochEndedError(`the ${resource} informer is restarting (${reason})`));
    this.#cancelRestart = clock.setTimer(() => {
      this.#cancelRestart = undefined;
      // Only once the old connection is gone: never two watches at once.
      const ready = old === undefined ? Promise.resolve() : this.#closed(old);
      void ready.then(() => {
        if (!this.#running || !this.restarting) return;
        this.restarting = false;
        this.#begin();
      });
    }, delayMs);
  }

  #armWatchdog(): void {
    const { clock, watchdogMs } = this.#shared;
    const every = Math.min(Math.max(Math.floor(watchdogMs / 4), 10), 15_000);
    const tick = (): void => {
      if (!this.#running) return;
      if (!this.restarting && this.#epoch !== undefined && clock.now() - this.#lastProgressAt > watchdogMs) {
        this.#restart("silent");
      }
      this.#cancelWatchdog = clock.setTimer(tick, every);
    };
    this.#cancelWatchdog = clock.setTimer(tick, every);
  }

  #progress(): void {
    this.#lastProgressAt = this.#shared.clock.now();
  }

  #checkCurrent(epoch: Epoch): void {
    if (epoch !== this.#epoch) throw new EpochEndedError(`a list of an ended epoch of the ${this.#shared.resource} informer`);
  }
}

/** One index: value -> the objects filed under it (by cache key), and key -> its values, to unfile an object that changed. */
class Index<T> {
  readonly #fn: IndexFunction<T>;
  readonly #onError: (error: unknown, object: T) => void;
  readonly #byValue = new Map<string, Map<string, T>>();
  readonly #valuesOf = new Map<string, readonly string[]>();

  constructor(fn: IndexFunction<T>, onError: (error: unknown, object: T) => void) {
    this.#fn = fn;
    this.#onError = onError;
  }

  file(key: string, object: T | undefined): void {
    const before = this.#valuesOf.get(key) ?? [];
    const after = object === undefined ? [] : this.#valuesFor(object);
    for (const value of before) {
      if (after.includes(value)) continue;
      const bucket = this.#byValue.get(value);
      bucket?.delete(key);
      if (bucket?.size === 0) this.#byValue.delete(value);
    }
    for (const value of after) {
      let bucket = this.#byValue.get(value);
      if (bucket === undefined) this.#byValue.set(value, (bucket = new Map()));
      bucket.set(key, object as T);
    }
    if (after.length === 0) this.#valuesOf.delete(key);
    else this.#valuesOf.set(key, after);
  }

  objects(value: string): T[] {
    return [...(this.#byValue.get(value)?.values() ?? [])];
  }

  values(): string[] {
    return [...this.#byValue.keys()];
  }

  #valuesFor(object: T): readonly string[] {
    try {
      return [...new Set(this.#fn(object))];
    } catch (error) {
      this.#onError(error, object);
      return [];
    }
  }
}

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function keyOf(object: KubernetesObject): string {
  return objectKey(object.metadata?.namespace ?? "", object.metadata?.name ?? "");
}

function describeObject(object: KubernetesObject | undefined): string {
  return `${object?.kind ?? "?"} ${object?.metadata?.namespace ?? ""}/${object?.metadata?.name ?? "?"}`;
}
