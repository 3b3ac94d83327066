// Durable sessions through the API server (spec §8.4, §10): the owner is the token's
// subject, a resume is relayed and audited, another subject cannot attach, the client's
// Error hangs up at once, a dropped WebSocket or a stopping server leave the session to a
// resume, and GET /instances/{id}/sessions lists the subject's own sessions.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  FrameType,
  type Message,
  type ResumedMessage,
  type SessionSummary,
  type StartedMessage,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodeStdinClose,
} from '../../src/wire/index.js';
import { processesWithEnvironment, waitUntil } from '../guest/agentProcess.js';
import { ExecConnection } from '../guest/execClient.js';
import { FramedClient, type Stack, execUrl, startStack } from './stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

const http = () => stack.url.replace(/^ws:/, 'http:');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function marker(): [string, string] {
  return ['HYPEMAN_DURABLE_MARK', randomBytes(6).toString('hex')];
}

async function sessions(token: string, instance = 'web'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${http()}/instances/${instance}/sessions`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json() };
}

async function waitForMessage<T extends Message>(client: FramedClient, type: number): Promise<T> {
  await waitUntil(() => client.messages.some((m) => m.type === type), `a frame of type 0x${type.toString(16)}`);
  return client.messages.find((m) => m.type === type) as T;
}

/** A framed client that starts a lingering session. */
async function startLingering(request: Parameters<typeof encodeExecStart>[0], token = stack.token): Promise<{ client: FramedClient; started: StartedMessage }> {
  const client = new FramedClient(execUrl(stack.url, 'web'), { token });
  await client.opened();
  client.send(encodeExecStart({ lingerSeconds: 60, ...request }));
  return { client, started: await waitForMessage<StartedMessage>(client, FrameType.Started) };
}

/** A framed client that resumes a session. */
async function resume(sessionId: Uint8Array, stdoutBytes: number, token = stack.token): Promise<FramedClient> {
  const client = new FramedClient(execUrl(stack.url, 'web'), { token });
  await client.opened();
  client.send(encodeExecStart({ resume: { sessionId, stdoutBytes, stderrBytes: 0 } }));
  return client;
}

describe('durable sessions through the API server (spec §10)', () => {
  it('a dropped WebSocket leaves the session to a resume, which the server relays and audits', async () => {
    const { client, started } = await startLingering({ argv: ['sh', '-c', 'echo before; read x; echo "after $x"'], owner: 'someone-else' });
    await waitUntil(() => client.messages.some((m) => m.type === FrameType.Stdout), 'the first output');
    client.ws.terminate();
    await client.done;
    const r = await resume(started.sessionId, 7);
    const resumed = await waitForMessage<ResumedMessage>(r, FrameType.Resumed);
    assert.equal(hex(resumed.sessionId), hex(started.sessionId));
    r.send(encodeDataFrame(FrameType.Stdin, Buffer.from('again\n')));
    r.send(encodeStdinClose());
    const result = await r.done;
    assert.equal(result.stdout.toString(), 'after again\n');
    assert.equal(result.closeCode, 1000);
    const attach = stack.auditLines.map((l) => JSON.parse(l)).find((l) => l.audit === 'attach' && l.session === hex(started.sessionId));
    assert.equal(attach?.subject, 'tester', 'an attach line: who resumed which session');
    const ended = stack.auditLines.map((l) => JSON.parse(l)).filter((l) => l.audit === 'exec' && l.session === hex(started.sessionId));
    assert.deepEqual(ended.map((l) => l.resumed ?? false).sort(), [false, true], 'both connections end with an exec line naming the session');
  });

  it('the owner is the token subject, whatever the client sent: another subject cannot attach or list it', async () => {
    const { client, started } = await startLingering({ argv: ['sleep', '60'], owner: 'mallory' });
    const mine = await sessions(stack.token);
    assert.equal(mine.status, 200);
    const listed = (mine.body as SessionSummary[]).find((s) => s.id === hex(started.sessionId));
    assert.equal(listed?.owner, 'tester');
    assert.equal(listed?.state, 'attached');
    const mallory = await stack.tokenFor('mallory');
    assert.deepEqual((await sessions(mallory)).body, [], "another subject's listing does not show it");
    const thief = await resume(started.sessionId, 0, mallory);
    const refused = await thief.done;
    assert.equal(refused.closeCode, 4021);
    assert.equal((refused.messages.find((m) => m.type === FrameType.Error) as { code: string }).code, 'SESSION_FORBIDDEN');
    assert.equal(client.messages.some((m) => m.type === FrameType.Error), false, 'the session goes on');
    client.send(encodeError('SHUTTING_DOWN', 'the test is done'));
    client.ws.close();
  });

  it("the client's Error frame hangs the command up at once, linger or not", async () => {
    const [name, value] = marker();
    const { client } = await startLingering({ argv: ['sleep', '60'], env: { [name]: value } });
    client.send(encodeError('SHUTTING_DOWN', 'the user hung up'));
    client.ws.close();
    await waitUntil(() => processesWithEnvironment(`${name}=${value}`).length === 0, 'the command is hung up', 5000);
  });

  it("a client's protocol error ends the session and hangs the command up, though it lingers", async () => {
    const [name, value] = marker();
    const { client, started } = await startLingering({ argv: ['sleep', '60'], env: { [name]: value } });
    client.send(Buffer.from([0, 0, 0, 0, 0x7e]));
    const result = await client.done;
    assert.equal(result.closeCode, 4003);
    await waitUntil(() => processesWithEnvironment(`${name}=${value}`).length === 0, 'the command is hung up', 5000);
    const r = await resume(started.sessionId, 0);
    assert.equal((await r.done).closeCode, 4020, 'SESSION_NOT_FOUND');
  });
});

describe('GET /instances/{id}/sessions (spec §8.4)', () => {
  it('401 without a token, 409 for a stopped instance, 502 for an agent that cannot be reached', async () => {
    assert.equal((await sessions('')).status, 401);
    const stopped = await sessions(stack.token, 'old');
    assert.equal(stopped.status, 409);
    const unreachable = await sessions(stack.token, 'db');
    assert.equal(unreachable.status, 502);
    assert.equal((unreachable.body as { code: string }).code, 'AGENT_UNREACHABLE');
  });
});

describe('a stopping API server (spec §10.5)', () => {
  it('ends its sessions with SHUTTING_DOWN but leaves them to a resume on the next server', async () => {
    const own = await startStack();
    try {
      const client = new FramedClient(execUrl(own.url, 'web'), { token: own.token });
      await client.opened();
      client.send(encodeExecStart({ argv: ['sh', '-c', 'read x; echo "got $x"'], lingerSeconds: 60 }));
      const started = await waitForMessage<StartedMessage>(client, FrameType.Started);
      await own.server.stop(0);
      const result = await client.done;
      assert.equal(result.closeCode, 4033);
      // The agent still has it: resume on its socket, as another server would.
      const c = await ExecConnection.open(own.agent.socketPath);
      c.send(encodeExecStart({ owner: 'tester', resume: { sessionId: started.sessionId, stdoutBytes: 0, stderrBytes: 0 } }));
      c.send(encodeDataFrame(FrameType.Stdin, Buffer.from('yes\n')));
      const r = await c.finish();
      assert.equal(r.stdout.toString(), 'got yes\n');
    } finally {
      await own.stop();
    }
  });
});
