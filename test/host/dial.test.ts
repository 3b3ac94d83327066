// The hybrid vsock handshake from both ends: HybridVsockDialer against scripted Unix
// servers (byte by byte), the HybridVsockMux against raw clients, and wait-for-agent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HybridVsockDialer } from '../../src/host/dial/HybridVsockDialer.js';
import { HybridVsockMux } from '../../src/host/dial/HybridVsockMux.js';
import { dialWithRetry } from '../../src/host/dial/waitForAgent.js';
import { AgentDialError } from '../../src/host/dial/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hypeman-dial-'));
let n = 0;
const socketPath = () => join(dir, `s${n++}.sock`);

/** A Unix server whose connections are handed to `script`. */
async function scripted(script: (s: Socket) => void): Promise<{ path: string; server: Server }> {
  const path = socketPath();
  const server = createServer(script);
  await new Promise<void>((r) => server.listen(path, () => r()));
  return { path, server };
}

const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));
const failsWith = (code: string) => (e: unknown) => e instanceof AgentDialError && e.code === code;

function readAll(stream: NodeJS.ReadableStream & { resume(): void }): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.resume();
  });
}

describe('HybridVsockDialer', () => {
  it('sends CONNECT 2222 and accepts an OK line split across packets', async () => {
    let seen = '';
    const { path, server } = await scripted((s) => {
      s.once('data', (d) => {
        seen = d.toString();
        s.write('O');
        setTimeout(() => s.write('K 10737'), 10);
        setTimeout(() => s.end('41824\nhello'), 20);
      });
    });
    const stream = await new HybridVsockDialer({ socketPath: path }).dial();
    assert.equal(seen, 'CONNECT 2222\n');
    assert.equal((await readAll(stream)).toString(), 'hello');
    await closeServer(server);
  });

  it('keeps bytes that arrive in the same packet as the OK line', async () => {
    const frames = Buffer.from('000000161000010000053900112233445566778899aabbccddeeff', 'hex');
    const { path, server } = await scripted((s) => s.once('data', () => s.end(Buffer.concat([Buffer.from('OK 1073741824\n'), frames]))));
    const stream = await new HybridVsockDialer({ socketPath: path }).dial();
    assert.deepEqual(await readAll(stream), frames);
    await closeServer(server);
  });

  it('reports a garbage answer as a protocol error quoting it', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.write('HTTP/1.1 400 Bad\x01\n')));
    await assert.rejects(new HybridVsockDialer({ socketPath: path }).dial(), (e: unknown) => {
      assert.ok(failsWith('HANDSHAKE_PROTOCOL')(e));
      assert.match((e as Error).message, /HTTP\/1\.1 400 Bad\\\\x01/);
      return true;
    });
    await closeServer(server);
  });

  it('reports an over-long answer without a newline as a protocol error', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.write('x'.repeat(100))));
    await assert.rejects(new HybridVsockDialer({ socketPath: path }).dial(), failsWith('HANDSHAKE_PROTOCOL'));
    await closeServer(server);
  });

  it('reports a close without an answer as "not listening on port 2222"', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.end()));
    await assert.rejects(new HybridVsockDialer({ socketPath: path }).dial(), (e: unknown) => {
      assert.ok(failsWith('AGENT_NOT_LISTENING')(e));
      assert.equal((e as Error).message, 'the guest agent is not listening on port 2222 (is it running?)');
      return true;
    });
    await closeServer(server);
  });

  it('times out a handshake that gets no answer', async () => {
    const held: Socket[] = [];
    const { path, server } = await scripted((s) => held.push(s));
    await assert.rejects(new HybridVsockDialer({ socketPath: path, handshakeTimeoutMs: 100 }).dial(), failsWith('HANDSHAKE_TIMEOUT'));
    held.forEach((s) => s.destroy());
    await closeServer(server);
  });

  it('says the socket does not exist', async () => {
    await assert.rejects(new HybridVsockDialer({ socketPath: join(dir, 'missing.sock') }).dial(), (e: unknown) => {
      assert.ok(failsWith('VSOCK_SOCKET_UNAVAILABLE')(e));
      assert.match((e as Error).message, /does not exist/);
      return true;
    });
  });

  it('can be aborted', async () => {
    const held: Socket[] = [];
    const { path, server } = await scripted((s) => held.push(s));
    const ac = new AbortController();
    const p = new HybridVsockDialer({ socketPath: path }).dial(ac.signal);
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(p, failsWith('DIAL_ABORTED'));
    held.forEach((s) => s.destroy());
    await closeServer(server);
  });
});

