// ResumableSession and its StdinJournal: a durable session's client bookkeeping (spec §10), on their own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType, ResumableSession, type ResumedMessage, StdinJournal, decodeAll, parseFrame } from '../../src/wire/index.js';

const ID = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

function resumed(fields: Partial<ResumedMessage>): ResumedMessage {
  return { type: FrameType.Resumed, version: 2, pid: 7, sessionId: ID, stdinBytes: 0, stdoutLost: 0, stderrLost: 0, lingerSeconds: 30, windowBytes: 1024, stdinClosed: false, exited: false, tty: false, observer: false, ...fields };
}

const payloadOf = (frame: Uint8Array) => Buffer.from(frame.subarray(5)).toString();

describe('ResumableSession', () => {
  it('says an acknowledgement is due every quarter window, and acknowledges what arrived', () => {
    const r = new ResumableSession();
    r.started(ID);
    r.linger(30, 1024);
    assert.equal(r.output(FrameType.Stdout, 200), false);
    assert.equal(r.output(FrameType.Stderr, 56), true, '256 bytes: a quarter of 1024');
    const [ack] = decodeAll(r.acknowledge()!).map((f) => parseFrame(f));
    assert.deepEqual(ack, { type: FrameType.OutputAck, stdoutBytes: 200, stderrBytes: 56 });
    assert.equal(r.acknowledge(), null, 'nothing new');
  });

  it('keeps Stdin until acknowledged, copied, and gives back what the agent did not take', () => {
    const r = new ResumableSession();
    const reused = Buffer.from('abc');
    const frame = r.stdinFrame(reused);
    reused.write('xyz');
    assert.equal(payloadOf(frame), 'abc', 'a frame of its own holds a copy');
    r.stdinFrame(Buffer.from('defg'));
    r.started(ID);
    r.linger(30, 1024);
    assert.equal(r.unacknowledgedStdin, 7);
    r.stdinAcknowledged(2);
    assert.equal(r.unacknowledgedStdin, 5);
    r.closedStdin();
    const steps = r.resumed(resumed({ stdinBytes: 4 }));
    assert.deepEqual(steps.stdin.map((p) => Buffer.from(p).toString()), ['efg']);
    assert.equal(steps.closeStdin, true);
    assert.equal(r.resumed(resumed({ stdinBytes: 7, stdinClosed: true })).closeStdin, false, 'the agent saw StdinClose');
    assert.throws(() => r.stdinAcknowledged(8), /only 7 were sent/);
  });

  it('moves its offsets past lost output, and resumes from them', () => {
    const r = new ResumableSession();
    r.started(ID);
    r.linger(30, 1 << 20);
    r.output(FrameType.Stdout, 100);
    r.resumed(resumed({ stdoutLost: 50 }));
    assert.equal(r.stdoutOffset, 150);
    const [start] = decodeAll(r.resumeFrame('alice')).map((f) => parseFrame(f));
    assert.equal(start.type === FrameType.ExecStart && start.owner, 'alice');
    assert.deepEqual(start.type === FrameType.ExecStart && { ...start.resume, sessionId: [...start.resume!.sessionId] }, { sessionId: [...ID], stdoutBytes: 150, stderrBytes: 0 });
  });

  it('keeps nothing once Linger says the session does not linger', () => {
    const r = new ResumableSession();
    r.stdinFrame(Buffer.from('before Started'));
    r.started(ID);
    r.linger(0, 0);
    r.stdinFrame(Buffer.from('after'));
    assert.equal(r.unacknowledgedStdin, 0);
    assert.equal(r.output(FrameType.Stdout, 1 << 20), false, 'no acknowledgements either');
  });

  it('attaching: its stdin starts where the agent says it took', () => {
    const r = new ResumableSession(ID);
    assert.deepEqual(r.resumed(resumed({ stdinBytes: 1000 })).stdin, []);
    r.stdinFrame(Buffer.from('more'));
    r.stdinAcknowledged(1004);
    assert.equal(r.unacknowledgedStdin, 0);
  });
});

describe('StdinJournal', () => {
  it('keeps payloads by reference, in order, and trims them as acknowledged, partly too', () => {
    const journal = new StdinJournal();
    const a = Buffer.from('abc');
    journal.keep(a);
    journal.keep(Buffer.from('defg'));
    assert.equal(journal.bytes, 7);
    journal.acknowledge(4);
    assert.deepEqual(journal.entries().map((e) => Buffer.from(e).toString()), ['efg']);
    assert.equal(journal.start, 4);
    assert.throws(() => journal.acknowledge(8), /only 7 were sent/);
    journal.clear();
    assert.equal(journal.start, 7);
  });
});
