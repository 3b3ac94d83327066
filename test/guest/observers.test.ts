// Observers and a single writer at the agent (spec §10.11), over raw frames on its Unix
// socket: the agent enforces read-only itself, whatever a server in front of it does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AttachRequest,
  FrameType as T,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodeSignal,
  encodeStdinClose,
  encodeWindowSize,
  type ErrorMessage,
  type ExecRequest,
  type Message,
  type NoticeMessage,
  type ResumedMessage,
  type StartedMessage,
} from '../../src/wire/index.js';
import { AgentProcess } from './agentProcess.js';
import { ExecConnection } from './execClient.js';

let agent: AgentProcess;
before(async () => {
  agent = await AgentProcess.start({ args: ['--max-linger', '120', '--linger-buffer', String(1024 * 1024)] });
});
after(async () => {
  const { code } = await agent.stop();
  assert.equal(code, 0, `the agent exits 0 on SIGTERM; its log:\n${agent.log}`);
});

const is =
  <M extends Message>(type: number) =>
  (m: Message): m is M =>
    m.type === type;
const isStarted = is<StartedMessage>(T.Started);
const isResumed = is<ResumedMessage>(T.Resumed);
const isNotice = is<NoticeMessage>(T.Notice);
const isError = is<ErrorMessage>(T.Error);

async function start(request: Partial<ExecRequest> & { owner?: string }): Promise<{ c: ExecConnection; id: Uint8Array }> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeExecStart({ lingerSeconds: 60, ...request }));
  const started = await c.waitFor(isStarted, 'Started');
  return { c, id: Uint8Array.from(started.sessionId) };
}

async function attach(sessionId: Uint8Array, attach: AttachRequest, owner?: string): Promise<ExecConnection> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeExecStart({ owner, resume: { sessionId, stdoutBytes: 0, stderrBytes: 0, attach } }));
  return c;
}

const OBSERVE: AttachRequest = { mode: 'observe', live: false, anyOwner: false };
const stdin = (text: string) => encodeDataFrame(T.Stdin, Buffer.from(text));