describe('HybridVsockMux', () => {
  async function echoGuest(): Promise<{ path: string; server: Server }> {
    return scripted((s) => s.pipe(s));
  }

  /** Sends `send`, collects the answer, and hangs up once `expect` bytes came (or at close). */
  function raw(path: string, send: string | Buffer, expect = Infinity): Promise<Buffer> {
    return new Promise((resolve) => {
      const c = connect(path, () => c.write(send));
      const parts: Buffer[] = [];
      c.on('data', (d) => {
        parts.push(d);
        if (Buffer.concat(parts).length >= expect) c.end();
      });
      c.on('close', () => resolve(Buffer.concat(parts)));
      c.on('error', () => undefined);
    });
  }

  it('answers OK <port> from 2^30 up and relays bytes sent after the newline', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path } });
    await mux.listen();
    const first = await raw(mux.socketPath, 'CONNECT 2222\nping', 18);
    assert.equal(first.toString(), 'OK 1073741824\nping');
    const second = await raw(mux.socketPath, 'connect   2222  \nx', 15);
    assert.equal(second.toString(), 'OK 1073741825\nx');
    await mux.close();
    await closeServer(guest.server);
  });

  it('closes without an answer for a port nobody listens on, a bad command, or an over-long line', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path, 7: join(dir, 'nobody.sock') } });
    await mux.listen();
    for (const line of ['CONNECT 1234\n', 'CONNECT 7\n', 'HELLO 2222\n', 'CONNECT abc\n', `CONNECT ${'2'.repeat(40)}\n`]) {
      assert.equal((await raw(mux.socketPath, line)).length, 0, line);
    }
    await mux.close();
    await closeServer(guest.server);
  });

  it('works with the dialer end to end', async () => {
    const guest = await echoGuest();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path } });
    await mux.listen();
    const stream = await new HybridVsockDialer({ socketPath: mux.socketPath }).dial();
    stream.end('through the mux');
    assert.equal((await readAll(stream)).toString(), 'through the mux');
    await mux.close();
    await closeServer(guest.server);
  });
});

describe('dialWithRetry (wait for agent)', () => {
  it('succeeds when the agent starts listening after the client began waiting', async () => {
    const guestPath = socketPath();
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guestPath } });
    await mux.listen();
    let guest: Server | undefined;
    const late = setTimeout(() => {
      guest = createServer((s) => s.end('booted'));
      guest.listen(guestPath);
    }, 300);
    const stream = await dialWithRetry(new HybridVsockDialer({ socketPath: mux.socketPath }), { timeoutSeconds: 10 });
    assert.equal((await readAll(stream)).toString(), 'booted');
    clearTimeout(late);
    await mux.close();
    if (guest) await closeServer(guest);
  });

  it('gives up at the deadline with the last failure as the reason', async () => {
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: {} });
    await mux.listen();
    await assert.rejects(dialWithRetry(new HybridVsockDialer({ socketPath: mux.socketPath }), { timeoutSeconds: 0.3 }), (e: unknown) => {
      assert.ok(failsWith('AGENT_WAIT_TIMEOUT')(e));
      assert.match((e as Error).message, /not listening on port 2222/);
      return true;
    });
    await mux.close();
  });

  it('does not retry when there is no time to wait', async () => {
    await assert.rejects(dialWithRetry(new HybridVsockDialer({ socketPath: join(dir, 'none.sock') }), { timeoutSeconds: 0 }), failsWith('VSOCK_SOCKET_UNAVAILABLE'));
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
