// Durable sessions at the agent (spec §10), over raw frames on its Unix socket: linger,
// detach and resume, replay from the client's offsets, stdin acknowledgements and resending,
// overflow pause and drop while detached, expiry, owners, taking over, ListSessions; observers
// and a single writer (§10.11), which the agent enforces itself, whatever a server in front does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  type AttachRequest,
  FrameType as T,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodeListSessions,
  encodeOutputAck,
  encodeSignal,
  encodeStdinClose,
  encodeWindowSize,
  type ErrorMessage,
  type ExecRequest,
  type ExitMessage,
  type LingerMessage,
  type Message,
  type NoticeMessage,
  type ResumedMessage,
  type SessionListMessage,
  type StartedMessage,
  type StdinAckMessage,
} from '../../src/wire/index.js';
import { AgentProcess, processesWithEnvironment, waitUntil } from './agentProcess.js';
import { ExecConnection } from './execClient.js';

let agent: AgentProcess;
before(async () => {
  // A window smaller than the default, so that a counter fills it at once.
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
const isLinger = is<LingerMessage>(T.Linger);
const isResumed = is<ResumedMessage>(T.Resumed);
const isExit = is<ExitMessage>(T.Exit);
const isError = is<ErrorMessage>(T.Error);
const isList = is<SessionListMessage>(T.SessionList);

/** A `NAME=value` given to the command, by which its processes are found. */
function marker(): string {
  return `HYPEMAN_DURABLE_MARK=${randomBytes(6).toString('hex')}`;
}

function envOf(mark: string): Record<string, string> {
  const [name, value] = mark.split('=');
  return { [name]: value };
}

/** Starts a session that lingers; resolves once Started and Linger have arrived. */
async function start(request: Partial<ExecRequest> & { owner?: string }): Promise<{ c: ExecConnection; started: StartedMessage; linger: LingerMessage }> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeExecStart({ lingerSeconds: 60, ...request }));
  const started = await c.waitFor(isStarted, 'Started');
  const linger = await c.waitFor(isLinger, 'Linger');
  return { c, started, linger };
}

/** A new connection that resumes `sessionId` from these offsets. */
async function resume(sessionId: Uint8Array, stdoutBytes: number, stderrBytes = 0, owner?: string): Promise<ExecConnection> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeExecStart({ owner, resume: { sessionId, stdoutBytes, stderrBytes } }));
  return c;
}

/** Drops a connection as a network would: no Error frame (a Unix socket cannot reset; it closes). */
async function cut(c: ExecConnection): Promise<void> {
  c.socket.destroy();
  await c.closed;
}

async function list(owner = ''): Promise<SessionListMessage['sessions']> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeListSessions(owner));
  const m = await c.waitFor(isList, 'SessionList');
  await c.closed;
  return m.sessions;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** `length` bytes of the counter's output ("0\n1\n2\n…") from `offset` on. */
function counterText(offset: number, length: number): string {
  // Numbers of d digits take d + 1 bytes each: skip whole runs of them, then whole numbers.
  let first = 0;
  let at = 0;
  for (let d = 1; ; d++) {
    const count = d === 1 ? 10 : 9 * 10 ** (d - 1);
    if (at + count * (d + 1) > offset) {
      const skip = Math.floor((offset - at) / (d + 1));
      first = (d === 1 ? 0 : 10 ** (d - 1)) + skip;
      at += skip * (d + 1);
      break;
    }
    at += count * (d + 1);
  }
  const parts: string[] = [];
  for (let i = first, n = 0; n < offset - at + length; i++) {
    parts.push(`${i}\n`);
    n += parts[parts.length - 1].length;
  }
  return parts.join('').slice(offset - at, offset - at + length);
}
/** A counter that writes fast, in blocks (an echo per line would be a frame per line). */
const COUNTER = ['seq', '0', '1000000000'];
const hasStdout = (c: ExecConnection, bytes: number) => (m: Message): m is Message => c.stdoutBytes > bytes;

