// Memory of the components: RSS per idle session, and peak RSS while a slow client reads.
import { finished } from 'node:stream/promises';
import { type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import type { NodeProcess } from '../NodeProcess.js';
import { stdoutCommand } from './throughput.js';

const SETTLE_MS = 500;
const WARMUP_SESSIONS = 20;

export interface IdleMemory {
  sessions: number;
  /** KiB of VmRSS per idle session, by component name. */
  perSessionKib: Record<string, number>;
  /** VmRSS before the sessions opened, MiB. */
  baselineMib: Record<string, number>;
}

/** Opens `n` sessions of `sleep 60` through `target`; RSS growth of each component ÷ n. */
export async function idleSessionMemory(target: ExecTarget, n: number, components: NodeProcess[]): Promise<IdleMemory> {
  // A few sessions first, so that compiling the session code is not counted per session.
  for (let i = 0; i < WARMUP_SESSIONS; i++) {
    const s = await execInInstance(target, { argv: ['true'] });
    s.closeStdin();
    s.stdout.resume();
    s.stderr.resume();
    await s.exit;
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const before = components.map((c) => c.statusKib('VmRSS'));
  const sessions = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = await execInInstance(target, { argv: ['sleep', '60'] });
      s.exit.catch(() => undefined);
      await s.started;
      return s;
    }),
  );
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const after = components.map((c) => c.statusKib('VmRSS'));
  for (const s of sessions) s.abort();
  await Promise.all(sessions.map((s) => s.exit.catch(() => undefined)));
  return {
    sessions: n,
    perSessionKib: Object.fromEntries(components.map((c, i) => [c.name, (after[i] - before[i]) / n])),
    baselineMib: Object.fromEntries(components.map((c, i) => [c.name, before[i] / 1024])),
  };
}

export interface SlowReaderMemory {
  bytes: number;
  /** The reader's pace, bytes per second. */
  rate: number;
  seconds: number;
  /** VmHWM while the command ran, MiB, by component name. */
  peakMib: Record<string, number>;
  /** VmRSS just before, MiB. */
  beforeMib: Record<string, number>;
}

/**
 * `head -c bytes /dev/zero` read at `rate` bytes/s: the reader pauses its stream whenever
 * it is ahead of the pace, so every layer in between must hold the producer back.
 */
export async function slowReaderMemory(target: ExecTarget, bytes: number, rate: number, components: NodeProcess[]): Promise<SlowReaderMemory> {
  const beforeMib = Object.fromEntries(components.map((c) => [c.name, c.statusKib('VmRSS') / 1024]));
  for (const c of components) c.resetPeak();
  const t0 = performance.now();
  const s = await execInInstance(target, { argv: stdoutCommand(bytes) });
  s.closeStdin();
  s.stderr.resume();
  let got = 0;
  s.stdout.on('data', (chunk: Buffer) => {
    got += chunk.length;
    const ahead = (got / rate) * 1000 - (performance.now() - t0);
    if (ahead > 1) {
      s.stdout.pause();
      setTimeout(() => s.stdout.resume(), ahead);
    }
  });
  await Promise.all([s.exit, finished(s.stdout)]);
  const seconds = (performance.now() - t0) / 1000;
  return {
    bytes: got,
    rate,
    seconds,
    peakMib: Object.fromEntries(components.map((c) => [c.name, c.statusKib('VmHWM') / 1024])),
    beforeMib,
  };
}
