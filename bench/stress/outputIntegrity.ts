// node dist/bench/stress/outputIntegrity.js [--sessions 36] [--parallel 4] [--mib 512] [--rate 10]
// Sessions through the API server each read `--mib` MiB of a known pattern at `--rate` MB/s,
// `--parallel` at a time, and check every byte. It found uWebSockets.js dropping a message's
// payload under backpressure (README "Benchmarks"); run it after any change to how output
// reaches the client. Exits 1 if any session saw a wrong byte, a short stream or an error.
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { execInInstance } from '../../src/host/client/index.js';
import { BenchStack } from '../BenchStack.js';
import { targetFor } from '../exec/targets.js';

/** One line of 250 characters and its newline: a prime period, so no lost or extra run of bytes hides. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const LINE = Array.from({ length: 250 }, (_, i) => ALPHABET[(i * 7) % ALPHABET.length]).join('');
const PERIOD = LINE.length + 1;
const PATTERN = Buffer.from(`${LINE}\n`.repeat(Math.ceil((256 * 1024) / PERIOD) + 1));

interface SessionResult {
  bytes: number;
  /** Where the first wrong byte was, or null. */
  firstWrong: number | null;
  detail: string;
}

async function readPattern(stack: BenchStack, bytes: number, rate: number): Promise<SessionResult> {
  const s = await execInInstance(targetFor(stack, 'api'), { argv: ['sh', '-c', `yes '${LINE}' | head -c ${bytes}`] });
  s.closeStdin();
  s.stderr.resume();
  const t0 = performance.now();
  let got = 0;
  let firstWrong: number | null = null;
  let detail = '';
  s.stdout.on('data', (chunk: Buffer) => {
    if (firstWrong === null) {
      for (let at = 0; at < chunk.length; at += 128 * 1024) {
        const piece = chunk.subarray(at, at + 128 * 1024);
        const phase = (got + at) % PERIOD;
        if (!piece.equals(PATTERN.subarray(phase, phase + piece.length))) {
          let i = 0;
          while (piece[i] === PATTERN[phase + i]) i++;
          firstWrong = got + at + i;
          detail = `byte ${firstWrong}: got ${piece.subarray(i, i + 16).toString('hex')}`;
          break;
        }
      }
    }
    got += chunk.length;
    const ahead = (got / rate) * 1000 - (performance.now() - t0);
    if (ahead > 1) {
      s.stdout.pause();
      setTimeout(() => s.stdout.resume(), ahead);
    }
  });
  try {
    const [status] = await Promise.all([s.exit, finished(s.stdout)]);
    if (status.code !== 0 && firstWrong === null) detail = `exit ${status.code}`;
  } catch (err) {
    detail = `${(err as { code?: string }).code ?? 'ERROR'}: ${(err as Error).message}`;
  }
  if (got !== bytes && detail === '') detail = `${got} of ${bytes} bytes`;
  return { bytes: got, firstWrong, detail };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '36' },
      parallel: { type: 'string', default: '4' },
      mib: { type: 'string', default: '512' },
      rate: { type: 'string', default: '10' },
    },
  });
  const sessions = Number(values.sessions);
  const parallel = Number(values.parallel);
  const bytes = Number(values.mib) * 2 ** 20;
  const rate = Number(values.rate) * 1e6;
  const stack = await BenchStack.start();
  let next = 0;
  let bad = 0;
  try {
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < sessions) {
          const n = ++next;
          const r = await readPattern(stack, bytes, rate);
          if (r.detail !== '') bad++;
          process.stderr.write(`session ${n}/${sessions}: ${r.detail === '' ? `ok, ${r.bytes} bytes` : `FAILED, ${r.detail}`}\n`);
        }
      }),
    );
  } finally {
    await stack.stop();
  }
  process.stdout.write(`${sessions - bad} of ${sessions} sessions read ${bytes} bytes each exactly; ${bad} failed\n`);
  return bad === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
