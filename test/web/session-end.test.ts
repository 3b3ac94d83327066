// How the browser terminal words a session's end (src/host/web/sessionEnd.ts): pure, so
// checked here without a browser; test/web/browser-terminal.test.ts sees them on the page.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeEnd, describeExit, endOfClose } from '../../src/host/web/sessionEnd.js';
import { ExitKind, type ExitStatus } from '../../src/wire/index.js';

const status = (s: Partial<ExitStatus>): ExitStatus => ({ kind: ExitKind.Exited, code: 0, signal: 0, coreDumped: false, stdoutBytes: 0, stderrBytes: 0, ...s });

describe('the page\'s words for how a session ended', () => {
  it('says how the command ended', () => {
    assert.equal(describeExit(status({ code: 3 })), 'exited with 3');
    assert.equal(describeExit(status({ kind: ExitKind.Signaled, code: 137, signal: 9 })), 'killed by SIGKILL');
    assert.equal(describeExit(status({ kind: ExitKind.Signaled, code: 139, signal: 11, coreDumped: true })), 'killed by SIGSEGV (core dumped)');
    assert.equal(describeExit(status({ kind: ExitKind.Signaled, code: 162, signal: 34 })), 'killed by signal 34');
    assert.equal(describeExit(status({ kind: ExitKind.TimedOut, code: 124, signal: 9 })), 'timed out (exit status 124)');
  });

  it('reads a close without Exit or Error as the error it names, or as a lost connection', () => {
    assert.deepEqual(endOfClose(4048, 'the agent did not answer'), { kind: 'failed', code: 'AGENT_UNREACHABLE', message: 'the agent did not answer' });
    assert.equal(describeEnd(endOfClose(4033, '')), 'SHUTTING_DOWN: the server ended the session with SHUTTING_DOWN');
    assert.equal(
      describeEnd(endOfClose(1006, '')),
      "disconnected: the connection to the server was lost (WebSocket close 1006); the command's exit status is unknown",
    );
    assert.equal(describeEnd(endOfClose(1000, '')), 'disconnected: the server closed the session without an exit status');
  });
});
