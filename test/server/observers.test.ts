// Observers and a single writer through the API server (spec §10.11): observers see the
// writer's terminal and reach nothing, each told once; a slow observer is cut while the
// writer gets all its output; a take-over leaves the old writer observing; a second writer
// is refused; the token's observe claim decides who may watch another subject's session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execInInstance } from '../../src/host/client/index.js';
import {
  type AttachRequest,
  type ErrorMessage,
  FrameType,
  type Message,
  type NoticeMessage,
  type ResumedMessage,
  type StartedMessage,
  encodeDataFrame,
  encodeExecStart,
  encodeSignal,
  encodeStdinClose,
  encodeWindowSize,
} from '../../src/wire/index.js';
import { waitUntil } from '../guest/agentProcess.js';
import { FramedClient, type Stack, execUrl, startStack } from './stack.js';

/** An observer cut past this much unsent output: small, so that a paused one is cut soon. */
const OBSERVER_BACKLOG = 1024 * 1024;

let stack: Stack;
before(async () => {
  stack = await startStack({ limits: { observerBacklogBytes: OBSERVER_BACKLOG } });
});
after(async () => {
  await stack?.stop();
});

const OBSERVE: AttachRequest = { mode: 'observe', live: false, anyOwner: false };
const stdin = (text: string) => encodeDataFrame(FrameType.Stdin, Buffer.from(text));
const notices = (c: FramedClient) => c.messages.filter((m): m is NoticeMessage => m.type === FrameType.Notice);
const errorOf = (c: FramedClient) => c.messages.find((m): m is ErrorMessage => m.type === FrameType.Error);
const stdoutOf = (c: FramedClient) => Buffer.concat(c.messages.filter((m) => m.type === FrameType.Stdout).map((m) => Buffer.from((m as { data: Uint8Array }).data))).toString();

async function waitFor<T extends Message>(client: FramedClient, type: number): Promise<T> {
  await waitUntil(() => client.messages.some((m) => m.type === type), `a frame of type 0x${type.toString(16)}`, 20_000);
  return client.messages.find((m) => m.type === type) as T;
}

async function waitForText(client: FramedClient, text: string): Promise<void> {
  await waitUntil(() => stdoutOf(client).includes(text), JSON.stringify(text), 20_000);
}

/** A framed client that starts a lingering session. */
async function startSession(request: Parameters<typeof encodeExecStart>[0], token = stack.token): Promise<{ client: FramedClient; id: Uint8Array }> {
  const client = new FramedClient(execUrl(stack.url, 'web'), { token });
  await client.opened();
  client.send(encodeExecStart({ lingerSeconds: 60, ...request }));
  const started = await waitFor<StartedMessage>(client, FrameType.Started);
  return { client, id: Uint8Array.from(started.sessionId) };
}

/** A framed client that attaches to a session. */
async function attach(sessionId: Uint8Array, how: AttachRequest, token = stack.token): Promise<FramedClient> {
  const client = new FramedClient(execUrl(stack.url, 'web'), { token });
  await client.opened();
  client.send(encodeExecStart({ resume: { sessionId, stdoutBytes: 0, stderrBytes: 0, attach: how } }));
  return client;
}

