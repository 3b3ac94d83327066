// Connecting and listening on the Unix test path, and the wait for a nonblocking connect.
// A vsock connect cannot be made here, so the wait is driven by a socket that is not
// writable (its peer's buffer is full) and one that is.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadAddon, type NativeSocket } from '../../src/vsock/addon.js';
import { awaitConnected } from '../../src/vsock/awaitConnected.js';
import { connectUnixFd, FdStream, UnixFdServer, VsockError } from '../../src/vsock/index.js';
import { closed } from './helpers.js';

function hasCode(code: string, errno?: string) {
  return (error: unknown) => error instanceof VsockError && error.code === code && (errno === undefined || error.errno === errno);
}

/** A socket whose peer's receive buffer is full: polling it for writable waits forever. */
function unwritableSocket(): { socket: NativeSocket; peer: NativeSocket } {
  const [socket, peer] = loadAddon().socketPair();
  const chunk = Buffer.alloc(64 * 1024);
  while (socket.writev([chunk], 0) > 0);
  return { socket, peer };
}

describe('awaitConnected', () => {
  it('gives up after timeoutMs with VSOCK_CONNECT_TIMEOUT and closes the socket', async () => {
    const { socket, peer } = unwritableSocket();
    await assert.rejects(awaitConnected(socket, true, { target: 'the test peer', timeoutMs: 30 }), (error: unknown) => {
      assert.ok(hasCode('VSOCK_CONNECT_TIMEOUT')(error), String(error));
      assert.match((error as Error).message, /connecting to the test peer took longer than 30 ms/);
      return true;
    });
    assert.equal(socket.fd, -1);
    peer.close();
  });

  it('rejects with VSOCK_ABORTED when the signal aborts, and closes the socket', async () => {
    const { socket, peer } = unwritableSocket();
    const controller = new AbortController();
    const connecting = awaitConnected(socket, true, { target: 'the test peer', signal: controller.signal });
    setImmediate(() => controller.abort());
    await assert.rejects(connecting, hasCode('VSOCK_ABORTED'));
    assert.equal(socket.fd, -1);
    peer.close();
  });

  it('resolves with an FdStream once the socket is writable and SO_ERROR is clear', async () => {
    const [socket, peer] = loadAddon().socketPair();
    const stream = await awaitConnected(socket, true, { target: 'the test peer', timeoutMs: 60_000 });
    assert.ok(stream instanceof FdStream);
    const other = new FdStream(peer);
    other.resume();
    stream.end('x');
    stream.resume();
    await Promise.all([closed(stream), closed(other)]);
  });
});

describe('connectUnixFd and UnixFdServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsock-connect-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('VSOCK_CONNECT_REFUSED when no socket exists, or nobody listens on it', async () => {
    await assert.rejects(connectUnixFd(join(dir, 'absent.sock')), hasCode('VSOCK_CONNECT_REFUSED', 'ENOENT'));
    const server = await UnixFdServer.listen(join(dir, 'gone.sock'));
    const path = server.path;
    await server.close();
    writeFileSync(path, ''); // a file that is not a listening socket
    await assert.rejects(connectUnixFd(path), hasCode('VSOCK_CONNECT_REFUSED', 'ECONNREFUSED'));
  });

  it('VSOCK_ADDRESS_IN_USE on a path that exists; close removes the socket file', async () => {
    const server = await UnixFdServer.listen(join(dir, 'taken.sock'));
    await assert.rejects(UnixFdServer.listen(server.path), hasCode('VSOCK_ADDRESS_IN_USE', 'EADDRINUSE'));
    await server.close();
    const again = await UnixFdServer.listen(server.path);
    await again.close();
  });

  it('VSOCK_IO ENAMETOOLONG for a path longer than sockaddr_un holds', async () => {
    await assert.rejects(UnixFdServer.listen(join(dir, 'x'.repeat(200))), hasCode('VSOCK_IO', 'ENAMETOOLONG'));
  });

  it('accepts many connections queued at once (one readiness callback, several accepts)', async () => {
    const server = await UnixFdServer.listen(join(dir, 'many.sock'));
    const accepted: FdStream[] = [];
    const allAccepted = new Promise<void>((resolve) =>
      server.on('connection', (stream) => {
        accepted.push(stream);
        if (accepted.length === 300) resolve();
      }),
    );
    const clients = await Promise.all(Array.from({ length: 300 }, () => connectUnixFd(server.path)));
    await allAccepted;
    await server.close();
    for (const stream of [...clients, ...accepted]) stream.destroy();
    await Promise.all([...clients, ...accepted].map(closed));
  });
});
