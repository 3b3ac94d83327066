// The guest's console as /init wrote it: the kernel's messages taken out, even from inside
// a line of /init's (the serial port interleaves them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userspaceConsole } from './vmGuest.js';

describe('userspaceConsole', () => {
  it("rejoins a line of /init's that a kernel message landed in, and drops the kernel's own lines", () => {
    const raw =
      '[    0.512345] Run /init as init process\r\n' +
      'hypeman-init: HYPEMAN_AGENT=0: not sta[    6.123456] reboot: Power down\r\nrting the agent\r\n' +
      'HYPEMAN_VM_RESULT {"ok":true}\r\n';
    assert.equal(userspaceConsole(raw), 'hypeman-init: HYPEMAN_AGENT=0: not starting the agent\r\nHYPEMAN_VM_RESULT {"ok":true}\r\n');
  });

  it('keeps brackets that are not a kernel timestamp', () => {
    const raw = 'hypeman-init: [vda] is the disk\n{"level":30,"msg":"[x] listening"}\n';
    assert.equal(userspaceConsole(raw), raw);
  });
});