describe('observers at the agent (spec §10.11)', () => {
  it("drops an observer's stdin, resize and signals itself, says so once, and sends it the writer's output", async () => {
    const { c: writer, id } = await start({ argv: ['cat'], owner: 'alice' });
    writer.send(stdin('one\n'));
    await writer.waitForStdout('one\n');
    const observer = await attach(id, OBSERVE, 'alice');
    const resumed = await observer.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.observer, true);
    await observer.waitForStdout('one\n');
    // Straight at the agent: nothing in between drops these.
    observer.send(stdin('from the observer\n'));
    observer.send(encodeWindowSize({ rows: 5, cols: 5 }));
    observer.send(encodeSignal(15));
    observer.send(stdin('again\n'));
    observer.send(encodeStdinClose());
    await observer.waitFor(isNotice, 'Notice');
    writer.send(stdin('two\n'));
    await observer.waitForStdout('two\n');
    writer.send(encodeStdinClose());
    const [w, o] = await Promise.all([writer.finish(), observer.finish()]);
    assert.equal(w.exit?.code, 0, 'SIGTERM from the observer never reached cat');
    assert.equal(w.stdout.toString(), 'one\ntwo\n');
    assert.equal(o.stdout.toString(), 'one\ntwo\n', 'the observer replayed from its offsets, then live');
    assert.equal(o.exit?.code, 0, 'the observer gets the Exit too');
    const notices = observer.messages.filter(isNotice);
    assert.equal(notices.length, 1, 'told once');
    assert.equal(notices[0].kind, 'read-only');
  });

  it("an observer's Error or protocol error ends only its own connection", async () => {
    const { c: writer, id } = await start({ argv: ['cat'] });
    const a = await attach(id, OBSERVE);
    await a.waitFor(isResumed, 'Resumed');
    a.send(encodeError('SHUTTING_DOWN', 'done watching'));
    await a.closed;
    const b = await attach(id, OBSERVE);
    await b.waitFor(isResumed, 'Resumed');
    b.send(encodeExecStart({ argv: ['true'] }));
    assert.equal((await b.finish()).error?.code, 'UNEXPECTED_FRAME');
    writer.send(stdin('still running\n'));
    await writer.waitForStdout('still running\n');
    writer.send(encodeStdinClose());
    assert.equal((await writer.finish()).exit?.code, 0);
  });

  it('refuses a second writer (SESSION_BUSY); a take-over makes the first an observer and tells it', async () => {
    const { c: first, id } = await start({ argv: ['cat'] });
    const busy = await attach(id, { mode: 'write', live: false, anyOwner: false });
    assert.equal((await busy.finish()).error?.code, 'SESSION_BUSY');
    const second = await attach(id, { mode: 'take-over', live: false, anyOwner: false });
    await second.waitFor(isResumed, 'Resumed');
    const told = await first.waitFor(isNotice, 'Notice');
    assert.equal(told.kind, 'observing');
    first.send(stdin('from the first\n'));
    second.send(stdin('from the second\n'));
    await first.waitForStdout('from the second\n');
    second.send(encodeStdinClose());
    const [a, b] = await Promise.all([first.finish(), second.finish()]);
    assert.equal(b.stdout.toString(), 'from the second\n');
    assert.equal(a.stdout.toString(), 'from the second\n', "the first writer's input, once it observes, goes nowhere");
    assert.equal(a.exit?.code, 0);
  });

  it("lets another owner observe only with the any-owner flag (which the API server grants), and observes sessions that do not linger", async () => {
    const plain = await ExecConnection.open(agent.socketPath);
    plain.send(encodeExecStart({ argv: ['cat'], owner: 'alice' }, 2));
    const id = Uint8Array.from((await plain.waitFor(isStarted, 'Started')).sessionId);
    const refused = await attach(id, OBSERVE, 'bob');
    assert.equal((await refused.finish()).error?.code, 'SESSION_FORBIDDEN');
    const writerRefused = await attach(id, { mode: 'take-over', live: false, anyOwner: false }, 'alice');
    assert.equal((await writerRefused.finish()).error?.code, 'SESSION_NOT_FOUND', 'a session that does not linger is not resumed');
    plain.send(stdin('before\n'));
    await plain.waitForStdout('before\n');
    const bob = await attach(id, { mode: 'observe', live: true, anyOwner: true }, 'bob');
    const resumed = await bob.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.stdoutLost, 7, 'live: it starts at the current point');
    plain.send(stdin('after\n'));
    await bob.waitForStdout('after\n');
    plain.send(encodeStdinClose());
    const o = await bob.finish();
    assert.equal(o.stdout.toString(), 'after\n');
    assert.equal(o.exit?.stdoutBytes, 13, "Exit's counts are the session's");
    await plain.finish();
  });

  it('cuts an observer that reads nothing with OBSERVER_TOO_SLOW, while the writer gets all its output', async () => {
    const total = 24 * 1024 * 1024;
    const { c: writer, id } = await start({ argv: ['sh', '-c', `read x; head -c ${total} /dev/zero`] });
    writer.acknowledgeFrom(0, 0);
    const slow = await attach(id, OBSERVE);
    await slow.waitFor(isResumed, 'Resumed');
    slow.socket.pause();
    writer.send(stdin('go\n'));
    await writer.waitFor((m): m is Message => writer.stdoutBytes >= total / 2, 'half the output');
    slow.socket.resume();
    const [w, o] = await Promise.all([writer.finish(), slow.finish()]);
    assert.equal(w.exit?.stdoutBytes, total);
    assert.equal(writer.stdoutBytes, total, 'the writer got every byte');
    assert.equal(o.error?.code, 'OBSERVER_TOO_SLOW', slow.describe());
    assert.ok(slow.stdoutBytes < total);
    assert.ok(!writer.messages.some(isError));
  });
});
