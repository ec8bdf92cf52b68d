import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { V1ConfigMap, V1Deployment, V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.js";
import { Informer } from "../controller/informers/informer.js";
import { CONFIG_MAPS, DEPLOYMENTS, SECRETS } from "../controller/informers/resources.js";
import { CONFIG_HASH_ANNOTATION, configMapName, credentialsSecretName, TARGET_LABEL } from "../controller/naming.js";
import type { Logger } from "../runtime/logger.js";
import type { GlanceApi } from "./glance.js";

export interface GlanceSyncOptions {
  readonly kube: KubeClient;
  readonly namespace: string;
  readonly target: string;
  /** The Deployment that stands for glance-api: its pod template's config hash says when to restart. */
  readonly deployment: string;
  /** Where the files go: what a pod's projected volume would hold. */
  readonly directory: string;
  /** Starts glance-api with the files of `directory` mounted where it reads them. */
  readonly startGlance: (configDir: string) => Promise<GlanceApi>;
  readonly logger: Logger;
}

export interface GlanceSyncState {
  readonly glance: GlanceApi | undefined;
  /** The config hash glance-api was (re)started for. */
  readonly runningHash: string | undefined;
  readonly restarts: number;
  readonly lastError: string | undefined;
}

/**
 * Plays the kubelet's part for the local glance-api, the way a cluster runs
 * it: the target's ConfigMap and Secret are written into one directory, as
 * a projected volume keeps them (every key a file, refreshed when the objects
 * change), and glance-api is started once they exist and restarted when the
 * opted-in Deployment's pod template gets a new config hash, as a rollout
 * would replace its pods. Without a kubelet in the local stack, this is what
 * makes `npm start` show Glance running the stores.
 */
export class GlanceSync {
  readonly #options: GlanceSyncOptions;
  readonly #configMaps: Informer<V1ConfigMap>;
  readonly #secrets: Informer<V1Secret>;
  readonly #deployments: Informer<V1Deployment>;
  #glance: GlanceApi | undefined;
  #runningHash: string | undefined;
  #restarts = 0;
  #lastError: string | undefined;
  /** One pass at a time; a change during a pass runs one more. */
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: GlanceSyncOptions) {
    this.#options = options;
    const common = { kube: options.kube, namespaces: [options.namespace], logger: options.logger.child({ component: "glance-sync" }) };
    this.#configMaps = new Informer({ ...common, type: CONFIG_MAPS, labelSelector: `${TARGET_LABEL}=${options.target}` });
    this.#secrets = new Informer({ ...common, type: SECRETS, labelSelector: `${TARGET_LABEL}=${options.target}` });
    this.#deployments = new Informer({ ...common, type: DEPLOYMENTS });
  }

  start(): void {
    for (const informer of [this.#configMaps, this.#secrets, this.#deployments] as Informer<V1ConfigMap | V1Secret | V1Deployment>[]) {
      informer.addHandlers({ add: () => this.#kick(), update: () => this.#kick(), delete: () => this.#kick() });
      informer.start();
    }
    // A glance-api that died is started again, as a kubelet restarts a crashed container.
    this.#timer = setInterval(() => this.#kick(), 5_000);
  }

  state(): GlanceSyncState {
    return { glance: this.#glance, runningHash: this.#runningHash, restarts: this.#restarts, lastError: this.#lastError };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await Promise.all([this.#configMaps.stop(), this.#secrets.stop(), this.#deployments.stop()]);
    await this.#running;
    await this.#glance?.stop();
    this.#glance = undefined;
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((error: unknown) => {
        this.#lastError = error instanceof Error ? error.message : String(error);
        this.#options.logger.warn({ error: this.#lastError.slice(0, 2_000) }, "glance-api sync failed; trying again on the next change");
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  async #pass(): Promise<void> {
    const { namespace, target } = this.#options;
    const configMap = this.#configMaps.get(namespace, configMapName(target));
    const secret = this.#secrets.get(namespace, credentialsSecretName(target));
    if (configMap === undefined || secret === undefined) return;
    const files = new Map<string, Buffer>();
    for (const [name, content] of Object.entries(configMap.data ?? {})) files.set(name, Buffer.from(content, "utf8"));
    for (const [name, encoded] of Object.entries(secret.data ?? {})) files.set(name, Buffer.from(encoded, "base64"));
    await writeAtomically(this.#options.directory, files);

    const deployment = this.#deployments.get(namespace, this.#options.deployment);
    const hash = deployment?.spec?.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    // An opted-in workload rolls once the operator has annotated it; until then its pods would wait for the rollout too.
    if (deployment !== undefined && hash === undefined) return;
    const exited = this.#glance !== undefined && this.#glance.process.exitInfo() !== undefined;
    if (this.#glance !== undefined && !exited && hash === this.#runningHash) return;
    if (this.#glance !== undefined) {
      this.#options.logger.info({ from: this.#runningHash?.slice(0, 12), to: hash?.slice(0, 12), exited }, exited ? "glance-api exited; starting it again" : "the stores changed; restarting glance-api (a rollout)");
      await this.#glance.stop();
      this.#glance = undefined;
      this.#restarts++;
    }
    if (this.#stopped) return;
    this.#glance = await this.#options.startGlance(this.#options.directory);
    this.#runningHash = hash;
    this.#lastError = undefined;
    this.#options.logger.info({ url: this.#glance.url, configHash: hash?.slice(0, 12) }, "glance-api serves the rendered stores");
  }
}

/** Every file written under a temporary name and renamed, and keys that left the objects removed: a reader sees whole files only. */
async function writeAtomically(directory: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  await mkdir(directory, { recursive: true });
  for (const [name, content] of files) {
    if (name.includes("/") || name.startsWith(".")) continue;
    const temporary = join(directory, `.${name}.${randomBytes(4).toString("hex")}`);
    await writeFile(temporary, content, { mode: 0o640 });
    await rename(temporary, join(directory, name));
  }
  for (const name of await readdir(directory)) {
    if (!files.has(name) && !name.startsWith(".")) await rm(join(directory, name), { force: true });
  }
}
