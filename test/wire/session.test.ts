// The session state machine (spec §3.2): which frames each side may send, and when.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecSessionState, FrameType as T, UnexpectedFrameError } from '../../src/wire/index.js';

function run(steps: Array<['c' | 'a', number]>): ExecSessionState {
  const s = new ExecSessionState();
  for (const [side, type] of steps) (side === 'c' ? s.clientFrame(type) : s.agentFrame(type));
  return s;
}

const bad = (steps: Array<['c' | 'a', number]>, why: RegExp) =>
  assert.throws(() => run(steps), (e: unknown) => e instanceof UnexpectedFrameError && e.code === 'UNEXPECTED_FRAME' && why.test(e.message));

describe('ExecSessionState', () => {
  it('accepts a whole session', () => {
    const s = run([
      ['c', T.ExecStart],
      ['a', T.Started],
      ['c', T.Stdin],
      ['c', T.WindowSize],
      ['a', T.Stdout],
      ['c', T.Signal],
      ['a', T.Stderr],
      ['c', T.Ping],
      ['a', T.Pong],
      ['c', T.StdinClose],
      ['a', T.Exit],
    ]);
    assert.equal(s.ended, true);
    assert.equal(s.stdinClosed, true);
  });

  it('requires ExecStart first, and only once', () => {
    bad([['c', T.Stdin]], /first frame of a session must be ExecStart/);
    bad([['c', T.Ping]], /first frame/);
    bad([['c', T.ExecStart], ['c', T.ExecStart]], /ExecStart twice/);
  });

  it('forbids Stdin after StdinClose, and StdinClose twice', () => {
    bad([['c', T.ExecStart], ['c', T.StdinClose], ['c', T.Stdin]], /Stdin after StdinClose/);
    bad([['c', T.ExecStart], ['c', T.StdinClose], ['c', T.StdinClose]], /twice/);
  });

  it('keeps each side to its own frame types', () => {
    bad([['c', T.ExecStart], ['c', T.Stdout]], /client may not send Stdout/);
    bad([['c', T.ExecStart], ['a', T.Started], ['a', T.Stdin]], /agent may not send Stdin/);
  });

  it("requires the agent's first frame to be Started or Error", () => {
    bad([['c', T.ExecStart], ['a', T.Stdout]], /first frame must be Started or Error/);
    assert.equal(run([['a', T.Error]]).ended, true);
    bad([['c', T.ExecStart], ['a', T.Started], ['a', T.Started]], /Started twice/);
  });

  it('forbids agent frames after Exit or Error', () => {
    bad([['c', T.ExecStart], ['a', T.Started], ['a', T.Exit], ['a', T.Stdout]], /after the session ended/);
    bad([['c', T.ExecStart], ['a', T.Error], ['a', T.Error]], /after the session ended/);
  });

  it('drops client frames that were in flight when the agent ended', () => {
    const s = run([['c', T.ExecStart], ['a', T.Started], ['a', T.Exit]]);
    assert.equal(s.clientFrame(T.Stdin), false);
    assert.equal(s.clientFrame(T.Signal), false);
  });

  it('forbids client frames after its own Error, and drops agent output after it', () => {
    const s = run([['c', T.ExecStart], ['c', T.Error]]);
    assert.throws(() => s.clientFrame(T.Stdin), UnexpectedFrameError);
    assert.equal(s.agentFrame(T.Started), false);
  });
});
