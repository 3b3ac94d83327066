// Command-line options of `npm run bench` and the sizes each mode measures with.
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;

export type BenchMode = 'full' | 'quick' | 'smoke';

export interface BenchSizes {
  /** Round trips of `true` per path (the issue asks for at least 200). */
  roundTrips: number;
  /** Unmeasured runs before each latency series (JIT, caches). */
  warmup: number;
  /** Wall-time runs of the CLI (a Node process each). */
  cliRuns: number;
  /** Bytes through stdout and through stdin, per path and per floor. */
  streamBytes: number;
  /** TTY echoes measured. */
  ttyEchoes: number;
  /** Concurrent session counts through the API server. */
  concurrency: number[];
  /** Idle sessions opened to measure RSS per session. */
  idleSessions: number;
  /** Bytes the slow reader (10 MB/s) reads while peak RSS is watched. */
  slowReaderBytes: number;
  /** Small files copied each way (the large file is streamBytes). */
  copyFiles: number;
  /** Durable sessions: bytes per stream and pairs (without, with a linger) per path and direction. */
  resumableBytes: number;
  resumablePairs: number;
  /** Cuts of a lingering session's connection, each timed to output flowing again. */
  reconnects: number;
}

export interface BenchOptions {
  mode: BenchMode;
  sizes: BenchSizes;
  out?: string;
  /** Why the VM section is not run (--smoke, --no-vm), or undefined to run it. */
  skipVm?: string;
}

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

const SIZES: Record<BenchMode, BenchSizes> = {
  full: { roundTrips: 500, warmup: 30, cliRuns: 20, streamBytes: 1024 * MiB, ttyEchoes: 500, concurrency: [100, 500, 1000], idleSessions: 500, slowReaderBytes: 1024 * MiB, resumableBytes: 256 * MiB, resumablePairs: 4, reconnects: 30, copyFiles: 10_000 },
  quick: { roundTrips: 200, warmup: 20, cliRuns: 10, streamBytes: 256 * MiB, ttyEchoes: 200, concurrency: [100, 500, 1000], idleSessions: 200, slowReaderBytes: 64 * MiB, resumableBytes: 128 * MiB, resumablePairs: 2, reconnects: 10, copyFiles: 2_000 },
  smoke: { roundTrips: 5, warmup: 1, cliRuns: 1, streamBytes: 1 * MiB, ttyEchoes: 5, concurrency: [5, 10], idleSessions: 5, slowReaderBytes: 1 * MiB, resumableBytes: 1 * MiB, resumablePairs: 1, reconnects: 2, copyFiles: 20 },
};

export const USAGE = `Usage: npm run bench -- [--quick | --smoke] [--no-vm] [--out FILE]

  (none)      the full run: 1 GiB streams, 500 round trips, 100/500/1000 concurrent
              sessions, a 1 GiB slow reader at 10 MB/s, durable sessions (4 pairs of
              256 MiB with and without a linger per stream, 30 cuts timed), a 1 GiB
              file and 10,000 small files copied each way (beside ssh where sshd is
              installed) (several minutes), and the VM section: the guest booted in
              QEMU in both image layouts (about a minute)
  --quick     smaller streams and fewer runs: under three minutes with the VM section
  --smoke     a few of everything, for the test suite (figures meaningless; no VM section)
  --no-vm     leave the VM section out
  --out FILE  also write every figure, its ratios and the targets as JSON`;

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        smoke: { type: 'boolean', default: false },
        out: { type: 'string' },
        'no-vm': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (parsed.values.help) return 'help';
  // --smoke wins over --quick: the test passes both so that the runner stays small.
  const mode: BenchMode = parsed.values.smoke ? 'smoke' : parsed.values.quick ? 'quick' : 'full';
  const skipVm = mode === 'smoke' ? '--smoke (npm run test:vm boots the same guests)' : parsed.values['no-vm'] ? '--no-vm' : undefined;
  return { mode, sizes: SIZES[mode], out: parsed.values.out, skipVm };
}
