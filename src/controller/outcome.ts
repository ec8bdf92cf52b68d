/**
 * What one reconcile of a key asks the work queue to do next. The queue, not
 * the reconciler, owns retries (controller-runtime's `reconcileHandler`); the
 * reconciler only says which case it is in, with a constructor named by
 * intent (k-orc's `progress.ReconcileStatus`). Throwing is the same as
 * returning `Outcome.retry(error)`.
 */
export type ReconcileOutcome =
  /** Converged; nothing to do until an event re-adds the key. */
  | { readonly kind: "done" }
  /** Converged for now, but something that sends no event (Cinder) must be looked at again after `afterMs`. */
  | { readonly kind: "requeueAfter"; readonly afterMs: number; readonly reason: string }
  /** A transient failure: run again with this key's exponential backoff. */
  | { readonly kind: "retry"; readonly error: unknown }
  /** Retrying cannot help until someone changes something; stop, count it, wait for an event. */
  | { readonly kind: "terminal"; readonly reason: string; readonly message: string };

export type ReconcileOutcomeKind = ReconcileOutcome["kind"];

function checkDelay(afterMs: number, what: string): number {
  if (!Number.isFinite(afterMs) || afterMs < 0) {
    throw new RangeError(`${what} needs a finite, non-negative delay in milliseconds, got ${afterMs}`);
  }
  return afterMs;
}

export const Outcome = {
  done(): ReconcileOutcome {
    return { kind: "done" };
  },
  /** The periodic re-check: look at OpenStack again after `afterMs`. */
  recheckAfter(afterMs: number, reason = "PeriodicRecheck"): ReconcileOutcome {
    return { kind: "requeueAfter", afterMs: checkDelay(afterMs, "Outcome.recheckAfter"), reason };
  },
  /** Waiting for OpenStack to reach a state it will not announce (a volume type to appear); poll after `afterMs`. */
  waitingOnOpenStack(what: string, afterMs: number): ReconcileOutcome {
    return { kind: "requeueAfter", afterMs: checkDelay(afterMs, "Outcome.waitingOnOpenStack"), reason: `WaitingOn${what}` };
  },
  retry(error: unknown): ReconcileOutcome {
    return { kind: "retry", error };
  },
  /** `reason` is CamelCase and becomes a log field and, in the controller, a condition reason. */
  terminal(reason: string, message: string): ReconcileOutcome {
    return { kind: "terminal", reason, message };
  },
} as const;

/**
 * Combines the outcomes of the parts of one reconcile (one per store of a
 * target) into what the queue should do for the key:
 * a retryable error wins (backoff comes first; the retry will recompute every
 * requeue); else the earliest requeue-after (a terminal part must not stop the
 * periodic re-check of the others); else a terminal outcome; else done.
 * Several errors are kept in an AggregateError.
 */
export function mergeOutcomes(outcomes: Iterable<ReconcileOutcome>): ReconcileOutcome {
  const errors: unknown[] = [];
  let earliest: Extract<ReconcileOutcome, { kind: "requeueAfter" }> | undefined;
  let terminal: Extract<ReconcileOutcome, { kind: "terminal" }> | undefined;
  for (const outcome of outcomes) {
    switch (outcome.kind) {
      case "retry":
        errors.push(outcome.error);
        break;
      case "requeueAfter":
        if (earliest === undefined || outcome.afterMs < earliest.afterMs) earliest = outcome;
        break;
      case "terminal":
        terminal ??= outcome;
        break;
      case "done":
        break;
    }
  }
  if (errors.length === 1) return Outcome.retry(errors[0]);
  if (errors.length > 1) return Outcome.retry(new AggregateError(errors, `${errors.length} parts of the reconcile failed`));
  return earliest ?? terminal ?? Outcome.done();
}

/** A value from a handler written in plain JavaScript or built by hand: make sure it is an outcome before acting on it. */
export function isReconcileOutcome(value: unknown): value is ReconcileOutcome {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  switch (v["kind"]) {
    case "done":
      return true;
    case "requeueAfter":
      return typeof v["afterMs"] === "number" && Number.isFinite(v["afterMs"]) && v["afterMs"] >= 0 && typeof v["reason"] === "string";
    case "retry":
      return "error" in v;
    case "terminal":
      return typeof v["reason"] === "string" && typeof v["message"] === "string";
    default:
      return false;
  }
}
