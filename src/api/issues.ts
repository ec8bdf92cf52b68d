import type { z } from "zod";
import type { FieldProblem } from "./glancestore.js";

/** `["spec", "extraOptions", "x"]` -> `spec.extraOptions.x`; array indexes as `[0]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/**
 * zod issues as field problems, one per field at fault. An unknown key is
 * reported at its own path (`spec.volumeTyp`), the way the apiserver's
 * strict field validation names it. Messages never repeat the input value:
 * zod's own messages do not, and ours are written not to.
 */
export function fieldProblems(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push({ field: fieldPath([...prefix, ...issue.path, key]), message: "unknown field" });
      continue;
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      problems.push(...fieldProblems(best, [...prefix, ...issue.path]));
      continue;
    }
    problems.push({ field: fieldPath([...prefix, ...issue.path]), message: issue.message });
  }
  return problems;
}

/** `spec.httpRetries: Too big: expected number to be <=100` */
export function formatFieldProblem(problem: FieldProblem): string {
  return problem.field === "" ? problem.message : `${problem.field}: ${problem.message}`;
}
