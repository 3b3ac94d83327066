// Sessions at scale and over their lifetime: concurrency, clients that drop at random
// points, flow control, graceful shutdown, the HTTP endpoints, metrics and the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  FrameType,
  INITIAL_STDIN_CREDIT,
  encodeDataFrame,
  encodePing,
  type ExitMessage,
} from '../../src/wire/index.js';
import { descendantsOf, waitUntil } from '../guest/agentProcess.js';
import { FramedClient, type Stack, execUrl, startStack } from './stack.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});

const http = () => stack.url.replace('ws:', 'http:');
const exitCode = (messages: { type: number }[]) => (messages.find((m) => m.type === FrameType.Exit) as ExitMessage | undefined)?.code;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${http()}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('HTTP endpoints', () => {
  it('GET /healthz, /metrics without a token', async () => {
    const h = await fetch(`${http()}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(((await h.json()) as { status: string }).status, 'ok');
    const m = await fetch(`${http()}/metrics`);
    assert.match(await m.text(), /hypeman_exec_sessions_active/);
  });

  it('GET /instances and /instances/{id} need a token and honour its instances claim', async () => {
    assert.equal((await fetch(`${http()}/instances`)).status, 401);
    const all = (await (await fetch(`${http()}/instances`, { headers: { authorization: `Bearer ${stack.token}` } })).json()) as Array<{ name: string }>;
    assert.deepEqual(all.map((i: { name: string }) => i.name), ['db', 'old', 'web']);
    const one = await fetch(`${http()}/instances/web`, { headers: { authorization: `Bearer ${stack.token}` } });
    assert.deepEqual(await one.json(), { id: 'web-id', name: 'web', state: 'running', hypervisor: 'cloud-hypervisor' });
    assert.equal((await fetch(`${http()}/instances/nope`, { headers: { authorization: `Bearer ${stack.token}` } })).status, 404);
    assert.equal((await fetch(`${http()}/nowhere`)).status, 404);
  });
});

describe('many sessions', () => {
  it('runs 200 concurrent sessions, each with its own output', async () => {
    const clients = Array.from({ length: 200 }, (_, i) =>
      new FramedClient(execUrl(stack.url, 'web', [['command', 'echo'], ['command', `session-${i}`]]), { token: stack.token }).done,
    );
    const results = await Promise.all(clients);
    results.forEach((r, i) => {
      assert.equal(r.stdout.toString(), `session-${i}\n`);
      assert.equal(exitCode(r.messages), 0);
    });
  });

  it('1,000 sessions dropped at random points leave no active session and no process', async () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const batch = async (count: number) => {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const client = new FramedClient(
            execUrl(stack.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'while :; do echo tick; sleep 0.01; done']]),
            { token: stack.token },
          );
          const point = rand(4);
          if (point === 0) client.ws.terminate();
          else {
            await client.opened().catch(() => undefined);
            if (point === 1) client.ws.terminate();
            else if (point === 2) await new Promise((r) => setTimeout(r, rand(50))).then(() => client.ws.close());
            else await new Promise((r) => setTimeout(r, rand(200))).then(() => client.ws.terminate());
          }
          await client.done.catch(() => undefined);
        }),
      );
    };
    for (let i = 0; i < 10; i++) await batch(100);
    await waitUntil(() => stack.server.activeSessions === 0, 'no relay is left');
    assert.equal(await metric('hypeman_exec_sessions_active'), 0);
    await waitUntil(() => descendantsOf(stack.agent.pid).length === 0, 'the agent has no process left', 30_000);
  });
});

describe('flow control', () => {
  it('ends a client that ignores stdin credit with FLOW_CONTROL (4006) instead of buffering', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web', [['command', 'sleep'], ['command', '30']]), { token: stack.token });
    await client.opened();
    const chunk = encodeDataFrame(FrameType.Stdin, new Uint8Array(64 * 1024));
    for (let sent = 0; sent < INITIAL_STDIN_CREDIT * 3 && client.ws.readyState === WebSocket.OPEN; sent += 64 * 1024) client.send(chunk);
    const r = await client.done;
    assert.equal(r.closeCode, 4006);
    assert.equal(r.closeReason, 'FLOW_CONTROL');
  });
});

describe('audit log', () => {
  it('records subject, instance, argv, result, duration and bytes, never the token', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web', [['command', 'echo'], ['command', 'audited']]), { token: stack.token });
    await client.done;
    await waitUntil(() => stack.auditLines.some((l) => l.includes('"audited"')), 'the audit line is written');
    const line = JSON.parse(stack.auditLines.find((l) => l.includes('"audited"'))!);
    assert.equal(line.audit, 'exec');
    assert.equal(line.subject, 'tester');
    assert.equal(line.instance, 'web-id');
    assert.deepEqual(line.argv, ['echo', 'audited']);
    assert.equal(line.result, 'exited');
    assert.equal(line.exitCode, 0);
    assert.equal(line.bytesOut, 8);
    assert.equal(typeof line.durationMs, 'number');
    assert.equal(typeof line.remote, 'string');
    assert.ok(!stack.auditLines.join('').includes(stack.token), 'the token never reaches the log');
  });
});

describe('graceful shutdown', () => {
  it('lets sessions finish within the grace period, then ends the rest with SHUTTING_DOWN', async () => {
    const own = await startStack();
    try {
      const quick = new FramedClient(execUrl(own.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'sleep 0.3; echo done']]), { token: own.token });
      const slow = new FramedClient(execUrl(own.url, 'web', [['command', 'sleep'], ['command', '30']]), { token: own.token });
      await Promise.all([quick.opened(), slow.opened()]);
      await waitUntil(() => own.server.activeSessions === 2, 'both sessions run');
      await own.server.stop(2000);
      const [q, s] = await Promise.all([quick.done, slow.done]);
      assert.equal(q.stdout.toString(), 'done\n');
      assert.equal(q.closeCode, 1000);
      assert.equal(s.closeCode, 4033);
      // Nothing accepts connections any more.
      await assert.rejects(fetch(`${own.url.replace('ws:', 'http:')}/healthz`));
    } finally {
      await own.stop();
    }
  });
});


describe('agent keep-alive (server pings a silent agent)', () => {
  let quick: Stack;
  before(async () => {
    quick = await startStack({ limits: { agentKeepAliveMs: 200 } });
  });
  after(async () => {
    await quick?.stop();
  });

  it('keeps a quiet session open and never passes its own Pongs on to the client', async () => {
    const client = new FramedClient(execUrl(quick.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'sleep 1; echo done']]), { token: quick.token });
    const r = await client.done;
    assert.equal(r.stdout.toString(), 'done\n');
    assert.equal(exitCode(r.messages), 0);
    assert.equal(r.messages.filter((m) => m.type === FrameType.Pong).length, 0);
  });

  it('still relays the Pong that answers the client\'s own Ping', async () => {
    const client = new FramedClient(execUrl(quick.url, 'web', [['command', 'sleep'], ['command', '1']]), { token: quick.token });
    await client.opened();
    await waitUntil(() => client.messages.some((m) => m.type === FrameType.Started), 'Started');
    client.send(encodePing(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])));
    const r = await client.done;
    const pongs = r.messages.filter((m) => m.type === FrameType.Pong);
    assert.equal(pongs.length, 1);
    assert.deepEqual([...(pongs[0] as { token: Uint8Array }).token], [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('ends the session with PEER_UNRESPONSIVE (close 4035) when the agent freezes, in both dialects', async () => {
    const framed = new FramedClient(execUrl(quick.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'echo ready; exec sleep 30']]), { token: quick.token });
    await waitUntil(() => framed.messages.some((m) => m.type === FrameType.Stdout), 'the command to start');
    const compat = new WebSocket(execUrl(quick.url, 'web', [['command', 'sh'], ['command', '-c'], ['command', 'echo ready; exec sleep 30']]), { headers: { authorization: `Bearer ${quick.token}` } });
    const texts: string[] = [];
    let ready = false;
    compat.on('message', (data: Buffer, isBinary) => (isBinary ? (ready = true) : texts.push(data.toString())));
    const compatClosed = new Promise<number>((resolve) => compat.on('close', (code) => resolve(code)));
    await waitUntil(() => ready, 'the compatible session to start');
    process.kill(quick.agent.pid, 'SIGSTOP');
    try {
      const r = await framed.done;
      const err = r.messages.find((m) => m.type === FrameType.Error);
      assert.equal(err && 'code' in err ? err.code : undefined, 'PEER_UNRESPONSIVE');
      assert.match(err && 'message' in err ? err.message : '', /agent of instance web-id stopped answering/);
      assert.equal(r.closeCode, 4035);
      assert.equal(await compatClosed, 4035);
      assert.equal((JSON.parse(texts[0]) as { code: string }).code, 'PEER_UNRESPONSIVE');
    } finally {
      process.kill(quick.agent.pid, 'SIGCONT');
    }
  });
});
