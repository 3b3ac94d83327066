// Floors for the byte paths: a shell pipe, a Unix socket between two Node processes, and a
// loopback `ws` WebSocket between two Node processes, each moving the same bytes.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import WebSocket, { createWebSocketStream } from 'ws';
import { NodeProcess } from '../NodeProcess.js';
import { zeros } from '../exec/throughput.js';
import { compiled } from '../paths.js';

export type Direction = 'send' | 'receive';

export class FloorFailedError extends Error {
  readonly code = 'BENCH_FLOOR_FAILED';
}

/** `head -c bytes /dev/zero | cat >/dev/null`, wall time in ms. */
export function pipeMs(bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', `head -c ${bytes} /dev/zero | cat >/dev/null`], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new FloorFailedError(`the pipe floor exited with ${code}`))));
  });
}

let peers = 0;

async function withPeer<T>(dir: string, carrier: 'unix' | 'ws', peerSends: boolean, bytes: number, body: (peer: NodeProcess, socketPath: string) => Promise<T>): Promise<T> {
  const socketPath = join(dir, `${carrier}-peer-${++peers}.sock`);
  const peer = await NodeProcess.start({
    name: `${carrier}-peer`,
    script: compiled('bench/floors/stream-peer.js'),
    args: [carrier, peerSends ? 'send' : 'receive', String(bytes), socketPath],
    dir,
    ready: /peer listening/,
  });
  try {
    return await body(peer, socketPath);
  } finally {
    await peer.stop();
  }
}

/**
 * Unix socket between this process and another Node process, ms. `receive`: the peer
 * sends and this process reads (like stdout); `send`: this process writes (like stdin).
 */
export function unixSocketMs(dir: string, direction: Direction, bytes: number): Promise<number> {
  return withPeer(dir, 'unix', direction === 'receive', bytes, async (_peer, socketPath) => {
    const t0 = performance.now();
    const socket = connect(socketPath);
    let got = 0;
    if (direction === 'receive') socket.on('data', (c: Buffer) => (got += c.length));
    else {
      socket.resume();
      await pipeline(Readable.from(zeros(bytes)), socket, { end: true }).catch(() => undefined);
      got = bytes;
    }
    await new Promise((r) => socket.once('close', r));
    if (got !== bytes) throw new FloorFailedError(`the Unix socket floor moved ${got} of ${bytes} bytes`);
    return performance.now() - t0;
  });
}

/** Loopback WebSocket (`ws` on both ends, 64 KiB messages), ms; directions as above. */
export function webSocketMs(dir: string, direction: Direction, bytes: number): Promise<number> {
  return withPeer(dir, 'ws', direction === 'receive', bytes, async (peer) => {
    const port = Number(/peer listening on (\d+)/.exec(peer.log())?.[1]);
    const t0 = performance.now();
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    let got = 0;
    const closed = new Promise((r) => ws.once('close', r));
    if (direction === 'receive') ws.on('message', (d: Buffer) => (got += d.length));
    else {
      await new Promise((r) => ws.once('open', r));
      const stream = createWebSocketStream(ws);
      stream.resume();
      await pipeline(Readable.from(zeros(bytes)), stream).catch(() => undefined);
      got = bytes;
    }
    await closed;
    if (got !== bytes) throw new FloorFailedError(`the WebSocket floor moved ${got} of ${bytes} bytes`);
    return performance.now() - t0;
  });
}
