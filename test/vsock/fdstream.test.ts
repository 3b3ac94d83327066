// The FdStream byte path, on socketpairs and on Unix sockets accepted through FdServer: the
// same native Socket and stream code that carries AF_VSOCK connections.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fstatSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FdStream, fdSocketPair, VsockError } from '../../src/vsock/index.js';
import { closed, drain, openFdCount, sendRandom, settle, sha256, socketPairTransport, unixTransport, type Transport } from './helpers.js';

const MiB = 1024 * 1024;

function isIoError(error: unknown, errnos: readonly string[]): boolean {
  return error instanceof VsockError && error.code === 'VSOCK_IO' && errnos.includes(error.errno ?? '');
}

for (const makeTransport of [async () => socketPairTransport(), unixTransport]) {
  describe(`FdStream over ${makeTransport === unixTransport ? 'unix sockets (accepted by FdServer)' : 'a socketpair'}`, () => {
    let transport: Transport;
    before(async () => {
      transport = await makeTransport();
    });
    after(async () => {
      await transport.close();
    });

    it('carries 64 MiB each way at once, checksummed', async () => {
      const [a, b] = await transport.pair();
      const [sentByA, sentByB, receivedByB, receivedByA] = await Promise.all([sendRandom(a, 64 * MiB), sendRandom(b, 64 * MiB), drain(b), drain(a)]);
      assert.deepEqual(receivedByB, { length: 64 * MiB, sha256: sentByA });
      assert.deepEqual(receivedByA, { length: 64 * MiB, sha256: sentByB });
      await Promise.all([closed(a), closed(b)]);
      assert.equal(a.fd, -1);
      assert.equal(b.fd, -1);
    });

    it('keeps order across 20,000 small writes made without waiting', async () => {
      const [a, b] = await transport.pair();
      const pieces: Buffer[] = [];
      for (let i = 0; i < 20_000; i++) pieces.push(randomBytes(1 + (i % 97)));
      const received = drain(b);
      for (const piece of pieces) a.write(piece);
      a.end();
      const expected = Buffer.concat(pieces);
      assert.deepEqual(await received, { length: expected.length, sha256: sha256(expected) });
      a.resume();
      await Promise.all([closed(a), closed(b)]);
    });

    it('takes empty writes, alone and inside a corked batch', async () => {
      const [a, b] = await transport.pair();
      const received = drain(b);
      await new Promise<void>((resolve, reject) => a.write(Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
      a.cork();
      for (const piece of ['', 'x', '', 'y', '']) a.write(piece);
      a.uncork();
      a.end(Buffer.alloc(0));
      assert.deepEqual(await received, { length: 2, sha256: sha256(Buffer.from('xy')) });
      a.resume();
      await Promise.all([closed(a), closed(b)]);
    });

    it('stops a writer whose reader is paused, within bounded memory, and resumes it', async () => {
      const highWaterMark = 64 * 1024;
      const [a, b] = await transport.pair({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
      const total = 48 * MiB;
      let accepted = 0; // bytes whose write callback ran: in the kernel or beyond
      let sawFalse = false;
      const writing = (async () => {
        const chunk = randomBytes(MiB);
        for (let sent = 0; sent < total; sent += chunk.length) {
          const ok = a.write(chunk, () => (accepted += chunk.length));
          if (!ok) {
            sawFalse = true;
            await once(a, 'drain');
          }
        }
        a.end();
        return sha256(Buffer.concat(Array(total / MiB).fill(chunk)));
      })();
      await settle(() => accepted); // nobody reads b: the writer must come to a stop
      assert.ok(sawFalse, 'write() returned false');
      assert.ok(accepted < 8 * MiB, `the writer stopped after ${accepted} bytes, not ${total}`);
      assert.ok(a.writableLength <= MiB, `at most one chunk waits in the writer (${a.writableLength})`);
      assert.ok(b.readableLength <= highWaterMark + 64 * 1024, `the reader buffers at most its high-water mark and a read (${b.readableLength})`);
      const received = await drain(b);
      assert.deepEqual(received, { length: total, sha256: await writing });
      a.resume();
      await Promise.all([closed(a), closed(b)]);
    });

    it('half-closes with allowHalfOpen: each side ends its own direction', async () => {
      const [a, b] = await transport.pair({ allowHalfOpen: true });
      const fromA = drain(b);
      a.end('ping');
      assert.deepEqual(await fromA, { length: 4, sha256: sha256(Buffer.from('ping')) });
      assert.ok(!b.writableEnded, 'b may still write after reading end of stream');
      const fromB = drain(a);
      b.end('pong');
      assert.deepEqual(await fromB, { length: 4, sha256: sha256(Buffer.from('pong')) });
      await Promise.all([closed(a), closed(b)]);
    });

    it("ends its own write side on the peer's end of stream without allowHalfOpen", async () => {
      const [a, b] = await transport.pair();
      b.resume();
      const bEnded = once(b, 'end');
      a.end('bye');
      await bEnded;
      a.resume();
      await Promise.all([once(a, 'end'), closed(a), closed(b)]);
      assert.ok(b.writableFinished, 'b ended its write side by itself');
    });

    it('closes each fd once on destroy mid-transfer; the writer sees EPIPE or ECONNRESET', async () => {
      const [a, b] = await transport.pair();
      const aError = new Promise<unknown>((resolve) => a.on('error', resolve));
      const bFd = b.fd;
      b.once('data', () => b.destroy());
      const chunk = randomBytes(MiB);
      const writing = (async () => {
        while (!a.destroyed) if (!a.write(chunk)) await new Promise((resolve) => a.once('drain', resolve).once('close', resolve));
      })();
      await closed(b);
      assert.equal(b.fd, -1);
      assert.throws(() => fstatSync(bFd), { code: 'EBADF' });
      b.destroy(); // again: nothing happens
      assert.ok(isIoError(await aError, ['EPIPE', 'ECONNRESET']), 'a typed write or read error');
      await writing;
      await closed(a);
      assert.equal(a.fd, -1);
    });

    it('reports a peer that closes with data unread as VSOCK_IO ECONNRESET', async () => {
      const [a, b] = await transport.pair();
      a.resume(); // a is reading: it learns of the reset
      const aError = new Promise<unknown>((resolve) => a.on('error', resolve));
      await new Promise<void>((resolve, reject) => a.write('never read', (error) => (error ? reject(error) : resolve())));
      b.destroy(); // b never read what it was sent: the kernel resets the connection
      const error = await aError;
      assert.ok(isIoError(error, ['ECONNRESET']), String(error));
      assert.match((error as Error).message, /closed the connection abruptly/);
      await closed(a);
    });

    it('carries 100 concurrent echo streams', async () => {
      const pairs = await Promise.all(Array.from({ length: 100 }, () => transport.pair()));
      const results = await Promise.all(
        pairs.map(async ([client, server], i) => {
          server.pipe(server); // echo
          const [sent, echoed] = await Promise.all([sendRandom(client, 128 * 1024 + i), drain(client)]);
          return echoed.sha256 === sent;
        }),
      );
      assert.deepEqual(results, Array(100).fill(true));
      await Promise.all(pairs.flat().map(closed));
    });

    it('returns to the same descriptor count after 200 open/close cycles', async () => {
      const cycle = async (): Promise<void> => {
        const [a, b] = await transport.pair();
        b.resume();
        a.end(randomBytes(1000));
        a.resume();
        await Promise.all([closed(a), closed(b)]);
      };
      await cycle(); // anything opened once, lazily, is open before the count
      const before = openFdCount();
      for (let i = 0; i < 100; i++) await cycle();
      for (let i = 0; i < 100; i++) {
        const [a, b] = await transport.pair();
        a.destroy();
        b.destroy();
      }
      assert.equal(openFdCount(), before);
    });
  });
}

describe('new FdStream(fd)', () => {
  it('refuses a descriptor that is not open, as VSOCK_IO EBADF', () => {
    assert.throws(() => new FdStream(2_000_000), (error: unknown) => isIoError(error, ['EBADF']));
  });
});

describe('a forgotten FdStream', () => {
  it('has its fd closed when it is garbage collected (idle streams hold no reference to themselves)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const before = openFdCount();
    (() => {
      for (let i = 0; i < 50; i++) fdSocketPair()[0].write('unread');
    })();
    assert.equal(openFdCount(), before + 100);
    // Finalizers run after a collection, from the event loop: give them a few turns.
    for (let i = 0; i < 20 && openFdCount() !== before; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(openFdCount(), before);
  });
});