describe('observers through the API server (spec §10.11)', () => {
  it("two observers see the writer's typed text echoed; their keystrokes reach nothing, and each is told once", async () => {
    const { client: writer, id } = await startSession({ argv: ['sh'], tty: true, env: { PS1: '$ ' } });
    const observers = [await attach(id, OBSERVE), await attach(id, { ...OBSERVE, live: true })];
    for (const o of observers) assert.equal((await waitFor<ResumedMessage>(o, FrameType.Resumed)).observer, true);
    writer.send(stdin('echo typed-by-the-writer $((6*7))\r'));
    for (const o of observers) {
      await waitForText(o, 'typed-by-the-writer $((6*7))'); // the echo of what was typed
      await waitForText(o, 'typed-by-the-writer 42'); // and the command's output
    }
    for (const [i, o] of observers.entries()) {
      o.send(stdin(`echo typed-by-observer-${i}\r`));
      o.send(encodeWindowSize({ rows: 3, cols: 9 }));
      o.send(encodeSignal(2));
      o.send(stdin(`echo again-by-observer-${i}\r`));
      o.send(encodeStdinClose());
      await waitFor<NoticeMessage>(o, FrameType.Notice);
    }
    writer.send(stdin('stty size; echo end-$((1+1))\r'));
    for (const o of observers) await waitForText(o, 'end-2');
    writer.send(stdin('exit\r'));
    const [w, ...o] = await Promise.all([writer.done, ...observers.map((c) => c.done)]);
    assert.equal(w.closeCode, 1000);
    assert.doesNotMatch(w.stdout.toString(), /by-observer/, "no observer's keystroke reached the terminal");
    assert.match(w.stdout.toString(), /24 80/, "the terminal keeps the writer's size, not an observer's 3x9");
    for (const [i, result] of o.entries()) {
      assert.equal(result.closeCode, 1000, 'an observer gets the Exit too');
      assert.doesNotMatch(result.stdout.toString(), /by-observer/);
      const told = notices(observers[i]);
      assert.equal(told.length, 1, 'told once');
      assert.equal(told[0].kind, 'read-only');
    }
    const audit = stack.auditLines.map((l) => JSON.parse(l)).filter((l) => l.audit === 'attach' && l.session === Buffer.from(id).toString('hex'));
    assert.deepEqual(audit.map((l) => l.mode), ['observe', 'observe']);
  });

  it('cuts an observer that reads nothing (OBSERVER_TOO_SLOW) while the writer gets every byte', async () => {
    const total = 64 * 1024 * 1024;
    const writer = await execInInstance(
      { apiUrl: stack.url.replace(/^ws:/, 'http:'), instance: 'web', token: stack.token },
      { argv: ['sh', '-c', `read x; head -c ${total} /dev/zero`], lingerSeconds: 60 },
    );
    const { sessionId } = await writer.started;
    let received = 0;
    writer.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
    const slow = await attach(Uint8Array.from(Buffer.from(sessionId, 'hex')), { ...OBSERVE, live: true });
    await waitFor<ResumedMessage>(slow, FrameType.Resumed);
    slow.ws.pause();
    writer.stdin.end('go\n');
    await waitUntil(() => received >= total / 2, 'half the output at the writer', 60_000);
    slow.ws.resume();
    const [status, cut] = await Promise.all([writer.exit, slow.done]);
    assert.equal(status.code, 0);
    assert.equal(received, total, 'the writer got every byte');
    assert.equal(errorOf(slow)?.code, 'OBSERVER_TOO_SLOW', `the observer ended with ${cut.closeCode} ${cut.closeReason}`);
    assert.equal(cut.closeCode, 4040);
    assert.ok(cut.stdout.length < total);
  });

  it('refuses a second writer (SESSION_BUSY); a take-over leaves the first writer observing, and told', async () => {
    const { client: first, id } = await startSession({ argv: ['cat'] });
    const busy = await attach(id, { mode: 'write', live: false, anyOwner: false });
    const refused = await busy.done;
    assert.equal(errorOf(busy)?.code, 'SESSION_BUSY');
    assert.equal(refused.closeCode, 4030);
    const second = await attach(id, { mode: 'take-over', live: false, anyOwner: false });
    await waitFor<ResumedMessage>(second, FrameType.Resumed);
    const told = await waitFor<NoticeMessage>(first, FrameType.Notice);
    assert.equal(told.kind, 'observing');
    first.send(stdin('from the first\n'));
    await waitUntil(() => notices(first).some((n) => n.kind === 'read-only'), 'the server telling the old writer its input is dropped');
    second.send(stdin('from the second\n'));
    await waitForText(first, 'from the second\n');
    second.send(encodeStdinClose());
    const [a, b] = await Promise.all([first.done, second.done]);
    assert.equal(b.stdout.toString(), 'from the second\n');
    assert.equal(a.stdout.toString(), 'from the second\n', "the old writer's input reached nothing");
    assert.equal(a.closeCode, 1000);
  });

  it("lets another subject observe only with the observe claim for the instance (and never forges it from the client's flag)", async () => {
    const { client: writer, id } = await startSession({ argv: ['cat'] });
    const cases: Array<[string, string[] | undefined, boolean]> = [
      ['bob', undefined, false],
      ['dave', ['db'], false],
      ['carol', ['web'], true],
      ['erin', ['web-id'], true],
      ['oncall', ['*'], true],
    ];
    for (const [subject, observe, allowed] of cases) {
      const token = await stack.tokenFor(subject, observe ? { observe } : {});
      // The client claims any owner itself: only the server's grant counts.
      const c = await attach(id, { ...OBSERVE, anyOwner: true }, token);
      if (allowed) {
        await waitFor<ResumedMessage>(c, FrameType.Resumed);
        c.send(stdin('not from the owner\n'));
        await waitFor<NoticeMessage>(c, FrameType.Notice);
        c.ws.close();
      } else {
        await c.done;
        assert.equal(errorOf(c)?.code, 'SESSION_FORBIDDEN', `${subject} may not observe`);
      }
      await c.done;
    }
    const bobWrites = await attach(id, { mode: 'take-over', live: false, anyOwner: false }, await stack.tokenFor('oncall', { observe: ['*'] }));
    await bobWrites.done;
    assert.equal(errorOf(bobWrites)?.code, 'SESSION_FORBIDDEN', 'the claim is for observing only');
    writer.send(stdin('owner\n'));
    writer.send(encodeStdinClose());
    assert.equal((await writer.done).stdout.toString(), 'owner\n');
  });
});
