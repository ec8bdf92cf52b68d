import type { KeystoneToken } from "./keystone.js";

export interface TokenCacheOptions {
  /** The injected clock, in milliseconds. */
  readonly now: () => number;
  /** Stop using a token this long before it expires. */
  readonly marginMs: number;
}

export const DEFAULT_TOKEN_MARGIN_MS = 60_000;

export type TokenSource = "cache" | "issued" | "shared";

/**
 * One Keystone token per credential set. A token is reused until
 * `marginMs` before it expires; concurrent callers that find none share one
 * in-flight authentication (single flight); a token Cinder refused is dropped
 * so the next caller authenticates again. A failed authentication is not
 * cached: the next round tries again.
 */
export class TokenCache {
  readonly #now: () => number;
  readonly #marginMs: number;
  readonly #tokens = new Map<string, KeystoneToken>();
  readonly #inFlight = new Map<string, Promise<KeystoneToken>>();

  constructor(options: TokenCacheOptions) {
    this.#now = options.now;
    this.#marginMs = options.marginMs;
  }

  /**
   * The margin never eats more than half a token's life: with a 15-minute
   * margin and 10-minute tokens every call would authenticate anew.
   */
  usableUntil(token: KeystoneToken): number {
    return token.expiresAtMs - Math.min(this.#marginMs, token.lifetimeMs / 2);
  }

  isUsable(token: KeystoneToken): boolean {
    return this.#now() < this.usableUntil(token);
  }

  async get(key: string, issue: () => Promise<KeystoneToken>): Promise<{ token: KeystoneToken; source: TokenSource }> {
    const cached = this.#tokens.get(key);
    if (cached !== undefined && this.isUsable(cached)) return { token: cached, source: "cache" };
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return { token: await pending, source: "shared" };
    const started = issue().then(
      (token) => {
        this.#tokens.set(key, token);
        return token;
      },
    );
    this.#inFlight.set(key, started);
    try {
      return { token: await started, source: "issued" };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** Forgets `token` if it is still the one cached for `key` (a newer one stays). */
  invalidate(key: string, token: KeystoneToken): void {
    if (this.#tokens.get(key) === token) this.#tokens.delete(key);
  }

  /** Drops tokens that can no longer be used, so credential sets that went away do not pile up. */
  prune(): number {
    let removed = 0;
    for (const [key, token] of this.#tokens) {
      if (!this.isUsable(token)) {
        this.#tokens.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Every token value held, for scrubbing error text. */
  values(): string[] {
    return [...this.#tokens.values()].map((token) => token.value);
  }

  get size(): number {
    return this.#tokens.size;
  }
}
