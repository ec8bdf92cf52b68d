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
} {
  let stack: DevStack | undefined;
  test.before(async () => {
    stack = await startDevStack(options);
  });
  test.after.always(async () => {
    await stack?.stop();
  });
  const current = (): DevStack => {
    if (stack === undefined) throw new Error("the stack is not started (yet)");
    return stack;
  };
  return {
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
