// A byte typed into `cat` under a terminal, timed until the terminal's echo comes back.
import pty from 'node-pty';
import { type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import type { Samples } from '../stats.js';

/** Types one byte at a time; each is timed until an output chunk holds it. */
async function echoes(write: (byte: string) => void, output: (listener: (chunk: string) => void) => void, count: number, warmup: number): Promise<number[]> {
  let waiting: (() => void) | undefined;
  output((chunk) => {
    if (chunk.includes('x')) waiting?.();
  });
  const ms: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      write('x');
    });
    if (i >= warmup) ms.push(performance.now() - t0);
  }
  return ms;
}

// The canonical line holds at most 4095 bytes before the terminal stops echoing: start a
// new line now and then (its echo carries no `x`, and cat's copy of the line comes after).
function typer(write: (s: string) => void): (byte: string) => void {
  let onLine = 0;
  return (byte) => {
    if (++onLine >= 1000) {
      write('\n');
      onLine = 0;
    }
    write(byte);
  };
}

export async function ttyEchoes(target: ExecTarget, count: number, warmup: number): Promise<Samples> {
  const s = await execInInstance(target, { argv: ['cat'], tty: true });
  await s.started;
  s.stdout.setEncoding('latin1');
  try {
    const ms = await echoes(typer((b) => s.stdin.write(b)), (l) => s.stdout.on('data', l), count, warmup);
    return { ms, failures: [] };
  } finally {
    s.abort();
    await s.exit.catch(() => undefined);
  }
}

/** The floor: the same through a PTY of this process (node-pty), no network at all. */
export async function localTtyEchoes(count: number, warmup: number): Promise<Samples> {
  const term = pty.spawn('cat', [], { cols: 80, rows: 24 });
  try {
    const ms = await echoes(typer((b) => term.write(b)), (l) => term.onData(l), count, warmup);
    return { ms, failures: [] };
  } finally {
    term.kill('SIGKILL');
  }
}