describe('lingering sessions (spec §10)', () => {
  it('a version 2 session gets Started version 2 and Linger, capped at --max-linger', async () => {
    const { c, started, linger } = await start({ argv: ['true'], lingerSeconds: 100_000 });
    assert.equal(started.version, 2);
    assert.deepEqual({ ...linger }, { type: T.Linger, seconds: 120, windowBytes: 1024 * 1024 });
    await c.finish();
    const plain = await ExecConnection.open(agent.socketPath);
    plain.send(encodeExecStart({ argv: ['true'] }, 2));
    const r = await plain.finish();
    assert.deepEqual(r.types, [T.Started, T.Linger, T.Exit]);
    assert.equal((plain.messages.find(isLinger) as LingerMessage).seconds, 0, 'linger 0: the session does not linger');
  });

  it('survives a cut connection and resumes from the offsets: the rest of the output, stdin, Exit', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'echo first; read line; echo "got $line"; echo err >&2; exit 4'] });
    await c.waitForStdout('first\n');
    await cut(c);
    const r = await resume(started.sessionId, 6);
    const resumed = await r.waitFor(isResumed, 'Resumed');
    assert.equal(hex(resumed.sessionId), hex(started.sessionId));
    assert.equal(resumed.pid, started.pid);
    assert.deepEqual([resumed.stdinBytes, resumed.stdoutLost, resumed.stderrLost, resumed.stdinClosed, resumed.exited, resumed.tty], [0, 0, 0, false, false, false]);
    r.send(encodeDataFrame(T.Stdin, Buffer.from('hello\n')));
    r.send(encodeStdinClose());
    const result = await r.finish();
    assert.equal(result.stdout.toString(), 'got hello\n');
    assert.equal(result.stderr.toString(), 'err\n');
    assert.equal(result.exit!.code, 4);
    assert.deepEqual([result.exit!.stdoutBytes, result.exit!.stderrBytes], [16, 4], "Exit counts the whole session's output");
    assert.equal(result.types[0], T.Resumed);
  });

  it('replays what the client missed, in the order it was written', async () => {
    // Apart in time, so that the agent reads them in this order from its two pipes.
    const { c, started } = await start({ argv: ['sh', '-c', 'echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; cat >/dev/null'] });
    await c.waitForStdout('three\n');
    await cut(c);
    const r = await resume(started.sessionId, 0, 0);
    await r.waitFor(isResumed, 'Resumed');
    await r.waitForStdout('three\n');
    const data = r.messages.filter((m) => m.type === T.Stdout || m.type === T.Stderr).map((m) => Buffer.from((m as { data: Uint8Array }).data).toString());
    assert.equal(data.join(''), 'one\ntwo\nthree\n');
    assert.deepEqual(r.stderr().toString(), 'two\n');
    r.send(encodeStdinClose());
    assert.equal((await r.finish()).exit!.code, 0);
  });

  it('keeps an Exit that came while detached until a resume', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'sleep 0.3; echo done; exit 9'] });
    await cut(c);
    await new Promise((r) => setTimeout(r, 800));
    const [listed] = (await list()).filter((s) => s.id === hex(started.sessionId));
    assert.equal(listed.state, 'exited');
    assert.equal(listed.exitCode, 9);
    const r = await resume(started.sessionId, 0);
    const result = await r.finish();
    const resumed = r.messages.find(isResumed)!;
    assert.equal(resumed.exited, true);
    assert.equal(result.stdout.toString(), 'done\n');
    assert.equal(result.exit!.code, 9);
  });

  it('keeps the end of a session whose Exit went out on a connection, for the linger', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'echo bye'] });
    const first = await c.finish();
    assert.equal(first.exit!.code, 0);
    const r = await resume(started.sessionId, 4);
    const again = await r.finish();
    assert.equal(again.stdout.length, 0);
    assert.equal(again.exit!.stdoutBytes, 4);
    assert.deepEqual(again.types, [T.Resumed, T.Exit]);
  });

  it('acknowledges stdin it has taken, and the resumed client sends the rest again: no byte twice or never', async () => {
    const { c, started } = await start({ argv: ['cat'] });
    const part1 = randomBytes(200 * 1024);
    for (let at = 0; at < part1.length; at += 50 * 1024) c.send(encodeDataFrame(T.Stdin, part1.subarray(at, at + 50 * 1024)));
    await c.waitFor((m): m is StdinAckMessage => m.type === T.StdinAck && m.bytes === part1.length, 'StdinAck of everything');
    const acks = c.messages.filter(is<StdinAckMessage>(T.StdinAck)).map((m) => m.bytes);
    assert.ok(acks.every((n, i) => i === 0 || n > acks[i - 1]), `acks only grow: ${acks}`);
    await c.waitFor((m): m is Message => c.stdout().length === part1.length, 'the echo');
    await cut(c);
    const r = await resume(started.sessionId, part1.length);
    const resumed = await r.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.stdinBytes, part1.length);
    const part2 = randomBytes(100 * 1024 + 3);
    r.send(encodeDataFrame(T.Stdin, part2));
    r.send(encodeStdinClose());
    const result = await r.finish();
    assert.ok(result.stdout.equals(part2), 'the resumed connection carries the rest');
    assert.equal(result.exit!.stdoutBytes, part1.length + part2.length);
  });

  it("reads on while the command's input is backed up, so that an OutputAck behind Stdin arrives", async () => {
    // cat blocks on output the agent holds back until acknowledged, so it stops reading its
    // input; the acknowledgement comes behind 4 MiB of that input.
    const { c } = await start({ argv: ['cat'] });
    const input = randomBytes(4 * 1024 * 1024);
    for (let at = 0; at < input.length; at += 64 * 1024) c.send(encodeDataFrame(T.Stdin, input.subarray(at, at + 64 * 1024)));
    await c.waitFor(hasStdout(c, 1024 * 1024 - 1), 'the window of output');
    c.acknowledgeFrom(0, 0);
    c.send(encodeStdinClose());
    const r = await c.finish();
    assert.ok(r.stdout.equals(input));
  });

  it('a resumed TTY session says so, and takes the window size again', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'read x; stty size'], tty: true, window: { rows: 10, cols: 20 } });
    await cut(c);
    const r = await resume(started.sessionId, 0);
    const resumed = await r.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.tty, true);
    r.send(encodeWindowSize({ rows: 33, cols: 101 }));
    r.send(encodeDataFrame(T.Stdin, Buffer.from('go\r')));
    await r.waitForStdout('33 101');
    r.send(encodeStdinClose());
    assert.equal((await r.finish()).exit!.code, 0);
  });
});

