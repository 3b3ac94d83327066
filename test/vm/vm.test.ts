// The guest for real: Debian's cloud kernel boots the image under QEMU (TCG), the image's
// /init loads the kernel's modules, mounts the disks and starts the agent on vsock port 2222;
// the container's entrypoint, a static client, runs the exec acceptance cases over real
// AF_VSOCK (CID 1, vsock loopback inside the guest), prints one result line on the console
// and /init powers the VM off. In both layouts: the single initrd, and the runtime image as a
// disk and as a virtio-pmem device (DAX). The figures are reported as diagnostics, never
// judged here (`npm run bench` has them). Skipped where QEMU or the kernel is missing, unless
// HYPEMAN_VM_TEST=required (CI), where that is a failure.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { describeFigures, layoutFigures } from './vmFigures.js';
import { consoleTail, prepareVmFixtures, removeVmFixtures, runGuest, saveConsole, whyNoVm, type GuestLayout, type GuestRun, type VmFixtures } from './vmGuest.js';

const unavailable = await whyNoVm();
const required = process.env.HYPEMAN_VM_TEST === 'required';
const skip = unavailable !== null && !required ? `no VM here: ${unavailable}` : false;

describe('the guest in a real kernel (QEMU + Debian cloud kernel, AF_VSOCK inside the guest)', { skip }, () => {
  let fixtures: VmFixtures;
  const runs = new Map<string, GuestRun>();

  before(async () => {
    if (unavailable) throw new Error(`HYPEMAN_VM_TEST=required, but ${unavailable}`);
    fixtures = await prepareVmFixtures();
  });
  after(() => fixtures && removeVmFixtures(fixtures));

  async function boot(t: TestContext, layout: GuestLayout, mode: 'acceptance' | 'baseline'): Promise<GuestRun> {
    const run = await runGuest(fixtures, layout, mode);
    runs.set(`${layout}/${mode}`, run);
    t.diagnostic(`${layout} ${mode}: ${(run.wallMs / 1000).toFixed(1)} s of wall time (${fixtures.accel.toUpperCase()})`);
    const where = () => `console saved to ${saveConsole(run)}; its end:\n${consoleTail(run)}`;
    assert.equal(run.timedOut, false, `the guest did not power off; ${where()}`);
    assert.ok(run.result, `no HYPEMAN_VM_RESULT line on the console; ${where()}`);
    const failed = (run.result.cases ?? []).filter((c) => !c.ok);
    assert.deepEqual(failed, [], `failed cases; ${where()}`);
    assert.equal(run.result.ok, true, where());
    assert.match(run.console, /hypeman-init: starting \(PID 1\)/);
    assert.doesNotMatch(run.console, /hypeman-init: cannot load/, 'every module the image carries loads into its kernel');
    assert.match(run.console, /hypeman-init: the entrypoint exited with status 0; powering off/);
    return run;
  }

  for (const layout of ['initrd', 'runtime-disk', 'runtime-pmem'] as const) {
    it(`${layout}: boots through /init and passes every exec case over AF_VSOCK`, { timeout: 180_000 }, async (t) => {
      const run = await boot(t, layout, 'acceptance');
      const names = run.result!.cases!.map((c) => c.name);
      for (const wanted of ['argv', 'stdin', 'stderr', 'exit 7', 'exit 127', 'signal', 'TTY', 'user', 'cwd', 'env', 'timeout', 'restarted by /init']) {
        assert.ok(names.some((n) => n.includes(wanted)), `a case for ${wanted}: ${names.join(', ')}`);
      }
      // The agent started by /init: a process of the payload, chrooted into the container root.
      assert.match(run.console, /hypeman-init: starting the agent on vsock port 2222/);
      assert.match(run.console, /"address":"vsock:2222","msg":"listening"/);
      assert.match(run.console, /hypeman-init: the agent exited with status 137; restarting it in 1s/);
    });
  }

  for (const layout of ['runtime-disk', 'runtime-pmem'] as const) {
    it(`${layout} without the agent (HYPEMAN_AGENT=0): the baseline of the RAM figures`, { timeout: 120_000 }, async (t) => {
      const run = await boot(t, layout, 'baseline');
      assert.match(run.console, /hypeman-init: HYPEMAN_AGENT=0: not starting the agent/);
      assert.doesNotMatch(run.console, /"msg":"listening"/);
    });
  }

  it('figures (reported, not judged)', (t) => {
    const pairs: [string, string][] = [['initrd/acceptance', 'runtime-disk/baseline'], ['runtime-disk/acceptance', 'runtime-disk/baseline'], ['runtime-pmem/acceptance', 'runtime-pmem/baseline']];
    for (const [run, baseline] of pairs) {
      const r = runs.get(run);
      const b = runs.get(baseline);
      if (r?.result?.ok && b?.result?.ok) t.diagnostic(describeFigures(layoutFigures(fixtures, r, b)));
      else t.diagnostic(`${run}: no figures (a run failed)`);
    }
  });
});
