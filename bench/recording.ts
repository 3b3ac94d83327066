// npm run bench:recording [-- --seconds N] (issue 16): what session recordings cost.
// 1. The relay's stdout throughput in a TTY session (`yes … | head -c 128M`, 3 runs each,
//    alternated) through an API server without and with --record-dir.
// 2. A recording's size per minute of a shell used by a person: commands typed one key at a
//    time at about 8 keys a second (a Stdin frame per key, --record-input on), each followed by
//    its output and a pause, for N seconds (default 60).
// 3. A busy shell: `ls -lR /usr` once, the recording's bytes against the output's.
// Every component is its own compiled process (bench/BenchStack.ts); prints a JSON report.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { execInInstance } from '../src/host/client/index.js';
import { BenchStack, INSTANCE } from './BenchStack.js';

const TTY_BYTES = 128 * 1024 * 1024;
const RUNS = 3;
const COMMANDS = [
  'ls -l /usr/bin | head -40',
  'cat /etc/os-release',
  'ps -ef | head -20',
  'df -h',
  'find /usr/share/doc -maxdepth 1 | head -60',
  'env | sort | head -30',
  'grep -c . /etc/services',
  'ls -la /etc | tail -30',
];

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

function target(stack: BenchStack) {
  return { apiUrl: stack.apiUrl.replace(/^ws:/, 'http:'), instance: INSTANCE, token: stack.token };
}

/** MB/s of a TTY session's output, read as fast as it comes. */
async function ttyStdout(stack: BenchStack): Promise<number> {
  const t0 = performance.now();
  const s = await execInInstance(target(stack), { argv: ['sh', '-c', `yes 'a line of terminal output, 40 bytes' | head -c ${TTY_BYTES}`], tty: true });
  let got = 0;
  s.stdout.on('data', (c: Buffer) => (got += c.length));
  await Promise.all([s.exit, finished(s.stdout)]);
  const seconds = (performance.now() - t0) / 1000;
  if (got < TTY_BYTES) throw new Error(`bench: ${got} bytes of TTY output, ${TTY_BYTES} expected`);
  return got / seconds / 1e6;
}

/** A person at a shell for `seconds`: returns the output bytes the session had. */
async function typingSession(stack: BenchStack, seconds: number): Promise<{ output: number; typed: number }> {
  const s = await execInInstance(target(stack), { argv: ['sh'], tty: true, env: { PS1: '$ ' }, window: { cols: 120, rows: 40 } });
  let output = 0;
  let typed = 0;
  s.stdout.on('data', (c: Buffer) => (output += c.length));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    for (const key of `${COMMANDS[i % COMMANDS.length]}\n`) {
      s.stdin.write(key);
      typed += 1;
      await sleep(125);
    }
    await sleep(1500);
  }
  s.stdin.write('exit\n');
  await Promise.all([s.exit, finished(s.stdout)]);
  return { output, typed };
}

async function busyShell(stack: BenchStack): Promise<number> {
  const s = await execInInstance(target(stack), { argv: ['sh', '-c', 'ls -lR /usr 2>/dev/null'], tty: true, window: { cols: 120, rows: 40 } });
  let output = 0;
  s.stdout.on('data', (c: Buffer) => (output += c.length));
  await Promise.all([s.exit, finished(s.stdout)]);
  return output;
}

function newestRecording(dir: string): number {
  const files = readdirSync(dir).map((f) => statSync(join(dir, f)));
  files.sort((a, b) => b.mtimeMs - a.mtimeMs);
  return files[0]?.size ?? 0;
}

const seconds = arg('--seconds', 60);
const recordDir = mkdtempSync(join(tmpdir(), 'hypeman-bench-rec-'));
const plain = await BenchStack.start();
const recording = await BenchStack.start(['--record-dir', recordDir, '--record-input', '--record-max-bytes', String(1024 ** 3)]);
try {
  const off: number[] = [];
  const on: number[] = [];
  await ttyStdout(plain);
  await ttyStdout(recording);
  for (let i = 0; i < RUNS; i++) {
    off.push(await ttyStdout(plain));
    on.push(await ttyStdout(recording));
    process.stderr.write(`bench: tty stdout run ${i + 1}: ${off[i].toFixed(0)} MB/s without, ${on[i].toFixed(0)} MB/s with recording (file ${newestRecording(recordDir)} bytes)\n`);
  }
  const typing = await typingSession(recording, seconds);
  const typingFile = newestRecording(recordDir);
  const busyOutput = await busyShell(recording);
  const busyFile = newestRecording(recordDir);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const report = {
    ttyStdoutMBps: { withoutRecording: off.map(Math.round), withRecording: on.map(Math.round), medianWithout: Math.round(median(off)), medianWith: Math.round(median(on)) },
    typingSession: { seconds, keysTyped: typing.typed, outputBytes: typing.output, recordingBytes: typingFile, recordingBytesPerMinute: Math.round((typingFile / seconds) * 60) },
    busyShell: { command: 'ls -lR /usr', outputBytes: busyOutput, recordingBytes: busyFile, ratio: Number((busyFile / busyOutput).toFixed(3)) },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await plain.stop();
  await recording.stop();
  rmSync(recordDir, { recursive: true, force: true });
}
