// node --import tsx bench/vsock-fdstream.ts — FdStream (our native uv_poll socket layer,
// here over an AF_UNIX socketpair) beside a plain net.Socket pair over a Unix socket, in the
// same run: one-way bulk, both ways at once, and many small writes.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fdSocketPair } from '../src/vsock/index.js';

const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.ROUNDS ?? 3);

type Pair = [Duplex, Duplex];

async function netPair(dir: string): Promise<Pair> {
  const path = join(dir, `net-${Math.random().toString(36).slice(2)}.sock`);
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(path);
  const [[serverSide]] = await Promise.all([accepted, once(client, 'connect')]);
  server.close();
  return [client, serverSide];
}

/** Writes `total` bytes in `chunkSize` writes, honouring backpressure, then ends. */
async function send(stream: Duplex, total: number, chunkSize: number): Promise<void> {
  const chunk = Buffer.alloc(chunkSize, 0x5a);
  for (let sent = 0; sent < total; sent += chunkSize) if (!stream.write(chunk)) await once(stream, 'drain');
  stream.end();
}

async function receive(stream: Duplex): Promise<number> {
  let got = 0;
  stream.on('data', (d: Buffer) => (got += d.length));
  await once(stream, 'end');
  return got;
}

/** MB/s (10^6 bytes) over the bytes that arrived, best of ROUNDS. */
async function measure(makePair: () => Promise<Pair>, run: (pair: Pair) => Promise<number>): Promise<number> {
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const pair = await makePair();
    const start = process.hrtime.bigint();
    const bytes = await run(pair);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    pair.forEach((s) => s.destroy());
    best = Math.max(best, bytes / 1e6 / seconds);
  }
  return best;
}

const oneWay = (total: number, chunkSize: number) => async ([a, b]: Pair) => {
  a.resume();
  const [, got] = await Promise.all([send(a, total, chunkSize), receive(b)]);
  return got;
};

const bothWays = (total: number) => async ([a, b]: Pair) => {
  const [, , gotB, gotA] = await Promise.all([send(a, total, 64 * 1024), send(b, total, 64 * 1024), receive(b), receive(a)]);
  return gotA + gotB;
};

const dir = mkdtempSync(join(tmpdir(), 'bench-vsock-'));
const transports: Array<[string, () => Promise<Pair>]> = [
  ['FdStream (socketpair)', async () => fdSocketPair()],
  ['net.Socket (unix)', () => netPair(dir)],
];
const cases: Array<[string, (pair: Pair) => Promise<number>]> = [
  ['1 GiB one way, 64 KiB writes', oneWay(1024 * MiB, 64 * 1024)],
  ['1 GiB one way, 1 MiB writes', oneWay(1024 * MiB, MiB)],
  ['512 MiB each way at once', bothWays(512 * MiB)],
  ['32 MiB one way, 128-byte writes', oneWay(32 * MiB, 128)],
];

console.log(`node ${process.version}, ${ROUNDS} rounds each, best shown, MB/s`);
for (const [caseName, run] of cases) {
  const row = [caseName.padEnd(34)];
  for (const [name, makePair] of transports) row.push(`${name}: ${(await measure(makePair, run)).toFixed(0).padStart(5)}`);
  console.log(row.join('   '));
}
rmSync(dir, { recursive: true, force: true });
