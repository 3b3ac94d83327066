// Issue 21: a client with a valid token cannot deny service to anyone else. Each finding of
// the hostile run, through the real server, mux and agent; loops bounded in count and time.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { execInInstance } from '../../src/host/client/execInInstance.js';
import { FrameType, encodeDataFrame, encodeExecStart, encodePing } from '../../src/wire/index.js';
import { FramedClient, type Stack, execUrl, startStack, upgradeRefusal } from './stack.js';

/** Runs `argv` as a framed client and returns how it ended. */
async function run(stack: Stack, argv: string[], token = stack.token) {
  const client = new FramedClient(execUrl(stack.url, 'web'), { token });
  await client.opened();
  client.send(encodeExecStart({ argv }));
  client.send(Uint8Array.of(0, 0, 0, 0, FrameType.StdinClose));
  return client.done;
}

/** A plain HTTP GET with a Host header of our choosing. */
function get(stack: Stack, path: string, host: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const until = async (what: string, done: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('hostile clients (issue 21)', () => {
  describe('with the default limits', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ limits: { requestTimeoutMs: 2_000 } });
    });
    after(async () => {
      await stack.stop();
    });

    it('200 framed sessions that never send a request hold no connection to the hypervisor socket, and others run meanwhile', async () => {
      const idle = Array.from({ length: 200 }, () => new FramedClient(execUrl(stack.url, 'web'), { token: stack.token }));
      await Promise.all(idle.map((c) => c.opened()));
      assert.equal(stack.mux.connections, 0, 'idle sessions opened agent connections');
      const r = await run(stack, ['echo', 'still served']);
      assert.equal(r.closeCode, 1000);
      assert.equal(r.stdout.toString(), 'still served\n');
      // Each idle one ends on its own when the request timeout passes.
      const ended = await Promise.all(idle.map((c) => c.done));
      assert.ok(ended.every((e) => e.closeCode === 4007 && e.closeReason === 'START_TIMEOUT'), JSON.stringify(ended.find((e) => e.closeCode !== 4007)));
    });

    it('a client flooding one-byte Stdin frames is cut with FLOW_CONTROL naming small messages, while another session runs', async () => {
      const flooder = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
      await flooder.opened();
      flooder.send(encodeExecStart({ argv: ['sh', '-c', 'cat >/dev/null'] }));
      const oneByte = encodeDataFrame(FrameType.Stdin, Uint8Array.of(0x61));
      const other = run(stack, ['sh', '-c', 'echo other; sleep 0.2; echo done']);
      for (let i = 0; i < 200_000 && flooder.ws.readyState === WebSocket.OPEN; i++) {
        flooder.ws.send(oneByte);
        if (i % 10_000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const r = await flooder.done;
      assert.equal(r.closeCode, 4006, `closed with ${r.closeCode} ${r.closeReason}`);
      const error = r.messages.find((m) => m.type === FrameType.Error);
      assert.ok(error?.type === FrameType.Error && /messages under 1024 bytes a second/.test(error.message), JSON.stringify(error));
      const o = await other;
      assert.equal(o.closeCode, 1000);
      assert.equal(o.stdout.toString(), 'other\ndone\n');
    });

    it('the library joins small writes, so a program writing stdin a byte at a time is not cut', async () => {
      const session = await execInInstance({ apiUrl: stack.url.replace('ws:', 'http:'), instance: 'web', token: stack.token }, { argv: ['wc', '-c'] });
      let out = '';
      session.stdout.on('data', (d: Buffer) => (out += d));
      session.stderr.resume();
      for (let i = 0; i < 100_000; i++) session.stdin.write(Uint8Array.of(0x61));
      session.stdin.end();
      const exit = await session.exit;
      assert.equal(exit.code, 0);
      assert.equal(out.trim(), '100000');
    });

    it('Pings piling up behind stdin the command does not read end with FLOW_CONTROL naming control frames, not stdin', async () => {
      const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
      await client.opened();
      // sleep never reads its stdin: once pipes and sockets are full, the agent stops reading
      // its connection (spec §9.8), and frames for it wait in the server.
      client.send(encodeExecStart({ argv: ['sleep', '30'] }));
      const chunk = encodeDataFrame(FrameType.Stdin, new Uint8Array(64 * 1024));
      for (let i = 0; i < 48; i++) client.send(chunk);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Paced under the small-message budget, so that only the waiting frames are counted.
      const ping = encodePing(new Uint8Array(8));
      for (let i = 0; i < 12_000 && client.ws.readyState === WebSocket.OPEN; i++) {
        client.ws.send(ping);
        if (i % 1_000 === 999) await new Promise((resolve) => setTimeout(resolve, 60));
      }
      const r = await client.done;
      assert.equal(r.closeCode, 4006, `closed with ${r.closeCode} ${r.closeReason}`);
      const error = r.messages.find((m) => m.type === FrameType.Error);
      assert.ok(error?.type === FrameType.Error && /control frames/.test(error.message), JSON.stringify(error));
    });

    it('answers a DNS-rebinding request (Host and Origin both a foreign name) with 421, on every route', async () => {
      const { port } = new URL(stack.url);
      const evil = `rebind.evil:${port}`;
      const refusal = await upgradeRefusal(execUrl(stack.url, 'web'), { token: stack.token, headers: { host: evil, origin: `http://${evil}` } });
      assert.equal(refusal.status, 421);
      assert.equal(refusal.body.code, 'MISDIRECTED_HOST');
      for (const path of ['/healthz', '/metrics', '/instances', '/nowhere']) {
        const r = await get(stack, path, evil);
        assert.equal(r.status, 421, path);
        assert.equal(JSON.parse(r.body).code, 'MISDIRECTED_HOST', path);
      }
      assert.equal((await get(stack, '/healthz', `127.0.0.1:${port}`)).status, 200);
      assert.equal((await get(stack, '/healthz', `localhost:${port}`)).status, 200);
      assert.equal((await get(stack, '/healthz', `[::1]:${port}`)).status, 200);
    });
  });

  describe('with small session limits', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ sessionLimits: { maxSessionsPerSubject: 3, maxSessionsPerInstance: 2, maxPendingPerSubject: 2 }, publicHosts: ['exec.example.com'] });
    });
    after(async () => {
      await stack.stop();
    });

    it('refuses a subject its fourth session (429 SUBJECT_SESSION_LIMIT) and a third pending one, while another subject is served', async () => {
      const pending = [0, 1].map(() => new FramedClient(execUrl(stack.url, 'web'), { token: stack.token }));
      await Promise.all(pending.map((c) => c.opened()));
      const third = await upgradeRefusal(execUrl(stack.url, 'web'), { token: stack.token });
      assert.equal(third.status, 429);
      assert.equal(third.body.code, 'SUBJECT_SESSION_LIMIT');
      assert.match(third.body.message, /not sent their request/);
      const other = await run(stack, ['echo', 'mine'], await stack.tokenFor('someone-else'));
      assert.equal(other.stdout.toString(), 'mine\n');
      for (const c of pending) c.ws.close(1000);
      await Promise.all(pending.map((c) => c.done));
    });

    it('keeps an instance to its maximum of running sessions: 503 INSTANCE_SESSION_LIMIT at the upgrade, TOO_MANY_SESSIONS (4034) for a request that comes too late', async () => {
      const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((sub) => stack.tokenFor(sub)));
      // Carol opens first and waits; Alice and Bob then fill the instance.
      const late = new FramedClient(execUrl(stack.url, 'web'), { token: carol });
      await late.opened();
      const running = [alice, bob].map((token) => new FramedClient(execUrl(stack.url, 'web'), { token }));
      await Promise.all(running.map((c) => c.opened()));
      for (const c of running) c.send(encodeExecStart({ argv: ['sleep', '30'] }));
      await until('two running sessions', () => stack.mux.connections === 2);
      const refusal = await upgradeRefusal(execUrl(stack.url, 'web'), { token: carol });
      assert.equal(refusal.status, 503);
      assert.equal(refusal.body.code, 'INSTANCE_SESSION_LIMIT');
      late.send(encodeExecStart({ argv: ['true'] }));
      const r = await late.done;
      assert.deepEqual([r.closeCode, r.closeReason], [4034, 'TOO_MANY_SESSIONS']);
      for (const c of running) c.ws.close(1000);
      await Promise.all(running.map((c) => c.done));
      const again = await run(stack, ['echo', 'room again'], carol);
      assert.equal(again.stdout.toString(), 'room again\n');
    });

    it('accepts the names given with --public-host', async () => {
      const { port } = new URL(stack.url);
      assert.equal((await get(stack, '/healthz', `exec.example.com:${port}`)).status, 200);
      assert.equal((await get(stack, '/healthz', `other.example.com:${port}`)).status, 421);
    });
  });

  describe('while the server is starting', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ ready: false });
    });
    after(async () => {
      await stack.stop();
    });

    it('/healthz says starting and sessions get 503 STARTING until the server is marked ready', async () => {
      const { port } = new URL(stack.url);
      const host = `127.0.0.1:${port}`;
      assert.equal(JSON.parse((await get(stack, '/healthz', host)).body).status, 'starting');
      const refusal = await upgradeRefusal(execUrl(stack.url, 'web'), { token: stack.token });
      assert.deepEqual([refusal.status, refusal.body.code], [503, 'STARTING']);
      stack.server.markReady();
      assert.equal(JSON.parse((await get(stack, '/healthz', host)).body).status, 'ok');
      assert.equal((await run(stack, ['echo', 'up'])).stdout.toString(), 'up\n');
    });
  });

  describe('with a frozen agent', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ limits: { agentStartTimeoutMs: 1_000 } });
    });
    after(async () => {
      process.kill(stack.agent.pid, 'SIGCONT');
      await stack.stop();
    });

    it('ends a session opened while the agent is frozen with PEER_UNRESPONSIVE instead of waiting without end', async () => {
      process.kill(stack.agent.pid, 'SIGSTOP');
      try {
        const r = await run(stack, ['true']);
        assert.deepEqual([r.closeCode, r.closeReason], [4035, 'PEER_UNRESPONSIVE']);
        const error = r.messages.find((m) => m.type === FrameType.Error);
        assert.ok(error?.type === FrameType.Error && /did not start the command within 1 s/.test(error.message), JSON.stringify(error));
      } finally {
        process.kill(stack.agent.pid, 'SIGCONT');
      }
      const r = await run(stack, ['echo', 'thawed']);
      assert.equal(r.stdout.toString(), 'thawed\n');
    });
  });
});
