/**
 * Records every version of some Kubernetes objects as the apiserver holds
 * them: a LIST, then a raw WATCH from its resourceVersion (with bookmarks),
 * resumed from the last resourceVersion seen whenever the stream ends or the
 * apiserver goes away. A resumption the apiserver refuses (410: the watch
 * cache no longer holds that resourceVersion, e.g. after a restart) falls
 * back to a LIST; what changed unseen in between is recorded as a gap, so a
 * test knows when its record is not complete.
 */
import { setTimeout as delay } from "node:timers/promises";
import { waitFor } from "../../src/devstack/wait.js";
import { KubeApiError, type KubeList, type KubeObject, type KubeRaw, type WatchEvent } from "../support/kube-raw.js";

export interface RecordedVersion {
  /** LISTED: what the first LIST held; RELISTED: seen only by a LIST after a refused resumption (a gap may precede it). */
  readonly type: "LISTED" | "ADDED" | "MODIFIED" | "DELETED" | "RELISTED" | "RELISTED-DELETED";
  readonly name: string;
  /** The object's resourceVersion; for a DELETED event, the revision of the deletion. */
  readonly rv: bigint;
  /** undefined when the version is an absence (deleted, or not there at the first LIST). */
  readonly object: KubeObject | undefined;
  /** Date.now() when the recorder got it. */
  readonly at: number;
  /** Changes may have happened unseen just before this version. */
  readonly gap: boolean;
}

export interface RecorderOptions {
  /** e.g. /api/v1/namespaces/openstack/configmaps */
  readonly collection: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** Called for every version as it arrives (after it is recorded). */
  readonly onVersion?: (version: RecordedVersion) => void;
}

export class ResourceRecorder {
  readonly versions: RecordedVersion[] = [];
  /** The first LIST's resourceVersion. */
  startRv = 0n;
  readonly #raw: KubeRaw;
  readonly #options: RecorderOptions;
  readonly #abort = new AbortController();
  #lastRv = "";
  #loop: Promise<void> | undefined;
  #gaps = 0;
  #watches = 0;

  constructor(raw: KubeRaw, options: RecorderOptions) {
    this.#raw = raw;
    this.#options = options;
  }

  get gaps(): number {
    return this.#gaps;
  }

  /** Watch requests opened (the first and every resumption). */
  get watches(): number {
    return this.#watches;
  }

  #query(extra: Record<string, string>): string {
    const params = new URLSearchParams();
    if (this.#options.fieldSelector) params.set("fieldSelector", this.#options.fieldSelector);
    if (this.#options.labelSelector) params.set("labelSelector", this.#options.labelSelector);
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return `${this.#options.collection}?${params.toString()}`;
  }

  async #list(): Promise<KubeList> {
    return this.#raw.json<KubeList>("GET", this.#query({}));
  }

  #record(version: RecordedVersion): void {
    this.versions.push(version);
    this.#options.onVersion?.(version);
  }

  /** The latest version of each object name, present or not. */
  latest(): Map<string, RecordedVersion> {
    const latest = new Map<string, RecordedVersion>();
    for (const version of this.versions) latest.set(version.name, version);
    return latest;
  }

  async start(): Promise<void> {
    const list = await this.#list();
    this.startRv = BigInt(list.metadata.resourceVersion);
    const at = Date.now();
    for (const item of list.items) {
      this.#record({ type: "LISTED", name: item.metadata.name ?? "", rv: BigInt(item.metadata.resourceVersion ?? "0"), object: item, at, gap: false });
    }
    this.#lastRv = list.metadata.resourceVersion;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let expired = false;
      try {
        this.#watches++;
        const path = this.#query({ watch: "1", allowWatchBookmarks: "true", resourceVersion: this.#lastRv, timeoutSeconds: "300" });
        for await (const event of this.#raw.watch(path, signal)) {
          const next = this.#handle(event);
          if (next === "expired") expired = true;
          if (next !== "more") break;
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof KubeApiError && error.status === 410) expired = true;
        // Otherwise the apiserver is away (stopped, or the path to it cut): try again soon.
      }
      if (signal.aborted) return;
      if (expired) {
        try {
          await this.#relist();
          continue;
        } catch {
          // The apiserver went away again: the next watch is refused with 410 again and the LIST retried.
        }
      }
      await delay(100, undefined, { signal }).catch(() => undefined);
    }
  }

  #handle(event: WatchEvent): "more" | "reopen" | "expired" {
    if (event.type === "ERROR") {
      // A Status: 410 when the resourceVersion is too old for the watch cache.
      return (event.object as unknown as { code?: number }).code === 410 ? "expired" : "reopen";
    }
    const rv = event.object.metadata?.resourceVersion;
    if (rv === undefined) return "more";
    this.#lastRv = rv;
    if (event.type === "BOOKMARK") return "more";
    this.#record({ type: event.type, name: event.object.metadata.name ?? "", rv: BigInt(rv), object: event.type === "DELETED" ? undefined : event.object, at: Date.now(), gap: false });
    return "more";
  }

  async #relist(): Promise<void> {
    const list = await this.#list();
    const at = Date.now();
    const latest = this.latest();
    const listed = new Set<string>();
    for (const item of list.items) {
      const name = item.metadata.name ?? "";
      listed.add(name);
      const known = latest.get(name);
      const rv = BigInt(item.metadata.resourceVersion ?? "0");
      if (known?.object !== undefined && known.rv === rv) continue;
      this.#gaps++;
      this.#record({ type: "RELISTED", name, rv, object: item, at, gap: true });
    }
    for (const [name, known] of latest) {
      if (listed.has(name) || known.object === undefined) continue;
      this.#gaps++;
      this.#record({ type: "RELISTED-DELETED", name, rv: BigInt(list.metadata.resourceVersion), object: undefined, at, gap: true });
    }
    this.#lastRv = list.metadata.resourceVersion;
  }

  /**
   * Waits until the record holds what a fresh LIST holds: every object at
   * its listed resourceVersion, and nothing the LIST no longer has. After
   * that, every version up to the LIST is in the record.
   */
  async caughtUp(timeoutMs = 15_000): Promise<void> {
    await waitFor(
      async () => {
        const list = await this.#list();
        const latest = this.latest();
        const listed = new Map(list.items.map((item) => [item.metadata.name ?? "", BigInt(item.metadata.resourceVersion ?? "0")]));
        for (const [name, rv] of listed) if (latest.get(name)?.object === undefined || latest.get(name)?.rv !== rv) return undefined;
        for (const [name, version] of latest) if (version.object !== undefined && !listed.has(name)) return undefined;
        return true;
      },
      { what: `the watch of ${this.#options.collection} (${this.#options.fieldSelector ?? this.#options.labelSelector ?? "all"}) to catch up with a LIST`, timeoutMs, intervalMs: 100 },
    );
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
  }
}

export function compareRv(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