describe('overflow while detached (spec §10.3)', () => {
  /** The counter, cut after its first output and left detached for 1.5 s, then resumed. */
  async function detachedCounter(request: Partial<ExecRequest>): Promise<{ c: ExecConnection; r: ExecConnection; received: number; resumed: ResumedMessage }> {
    const { c, started } = await start({ argv: COUNTER, ...request });
    await c.waitFor(hasStdout(c, 1000), 'some output');
    const received = c.stdoutBytes;
    await cut(c);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await resume(started.sessionId, received);
    return { c, r, received, resumed: await r.waitFor(isResumed, 'Resumed') };
  }

  it('pause (the default): the command waits for room, and no byte of the counter is lost', async () => {
    const { c, r, received, resumed } = await detachedCounter({});
    assert.equal(resumed.stdoutLost, 0);
    // Paused: without acknowledgements the agent sends what it holds, the window, and no more.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(r.stdoutBytes <= resumed.windowBytes + 64 * 1024, `${r.stdoutBytes} bytes replayed: about the window, not 1.5 s of a counter`);
    r.acknowledgeFrom(received, 0);
    await r.waitFor(hasStdout(r, 3 * 1024 * 1024), '2 MiB more of the counter');
    const all = Buffer.concat([c.stdout(), r.stdout()]).toString();
    assert.equal(all, counterText(0, all.length), 'the counter runs on without a gap or a repeat');
    r.send(encodeError('SHUTTING_DOWN', 'the test is done'));
    await r.closed;
  });

  it('drop: the command runs on, the oldest output is dropped and the resume says how much', async () => {
    const mark = marker();
    const { r, received, resumed } = await detachedCounter({ overflow: 'drop', env: envOf(mark) });
    assert.ok(resumed.stdoutLost > 0, 'a counter outruns a 1 MiB window in 1.5 s');
    const from = received + resumed.stdoutLost;
    r.acknowledgeFrom(from, 0);
    await r.waitFor(hasStdout(r, 2 * 1024 * 1024), 'more of the counter');
    const got = r.stdout();
    assert.equal(got.toString(), counterText(from, got.length), 'after the gap the bytes are exactly those that followed it');
    r.send(encodeError('SHUTTING_DOWN', 'the test is done'));
    await r.closed;
    await waitUntil(() => processesWithEnvironment(mark).length === 0, 'the command is hung up at once by the Error frame');
  });
});

