import test from "ava";
import { PhaseTimer } from "../../src/controller/phase-timer.js";

test("phases: waits sent together count once, and the operator's own time is what is left", async (t) => {
  let now = 0;
  const timer = new PhaseTimer(() => now);
  const later = (advance: number) => async () => {
    await Promise.resolve();
    now += advance;
  };
  // Two writes in flight together: 10 ms of wall time, not 20.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const first = timer.apiserver(async () => gate);
  const second = timer.apiserver(async () => gate);
  now += 10;
  release();
  await Promise.all([first, second]);
  await timer.openstack(later(30)());
  now += 5; // the operator's own work
  t.deepEqual(timer.phases(), { openstackMs: 30, apiserverMs: 10, operatorMs: 5 });
});
