/**
 * metav1.Condition handling, the way k-orc and apimachinery's meta.SetStatusCondition do it:
 * one pure function, `now` passed in, lastTransitionTime moved only when the status flips.
 */

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly observedGeneration?: number;
  readonly lastTransitionTime: string;
  /** CamelCase, machine-readable. */
  readonly reason: string;
  readonly message: string;
}

/** A condition as a reconcile decides it, before times are attached. */
export interface DesiredCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/**
 * Merges the desired conditions into the current ones. A condition keeps its
 * lastTransitionTime unless its status changes; reason, message and
 * observedGeneration always follow the desired value. The result is ordered
 * as `desired` lists the types, so the written status is stable.
 */
export function mergeConditions(
  current: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  options: { now: Date; observedGeneration: number | undefined },
): Condition[] {
  const previous = new Map((current ?? []).map((condition) => [condition.type, condition]));
  const timestamp = formatTime(options.now);
  return desired.map((want) => {
    const before = previous.get(want.type);
    const lastTransitionTime = before !== undefined && before.status === want.status ? before.lastTransitionTime : timestamp;
    return {
      type: want.type,
      status: want.status,
      ...(options.observedGeneration === undefined ? {} : { observedGeneration: options.observedGeneration }),
      lastTransitionTime,
      reason: want.reason,
      message: want.message,
    };
  });
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/** A transition worth an Event: a condition that is new or whose status or reason changed. */
export interface ConditionTransition {
  readonly type: string;
  readonly from: ConditionStatus | undefined;
  readonly to: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export function conditionTransitions(before: readonly Condition[] | undefined, after: readonly Condition[]): ConditionTransition[] {
  const previous = new Map((before ?? []).map((condition) => [condition.type, condition]));
  const transitions: ConditionTransition[] = [];
  for (const condition of after) {
    const old = previous.get(condition.type);
    if (old === undefined || old.status !== condition.status || old.reason !== condition.reason) {
      transitions.push({ type: condition.type, from: old?.status, to: condition.status, reason: condition.reason, message: condition.message });
    }
  }
  return transitions;
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
