// Observers (issue 16): the writer's throughput with two observers attached against none.
import { finished } from 'node:stream/promises';
import { type ExecTarget, attachSession, execInInstance } from '../../src/host/client/index.js';
import { megabytesPerSecond } from '../stats.js';

export interface ObserverPairs {
  /** Median MB/s of the writer alone, with two observers reading along, and with two that read nothing (cut). */
  none: number;
  two: number;
  twoIdle: number;
  /** Each pair's two ÷ none, in the order run. */
  ratios: number[];
  /** Observers that did not see the whole output (cut for falling behind), over all runs. */
  observersCut: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
}

/**
 * Milliseconds for the writer of a lingering `head -c bytes /dev/zero` to receive all of it,
 * from the moment it lets the command go (after `observers` have attached read-only and
 * read everything they get), and how many observers were cut.
 */
async function writerMs(target: ExecTarget, bytes: number, observers: number, reading = true): Promise<{ ms: number; cut: number }> {
  const writer = await execInInstance(target, { argv: ['sh', '-c', `read x; head -c ${bytes} /dev/zero`], lingerSeconds: 30 });
  const { sessionId } = await writer.started;
  const watching = await Promise.all(Array.from({ length: observers }, () => attachSession(target, sessionId, { readOnly: true })));
  await Promise.all(watching.map((w) => w.started));
  const seen = watching.map((w) => {
    let n = 0;
    // One that reads nothing holds its connection back until the server cuts it.
    if (reading) w.stdout.on('data', (c: Buffer) => (n += c.length));
    w.stderr.resume();
    return w.exit.then(
      () => n,
      () => n,
    );
  });
  let got = 0;
  writer.stdout.on('data', (c: Buffer) => (got += c.length));
  writer.stderr.resume();
  const t0 = performance.now();
  writer.stdin.end('go\n');
  await Promise.all([writer.exit, finished(writer.stdout)]);
  const ms = performance.now() - t0;
  if (got !== bytes) throw new Error(`the writer received ${got} of ${bytes} bytes`);
  if (!reading) for (const w of watching) w.stdout.resume();
  const counts = await Promise.all(seen);
  return { ms, cut: counts.filter((n) => n !== bytes).length };
}

/** `pairs` runs without and with two observers, alternating which goes first. */
export async function writerWithObservers(target: ExecTarget, bytes: number, pairs: number): Promise<ObserverPairs> {
  const none: number[] = [];
  const two: number[] = [];
  const twoIdle: number[] = [];
  let observersCut = 0;
  for (let i = 0; i < pairs; i++) {
    for (const kind of i % 2 === 0 ? (['none', 'two', 'idle'] as const) : (['idle', 'two', 'none'] as const)) {
      const { ms, cut } = await writerMs(target, bytes, kind === 'none' ? 0 : 2, kind !== 'idle');
      if (kind === 'two') observersCut += cut;
      (kind === 'none' ? none : kind === 'two' ? two : twoIdle).push(megabytesPerSecond(bytes, ms));
    }
  }
  return { none: median(none), two: median(two), twoIdle: median(twoIdle), ratios: none.map((v, i) => two[i] / v), observersCut };
}
