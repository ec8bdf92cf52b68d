/**
 * Keystone's `[security_compliance] lockout_failure_attempts` locks a user
 * after N failed password authentications in a row; from then on every
 * holder of that user's password is refused, glance-api's own
 * `keystone_authtoken` and the first cinder store at glance-api start
 * included. A client that re-sends a refused password at every re-check
 * locks the user within minutes, so one typo in one Secret would take
 * Glance down. This ledger makes sure the operator sends a credential set
 * Keystone refused at most once per hold period: it remembers each refusal
 * (keyed by the exact credential data, so a changed Secret is a new key
 * and is tried at once) and holds the set until the period has passed.
 *
 * It also remembers which sets Keystone accepted: those may be re-sent when
 * an answer is lost in transit, while a set never accepted is sent only
 * when the request provably did not reach Keystone (a lost answer to a
 * wrong password would otherwise count twice).
 */

export interface AuthRefusal {
  /** When Keystone refused (ms on the injected clock). */
  readonly refusedAtMs: number;
  /** Not sent again before this (ms on the injected clock). */
  readonly retryAtMs: number;
  /** What Keystone said, as the error message of the refusal (no secret). */
  readonly message: string;
}

export interface AuthRefusalsOptions {
  readonly now: () => number;
  /** How long a refused credential set is held. */
  readonly holdMs: number;
}

/** One hour: longer than the lockout_duration most clouds use, short enough that a fixed account is picked up the same day. */
export const DEFAULT_AUTH_REFUSAL_HOLD_MS = 60 * 60 * 1000;

export class AuthRefusals {
  readonly #now: () => number;
  readonly #holdMs: number;
  readonly #refused = new Map<string, AuthRefusal>();
  readonly #accepted = new Set<string>();

  constructor(options: AuthRefusalsOptions) {
    if (!Number.isFinite(options.holdMs) || options.holdMs < 0) throw new RangeError(`the refusal hold must be a finite, non-negative duration, got ${options.holdMs} ms`);
    this.#now = options.now;
    this.#holdMs = options.holdMs;
  }

  /** The refusal that holds `key` now, if any; a refusal whose hold has passed is forgotten. */
  held(key: string): AuthRefusal | undefined {
    const refusal = this.#refused.get(key);
    if (refusal === undefined) return undefined;
    if (this.#now() >= refusal.retryAtMs) {
      this.#refused.delete(key);
      return undefined;
    }
    return refusal;
  }

  /** Keystone refused `key` just now: hold it for the hold period. */
  refused(key: string, message: string): AuthRefusal {
    const now = this.#now();
    const refusal = { refusedAtMs: now, retryAtMs: now + this.#holdMs, message };
    this.#refused.set(key, refusal);
    this.#accepted.delete(key);
    return refusal;
  }

  /**
   * A refusal remembered elsewhere (another replica wrote it into a status
   * before this one took over): hold `key` until `retryAtMs`, unless a later
   * refusal is already known.
   */
  remember(key: string, refusal: AuthRefusal): void {
    if (refusal.retryAtMs <= this.#now()) return;
    const known = this.#refused.get(key);
    if (known !== undefined && known.retryAtMs >= refusal.retryAtMs) return;
    this.#refused.set(key, refusal);
  }

  accepted(key: string): void {
    this.#refused.delete(key);
    this.#accepted.add(key);
  }

  wasAccepted(key: string): boolean {
    return this.#accepted.has(key);
  }

  /** Credential sets held now. */
  heldCount(): number {
    let count = 0;
    for (const key of [...this.#refused.keys()]) if (this.held(key) !== undefined) count++;
    return count;
  }
}
