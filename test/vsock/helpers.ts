// Shared by the vsock tests: stream pairs over the two transports FdStream is tested on,
// checksummed transfers, and the process's open descriptor count.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectUnixFd, fdSocketPair, UnixFdServer, type FdStream, type FdStreamOptions } from '../../src/vsock/index.js';

export interface Transport {
  readonly name: string;
  /** A connected pair: [the side that connected, the side that accepted]. */
  pair(options?: FdStreamOptions): Promise<[FdStream, FdStream]>;
  close(): Promise<void>;
}

export function socketPairTransport(): Transport {
  return { name: 'socketpair', pair: async (options) => fdSocketPair(options), close: async () => {} };
}

/** Pairs through a Unix listener: connectUnixFd on one side, FdServer's accept code on the other. */
export async function unixTransport(): Promise<Transport> {
  const dir = mkdtempSync(join(tmpdir(), 'vsock-test-'));
  let servers = 0;
  const listen = async (options?: FdStreamOptions) => {
    const server = await UnixFdServer.listen(join(dir, `fd-${servers++}.sock`), options);
    const waiting: Array<(stream: FdStream) => void> = [];
    server.on('connection', (stream) => {
      const take = waiting.shift();
      if (take) take(stream);
      else stream.destroy(new Error('unexpected connection'));
    });
    const pair = async (): Promise<[FdStream, FdStream]> => {
      const accepted = new Promise<FdStream>((resolve) => waiting.push(resolve));
      const client = await connectUnixFd(server.path, options);
      return [client, await accepted];
    };
    return { server, pair };
  };
  const shared = await listen();
  return {
    name: 'unix socket',
    async pair(options) {
      if (options === undefined) return shared.pair();
      // Accepted streams take their options from the server: one server for this pair.
      const own = await listen(options);
      try {
        return await own.pair();
      } finally {
        await own.server.close();
      }
    },
    async close() {
      await shared.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end ('end', without destroying it as for-await would): total length and sha256. */
export function drain(stream: FdStream): Promise<{ length: number; sha256: string }> {
  const hash = createHash('sha256');
  let length = 0;
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    stream.once('end', () => resolve({ length, sha256: hash.digest('hex') }));
    stream.once('error', reject);
  });
}

/**
 * Writes `total` pseudo-random bytes in chunks of varied sizes, honouring backpressure,
 * then ends; resolves with the sha256 of what was written.
 */
export async function sendRandom(stream: FdStream, total: number): Promise<string> {
  const source = randomBytes(4 * 1024 * 1024);
  const hash = createHash('sha256');
  let sent = 0;
  let offset = 0;
  while (sent < total) {
    const size = Math.min(total - sent, 1 + ((sent * 7919) % (1024 * 1024)));
    if (offset + size > source.length) offset = 0;
    const chunk = source.subarray(offset, offset + size);
    offset += size;
    hash.update(chunk);
    sent += size;
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  stream.end();
  return hash.digest('hex');
}

/** Resolves when the stream has emitted 'close' (at once if it already has). */
export function closed(stream: FdStream): Promise<void> {
  return stream.closed ? Promise.resolve() : once(stream, 'close').then(() => undefined);
}

/** Lets the event loop run until `progress()` stops changing for a while (no timing is asserted). */
export async function settle(progress: () => number, quietRounds = 10, intervalMs = 20): Promise<void> {
  let last = -1;
  let quiet = 0;
  while (quiet < quietRounds) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    const now = progress();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}
