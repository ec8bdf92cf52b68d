import type { z } from "zod";

/**
 * One validation rule written twice, side by side: in CEL for the
 * apiserver (x-kubernetes-validations in the generated CRD) and in
 * TypeScript for zod, with one message. The shared table of valid and
 * invalid objects (test/api/cases.ts) runs both and fails when they
 * disagree.
 */
export interface CelRule<T> {
  /** CEL, `self` being the value the rule is attached to. */
  readonly rule: string;
  readonly message: string;
  /**
   * Where the apiserver reports a failure, relative to the value
   * (`.spec.storeId`); zod reports it at the same path.
   */
  readonly fieldPath?: string;
  readonly reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  /** The same rule in TypeScript: true when `value` passes. */
  readonly holds: (value: T) => boolean;
}

/**
 * A rule that compares an object with its previous version (`oldSelf`).
 * zod sees one object at a time, so the TypeScript side is a separate
 * function over both versions (see `updateProblems`).
 */
export interface CelTransitionRule<T> {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly holds: (previous: T, next: T) => boolean;
}

export interface KubernetesValidation {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: string;
}

export function toKubernetesValidation(rule: { readonly rule: string; readonly message: string; readonly fieldPath?: string; readonly reason?: string }): KubernetesValidation {
  return {
    rule: rule.rule,
    message: rule.message,
    ...(rule.fieldPath === undefined ? {} : { fieldPath: rule.fieldPath }),
    ...(rule.reason === undefined ? {} : { reason: rule.reason }),
  };
}

/** `.spec.storeId` -> ["spec", "storeId"] */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (fieldPath === undefined || fieldPath === "") return [];
  return fieldPath.replace(/^\./, "").split(".");
}

/**
 * Attaches `rules` to `schema`: zod checks them (after the schema's own
 * checks succeed, like the apiserver, which runs CEL only on values that
 * passed the OpenAPI schema) and the CRD generator emits them as
 * x-kubernetes-validations. Transition rules are emitted only.
 */
export function withCelRules<S extends z.ZodType>(
  schema: S,
  rules: readonly CelRule<z.output<S>>[],
  transitionRules: readonly CelTransitionRule<z.output<S>>[] = [],
): S {
  const checked = rules.length === 0
    ? schema
    : schema.superRefine((value, context) => {
        for (const rule of rules) {
          if (!rule.holds(value)) context.addIssue({ code: "custom", message: rule.message, path: fieldPathSegments(rule.fieldPath) });
        }
      });
  return checked.meta({
    "x-kubernetes-validations": [...rules, ...transitionRules].map(toKubernetesValidation),
  }) as S;
}

/** A CEL string literal. */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A CEL list of string literals. */
export function celStringList(values: readonly string[]): string {
  return `[${values.map(celString).join(", ")}]`;
}
