// The hybrid vsock handshake from both ends: HybridVsockDialer against scripted Unix
// servers (byte by byte), the HybridVsockMux against raw clients, and wait-for-agent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HybridVsockDialer } from '../../src/host/dial/HybridVsockDialer.js';
import { readSharedChunks } from '../../src/host/dial/SharedReads.js';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { dialWithRetry } from '../../src/host/dial/dialWithRetry.js';
import { AgentDialError } from '../../src/host/dial/errors.js';
import { NativeVsockDialer } from '../../src/host/dial/NativeVsockDialer.js';
import { loadAddon, type NativeAddon } from '../../src/vsock/addon.js';
import { localCid } from '../../src/vsock/index.js';

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
      assert.match((e as Error).message, /answered "HTTP\/1\.1 400 Bad\\x01" instead of "OK <port>"/);
      return true;
    });
    await closeServer(server);
  });

  it('reports an over-long answer without a newline as a protocol error', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.write('x'.repeat(100))));
    await assert.rejects(new HybridVsockDialer({ socketPath: path }).dial(), (e: unknown) => {
      assert.ok(failsWith('HANDSHAKE_PROTOCOL')(e));
      assert.match((e as Error).message, new RegExp(`answered "${'x'.repeat(64)}…"`));
      return true;
    });
    await closeServer(server);
  });

  it('reports a close without an answer as "not listening on port 2222"', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.end()));
    await assert.rejects(new HybridVsockDialer({ socketPath: path }).dial(), (e: unknown) => {
      assert.ok(failsWith('AGENT_NOT_LISTENING')(e));
      assert.equal((e as Error).message, 'the vsock socket closed the connection without OK: the guest agent is not listening on port 2222 (is it running?), or the hypervisor holds its maximum of connections (1023 on Cloud Hypervisor)');
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

describe('HybridVsockDialer with shared reads (the API server)', () => {
  /** Everything the stream delivers to its chunk handler, copied, until it ends. */
  function readShared(stream: import('node:stream').Duplex): Promise<{ bytes: Buffer; chunks: number }> {
    return new Promise((resolve) => {
      const parts: Buffer[] = [];
      assert.equal(
        readSharedChunks(stream, (c) => parts.push(Buffer.from(c))),
        true,
      );
      stream.on('end', () => resolve({ bytes: Buffer.concat(parts), chunks: parts.length }));
      stream.resume();
    });
  }

  it('hands over the bytes that came with the OK line first, then every read, in order', async () => {
    const payload = Buffer.alloc(3 * 256 * 1024 + 17);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    const { path, server } = await scripted((s) =>
      s.once('data', () => {
        s.write(Buffer.concat([Buffer.from('OK 1073741824\n'), payload.subarray(0, 5)]));
        setTimeout(() => s.end(payload.subarray(5)), 20);
      }),
    );
    const stream = await new HybridVsockDialer({ socketPath: path, sharedReads: true }).dial();
    const { bytes, chunks } = await readShared(stream);
    assert.deepEqual(bytes, payload);
    assert.ok(chunks >= 2);
    await closeServer(server);
  });

  it('reads nothing until resumed, and accepts an OK line split across packets', async () => {
    const { path, server } = await scripted((s) =>
      s.once('data', () => {
        s.write('OK 10737');
        setTimeout(() => s.end('41824\nhello'), 10);
      }),
    );
    const stream = await new HybridVsockDialer({ socketPath: path, sharedReads: true }).dial();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await readShared(stream)).bytes.toString(), 'hello');
    await closeServer(server);
  });

  it('is not taken for a stream dialed without it', async () => {
    const { path, server } = await scripted((s) => s.once('data', () => s.end('OK 1\n')));
    const stream = await new HybridVsockDialer({ socketPath: path }).dial();
    assert.equal(readSharedChunks(stream, () => undefined), false);
    stream.destroy();
    await closeServer(server);
  });
});

