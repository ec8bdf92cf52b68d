import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "./pids.js";

/**
 * Hands out free TCP ports on 127.0.0.1. The kernel picks a free port; a
 * reservation file (created exclusively, holding the owner's pid) keeps two
 * test processes that run at once from being handed the same port between the
 * moment it is picked and the moment the server binds it.
 */
export class PortAllocator {
  readonly #directory: string;
  readonly #onReserve: (path: string) => void;
  readonly #onRelease: (path: string) => void;
  readonly #held = new Set<string>();

  constructor(options: {
    directory?: string;
    onReserve?: (path: string) => void;
    onRelease?: (path: string) => void;
  } = {}) {
    this.#directory = options.directory ?? join(tmpdir(), "glance-store-operator-ports");
    this.#onReserve = options.onReserve ?? (() => {});
    this.#onRelease = options.onRelease ?? (() => {});
    mkdirSync(this.#directory, { recursive: true });
  }

  async allocate(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await kernelPickedPort();
      const path = join(this.#directory, String(port));
      if (this.#tryReserve(path)) {
        this.#held.add(path);
        this.#onReserve(path);
        return port;
      }
    }
    throw new Error(`no free port on 127.0.0.1 after 50 attempts; stale reservations may be in ${this.#directory}`);
  }

  releaseAll(): void {
    for (const path of this.#held) {
      rmSync(path, { force: true });
      this.#onRelease(path);
    }
    this.#held.clear();
  }

  #tryReserve(path: string): boolean {
    try {
      writeFileSync(path, String(process.pid), { flag: "wx" });
      return true;
    } catch {
      // Taken: still ours to take over if its owner is dead.
      const owner = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
        rmSync(path, { force: true });
        try {
          writeFileSync(path, String(process.pid), { flag: "wx" });
          return true;
        } catch {
          return false;
        }
      }
      return false;
    }
  }
}

function kernelPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("the kernel gave no port"));
      });
    });
  });
}