describe('ending, expiry and owners (spec §10.5–§10.7)', () => {
  it('a session whose linger passes is hung up and answers SESSION_NOT_FOUND', async () => {
    const mark = marker();
    const { c, started } = await start({ argv: ['sleep', '60'], lingerSeconds: 1, env: envOf(mark) });
    await cut(c);
    await waitUntil(() => processesWithEnvironment(mark).length === 0, 'the command is hung up once the linger passed', 10_000);
    const r = await resume(started.sessionId, 0);
    const result = await r.finish();
    assert.equal(result.error!.code, 'SESSION_NOT_FOUND');
    assert.deepEqual(result.types, [T.Error]);
  });

  it("the client's Error frame hangs the command up at once, linger or not", async () => {
    const mark = marker();
    const { c, started } = await start({ argv: ['sleep', '60'], env: envOf(mark) });
    c.send(encodeError('SHUTTING_DOWN', 'the user hung up'));
    await waitUntil(() => processesWithEnvironment(mark).length === 0, 'the command is hung up', 5000);
    const r = await resume(started.sessionId, 0);
    assert.equal((await r.finish()).error!.code, 'SESSION_NOT_FOUND');
  });

  it("the client's Error frame hangs up at once even behind stdin the command does not read", async () => {
    const mark = marker();
    const { c } = await start({ argv: ['sleep', '60'], env: envOf(mark) });
    // More than the pipe takes: the command's input backs up, and what follows waits its turn.
    c.send(encodeDataFrame(T.Stdin, new Uint8Array(1024 * 1024)));
    c.send(encodeError('SHUTTING_DOWN', 'the user hung up'));
    await waitUntil(() => processesWithEnvironment(mark).length === 0, 'the command is hung up', 5000);
    c.destroy();
  });

  it('only the owner may resume: SESSION_FORBIDDEN for another, and for none', async () => {
    const { c, started } = await start({ argv: ['sleep', '60'], owner: 'alice' });
    for (const owner of ['mallory', undefined]) {
      const r = await resume(started.sessionId, 0, 0, owner);
      assert.equal((await r.finish()).error!.code, 'SESSION_FORBIDDEN');
    }
    assert.equal(c.messages.some(isError), false, 'a refused resume leaves the attached connection alone');
    c.send(encodeError('SHUTTING_DOWN', 'done'));
  });

  it('a resume takes the session over from a connection still attached: SESSION_TAKEN_OVER there', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'read x; echo "$x"'] });
    const r = await resume(started.sessionId, 0);
    await r.waitFor(isResumed, 'Resumed');
    const old = await c.finish();
    assert.equal(old.error!.code, 'SESSION_TAKEN_OVER');
    r.send(encodeDataFrame(T.Stdin, Buffer.from('still here\n')));
    const result = await r.finish();
    assert.equal(result.stdout.toString(), 'still here\n');
  });

  it('refuses offsets beyond what was written (INVALID_REQUEST), and resuming a session that does not linger', async () => {
    const { c, started } = await start({ argv: ['sh', '-c', 'echo hi; read x'] });
    await c.waitForStdout('hi\n');
    const r = await resume(started.sessionId, 4);
    assert.equal((await r.finish()).error!.code, 'INVALID_REQUEST');
    c.send(encodeStdinClose());
    await c.finish();
    const plain = await ExecConnection.open(agent.socketPath);
    plain.send(encodeExecStart({ argv: ['sleep', '60'] }, 2));
    const s = await plain.waitFor(isStarted, 'Started');
    const r2 = await resume(s.sessionId, 0);
    const refused = await r2.finish();
    assert.equal(refused.error!.code, 'SESSION_NOT_FOUND');
    assert.match(refused.error!.message, /does not linger/);
    plain.destroy();
  });

  it('refuses version 2 frames in a version 1 session', async () => {
    const c = await ExecConnection.open(agent.socketPath);
    c.send(encodeExecStart({ argv: ['sleep', '60'] }));
    await c.waitFor(isStarted, 'Started');
    c.send(encodeOutputAck(0, 0));
    const r = await c.finish();
    assert.equal(r.error!.code, 'UNEXPECTED_FRAME');
  });
});

describe('ListSessions (spec §10.8)', () => {
  it('lists the sessions of an owner, or all, with their state', async () => {
    const a = await start({ argv: ['sleep', '60'], owner: 'lister-a' });
    const b = await start({ argv: ['sh', '-c', 'sleep 60'], owner: 'lister-b', tty: true });
    await cut(b.c);
    const mine = await list('lister-a');
    assert.equal(mine.length, 1);
    const [s] = mine;
    assert.deepEqual({ ...s, startedAt: typeof s.startedAt }, { id: hex(a.started.sessionId), pid: a.started.pid, argv: ['sleep', '60'], owner: 'lister-a', tty: false, startedAt: 'number', state: 'attached', lingerSeconds: 60, observers: 0 });
    const all = await list();
    const theirs = all.find((x) => x.id === hex(b.started.sessionId))!;
    assert.equal(theirs.state, 'detached');
    assert.equal(theirs.tty, true);
    assert.ok(theirs.detachedAt! >= theirs.startedAt);
    for (const { c } of [a]) c.send(encodeError('SHUTTING_DOWN', 'done'));
    const r = await resume(b.started.sessionId, 0, 0, 'lister-b');
    await r.waitFor(isResumed, 'Resumed');
    r.send(encodeError('SHUTTING_DOWN', 'done'));
  });
});

