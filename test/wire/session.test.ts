// The session state machine (spec §3.2, §10): which frames each side may send, and when.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecSessionState, FrameType as T, UnexpectedFrameError } from '../../src/wire/index.js';

/** ExecStart of a version 1 session, a version 2 one, and a version 2 resume: what `start` is told. */
const V1 = -1;
const V2 = -2;
const RESUME = -3;

function run(steps: Array<['c' | 'a', number]>): ExecSessionState {
  const s = new ExecSessionState();
  for (const [side, type] of steps) {
    if (type === V1 || type === T.ExecStart) s.start({ version: 1 });
    else if (type === V2) s.start({ version: 2 });
    else if (type === RESUME) s.start({ version: 2, resume: true });
    else if (side === 'c') s.clientFrame(type);
    else s.agentFrame(type);
  }
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
    assert.throws(() => new ExecSessionState().clientFrame(T.ExecStart), /must be ExecStart/);
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
    bad([['c', T.ExecStart], ['a', T.Started], ['a', T.Started]], /Started after the session had started/);
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

  it('refuses version 2 frames in a version 1 session, both ways', () => {
    bad([['c', V1], ['c', T.OutputAck]], /OutputAck, a version 2 frame, in a version 1 session/);
    bad([['c', V1], ['a', T.Started], ['a', T.Linger]], /Linger, a version 2 frame/);
    bad([['c', V1], ['a', T.Started], ['a', T.StdinAck]], /StdinAck, a version 2 frame/);
    bad([['c', V1], ['a', T.Resumed]], /Resumed, a version 2 frame/);
  });

  it('accepts a version 2 session with its acknowledgements', () => {
    const s = run([
      ['c', V2],
      ['a', T.Started],
      ['a', T.Linger],
      ['c', T.Stdin],
      ['a', T.StdinAck],
      ['a', T.Stdout],
      ['c', T.OutputAck],
      ['a', T.Exit],
    ]);
    assert.equal(s.version, 2);
    assert.equal(s.ended, true);
  });

  it('answers a resume with Resumed, not Started', () => {
    assert.equal(run([['c', RESUME], ['a', T.Resumed], ['a', T.Stdout], ['a', T.Exit]]).ended, true);
    bad([['c', RESUME], ['a', T.Started]], /first frame must be Resumed or Error, not Started/);
    bad([['c', V2], ['a', T.Resumed]], /first frame must be Started or Error, not Resumed/);
    bad([['c', RESUME], ['a', T.Resumed], ['a', T.Resumed]], /Resumed after the session had started/);
  });

  it("carries a resumed session's closed stdin over from the earlier connection", () => {
    const s = new ExecSessionState();
    s.start({ version: 2, resume: true, stdinClosed: true });
    assert.throws(() => s.clientFrame(T.Stdin), /Stdin after StdinClose/);
  });

  it('keeps ListSessions out of exec sessions', () => {
    bad([['c', V2], ['c', T.ListSessions]], /first frame of a connection of its own/);
    bad([['c', V2], ['a', T.Started], ['a', T.SessionList]], /agent may not send SessionList frames in an exec session/);
  });

  it('forbids client frames after its own Error, and drops agent output after it', () => {
    const s = run([['c', T.ExecStart], ['c', T.Error]]);
    assert.throws(() => s.clientFrame(T.Stdin), UnexpectedFrameError);
    assert.equal(s.agentFrame(T.Started), false);
  });
});