describe('HybridVsockMux', () => {
  async function echoGuest(): Promise<{ path: string; server: Server }> {
    return scripted((s) => s.pipe(s));
  }

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

  it('succeeds when the hypervisor socket itself appears late (the VM is still starting)', async () => {
    const guest = await scripted((s) => s.end('up'));
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: { 2222: guest.path } });
    const late = setTimeout(() => void mux.listen(), 200);
    const stream = await dialWithRetry(new HybridVsockDialer({ socketPath: mux.socketPath }), { timeoutSeconds: 10 });
    assert.equal((await readAll(stream)).toString(), 'up');
    clearTimeout(late);
    await mux.close();
    await closeServer(guest.server);
  });

  it('does not retry what waiting cannot cure (a socket that is not a hypervisor)', async () => {
    let attempts = 0;
    const { path, server } = await scripted((s) => {
      attempts++;
      s.resume();
      s.end('SSH-2.0-OpenSSH\n');
    });
    await assert.rejects(dialWithRetry(new HybridVsockDialer({ socketPath: path }), { timeoutSeconds: 10 }), failsWith('HANDSHAKE_PROTOCOL'));
    assert.equal(attempts, 1);
    await closeServer(server);
  });

  it('cuts short an attempt still waiting at the deadline, whatever its own handshake timeout', async () => {
    const held: Socket[] = [];
    const { path, server } = await scripted((s) => held.push(s));
    const dialer = new HybridVsockDialer({ socketPath: path, handshakeTimeoutMs: 600_000 });
    await assert.rejects(dialWithRetry(dialer, { timeoutSeconds: 0.2 }), (e: unknown) => {
      assert.ok(failsWith('AGENT_WAIT_TIMEOUT')(e));
      assert.match((e as Error).message, /first attempt was still waiting/);
      return true;
    });
    held.forEach((s) => s.destroy());
    await closeServer(server);
  });

  it('stops waiting when aborted, with DIAL_ABORTED', async () => {
    const mux = new HybridVsockMux({ socketPath: socketPath(), ports: {} });
    await mux.listen();
    const ac = new AbortController();
    const waiting = dialWithRetry(new HybridVsockDialer({ socketPath: mux.socketPath }), { timeoutSeconds: 60, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(waiting, failsWith('DIAL_ABORTED'));
    await mux.close();
  });

  it('does not retry when there is no time to wait', async () => {
    await assert.rejects(dialWithRetry(new HybridVsockDialer({ socketPath: join(dir, 'none.sock') }), { timeoutSeconds: 0 }), failsWith('VSOCK_SOCKET_UNAVAILABLE'));
  });
});

describe('NativeVsockDialer (QEMU vhost-vsock)', () => {
  // No AF_VSOCK connect is ever made here: the native connect is replaced by a trap that
  // records the CID and fails the way the kernel would. CID 2 and this machine's own CID
  // must be refused before the trap is even reached.
  let addon: NativeAddon;
  let realConnect: NativeAddon['vsockConnect'];
  const attempts: number[] = [];
  let trapErrno = 'ECONNRESET';
  before(() => {
    addon = loadAddon();
    realConnect = addon.vsockConnect;
    addon.vsockConnect = (cid) => {
      attempts.push(cid);
      throw Object.assign(new Error(`trapped connect to CID ${cid}`), { code: trapErrno, syscall: 'connect' });
    };
  });
  after(() => {
    addon.vsockConnect = realConnect;
  });

  it("refuses the host's CID and this machine's own, without any connect", async () => {
    for (const cid of [2, localCid() as number]) {
      await assert.rejects(new NativeVsockDialer({ cid }).dial(), (e: unknown) => {
        assert.ok(failsWith('VSOCK_FORBIDDEN_CID')(e), String(e));
        assert.equal((e as AgentDialError).retryable, false);
        return true;
      });
    }
    assert.deepEqual(attempts, []);
  });

  it('reports a guest port nobody listens on (vsock answers with a reset) as AGENT_NOT_LISTENING, retryable', async () => {
    const guestCid = (localCid() as number) + 1000;
    trapErrno = 'ECONNRESET';
    await assert.rejects(new NativeVsockDialer({ cid: guestCid }).dial(), (e: unknown) => {
      assert.ok(failsWith('AGENT_NOT_LISTENING')(e), String(e));
      assert.equal((e as AgentDialError).retryable, true);
      return true;
    });
    trapErrno = 'EHOSTUNREACH';
    await assert.rejects(new NativeVsockDialer({ cid: guestCid }).dial(), (e: unknown) => {
      assert.ok(failsWith('VSOCK_IO')(e), String(e));
      assert.match((e as Error).message, /vsock cid \d+ port 2222/);
      return true;
    });
    assert.deepEqual(attempts, [guestCid, guestCid]);
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