const isNotice = is<NoticeMessage>(T.Notice);

/** A lingering session, and its id. */
async function startWriter(request: Partial<ExecRequest> & { owner?: string }): Promise<{ c: ExecConnection; id: Uint8Array }> {
  const { c, started } = await start(request);
  return { c, id: Uint8Array.from(started.sessionId) };
}

async function attach(sessionId: Uint8Array, attach: AttachRequest, owner?: string): Promise<ExecConnection> {
  const c = await ExecConnection.open(agent.socketPath);
  c.send(encodeExecStart({ owner, resume: { sessionId, stdoutBytes: 0, stderrBytes: 0, attach } }));
  return c;
}

const OBSERVE: AttachRequest = { mode: 'observe', live: false, anyOwner: false };
const stdinOf = (text: string) => encodeDataFrame(T.Stdin, Buffer.from(text));

describe('observers at the agent (spec §10.11)', () => {
  it("drops an observer's stdin, resize and signals itself, says so once, and sends it the writer's output", async () => {
    const { c: writer, id } = await startWriter({ argv: ['cat'], owner: 'alice' });
    writer.send(stdinOf('one\n'));
    await writer.waitForStdout('one\n');
    const observer = await attach(id, OBSERVE, 'alice');
    const resumed = await observer.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.observer, true);
    await observer.waitForStdout('one\n');
    // Straight at the agent: nothing in between drops these.
    observer.send(stdinOf('from the observer\n'));
    observer.send(encodeWindowSize({ rows: 5, cols: 5 }));
    observer.send(encodeSignal(15));
    observer.send(stdinOf('again\n'));
    observer.send(encodeStdinClose());
    await observer.waitFor(isNotice, 'Notice');
    writer.send(stdinOf('two\n'));
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
    const { c: writer, id } = await startWriter({ argv: ['cat'] });
    const a = await attach(id, OBSERVE);
    await a.waitFor(isResumed, 'Resumed');
    a.send(encodeError('SHUTTING_DOWN', 'done watching'));
    await a.closed;
    const b = await attach(id, OBSERVE);
    await b.waitFor(isResumed, 'Resumed');
    b.send(encodeExecStart({ argv: ['true'] }));
    assert.equal((await b.finish()).error?.code, 'UNEXPECTED_FRAME');
    writer.send(stdinOf('still running\n'));
    await writer.waitForStdout('still running\n');
    writer.send(encodeStdinClose());
    assert.equal((await writer.finish()).exit?.code, 0);
  });

  it('refuses a second writer (SESSION_BUSY); a take-over makes the first an observer and tells it', async () => {
    const { c: first, id } = await startWriter({ argv: ['cat'] });
    const busy = await attach(id, { mode: 'write', live: false, anyOwner: false });
    assert.equal((await busy.finish()).error?.code, 'SESSION_BUSY');
    const second = await attach(id, { mode: 'take-over', live: false, anyOwner: false });
    await second.waitFor(isResumed, 'Resumed');
    const told = await first.waitFor(isNotice, 'Notice');
    assert.equal(told.kind, 'observing');
    first.send(stdinOf('from the first\n'));
    second.send(stdinOf('from the second\n'));
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
    plain.send(stdinOf('before\n'));
    await plain.waitForStdout('before\n');
    const bob = await attach(id, { mode: 'observe', live: true, anyOwner: true }, 'bob');
    const resumed = await bob.waitFor(isResumed, 'Resumed');
    assert.equal(resumed.stdoutLost, 7, 'live: it starts at the current point');
    plain.send(stdinOf('after\n'));
    await bob.waitForStdout('after\n');
    plain.send(encodeStdinClose());
    const o = await bob.finish();
    assert.equal(o.stdout.toString(), 'after\n');
    assert.equal(o.exit?.stdoutBytes, 13, "Exit's counts are the session's");
    await plain.finish();
  });

  it('cuts an observer that reads nothing with OBSERVER_TOO_SLOW, while the writer gets all its output', async () => {
    const total = 24 * 1024 * 1024;
    const { c: writer, id } = await startWriter({ argv: ['sh', '-c', `read x; head -c ${total} /dev/zero`] });
    writer.acknowledgeFrom(0, 0);
    const slow = await attach(id, OBSERVE);
    await slow.waitFor(isResumed, 'Resumed');
    slow.socket.pause();
    writer.send(stdinOf('go\n'));
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
