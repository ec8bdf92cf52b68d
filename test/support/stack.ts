import test from "ava";
import { startDevStack, type DevStack, type DevStackOptions } from "../../src/devstack/stack.js";

/**
 * One local stack for the test file that calls this: started before its
 * tests, stopped after them whatever happened. Read it through the getters.
 */
export function useStack(options: DevStackOptions): {
  stack(): DevStack;
  kube(): NonNullable<DevStack["kube"]>;
  openstack(): NonNullable<DevStack["openstack"]>;
  /** Runs `cleanup` after the file's tests, before the stack stops (last registered first; none if the stack never started); a failing one fails the file, the rest still run. */
  beforeStop(cleanup: () => Promise<void>): void;
} {
  let stack: DevStack | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  test.before(async () => {
    stack = await startDevStack(options);
  });
  test.after.always(async () => {
    const errors: unknown[] = [];
    try {
      if (stack !== undefined) for (const cleanup of [...cleanups].reverse()) await cleanup().catch((error: unknown) => void errors.push(error));
    } finally {
      await stack?.stop();
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanups before the stack stopped failed");
  });
  const current = (): DevStack => {
    if (stack === undefined) throw new Error("the stack is not started (yet)");
    return stack;
  };
  return {
    beforeStop: (cleanup) => void cleanups.push(cleanup),
    stack: current,
    kube: () => {
      const kube = current().kube;
      if (!kube) throw new Error("the stack was started without Kubernetes");
      return kube;
    },
    openstack: () => {
      const openstack = current().openstack;
      if (!openstack) throw new Error("the stack was started without OpenStack");
      return openstack;
    },
  };
}
