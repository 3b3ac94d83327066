// node --import tsx test/guest/measure-node-flags.ts [--quick]
// Which Node flags lower the agent's memory without costing throughput: the agent as the
// image ships it (the esbuild bundle), started with each candidate, measured on a Unix socket
// through the client library: start (spawn to first accepted connection), idle RSS after 20
// sessions, peak RSS (VmHWM) while a client reads 64 MiB at 10 MB/s, and stdout throughput.
// Rounds alternate the variants, so that load from other work on the machine hits them alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { execInInstance, type ExecTarget } from '../../src/host/client/index.js';
import { AGENT_BUNDLE_NAME, bundleAgent, findProjectRoot } from '../../src/host/initrd/index.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const STREAM = (quick ? 128 : 512) * 2 ** 20;
const SLOW = 64 * 2 ** 20;

/** Candidates: V8 flags change V8's flag hash, so Node's built-in code cache no longer applies (a start-up cost); Node's own options and the environment do not. */
const VARIANTS: Record<string, { flags: string[]; env?: Record<string, string> }> = {
  none: { flags: [] },
  'semi-space 1 MiB': { flags: ['--max-semi-space-size=1'] },
  'semi-space 2 MiB': { flags: ['--max-semi-space-size=2'] },
  'v8-pool-size 1': { flags: ['--v8-pool-size=1'] },
  'MALLOC_ARENA_MAX=1': { flags: [], env: { MALLOC_ARENA_MAX: '1' } },
  'optimize-for-size': { flags: ['--optimize-for-size'] },
  'lite-mode': { flags: ['--lite-mode'] },
};

const project = findProjectRoot();
const dir = join(project, 'build', 'measure-node-flags');
mkdirSync(dir, { recursive: true });
// Inside the checkout, so that node-pty (outside the bundle) resolves as in the image.
const bundle = join(dir, AGENT_BUNDLE_NAME);
writeFileSync(bundle, (await bundleAgent({ entry: join(project, 'src/guest/main.ts'), workingDirectory: project })).code);

const status = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

function unixDialer(path: string): ExecTarget {
  return {
    dialer: {
      target: path,
      dial: () =>
        new Promise<Duplex>((resolve, reject) => {
          const socket = connect(path);
          socket.pause();
          socket.once('connect', () => resolve(socket));
          socket.once('error', reject);
        }),
    },
  };
}

async function run(target: ExecTarget, argv: string[], onData?: (chunk: Buffer, s: { pause(): void; resume(): void }) => void): Promise<number> {
  const s = await execInInstance(target, { argv });
  s.closeStdin();
  s.stderr.resume();
  let got = 0;
  s.stdout.on('data', (chunk: Buffer) => {
    got += chunk.length;
    onData?.(chunk, s.stdout);
  });
  await Promise.all([s.exit, finished(s.stdout)]);
  return got;
}

async function measure(name: string): Promise<Record<string, number>> {
  const { flags, env } = VARIANTS[name];
  const socket = join(dir, 'agent.sock');
  rmSync(socket, { force: true });
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...flags, bundle, '--listen', `unix:${socket}`, '--root', '/', '--log-level', 'warn'], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  const target = unixDialer(socket);
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(socket, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  const startMs = performance.now() - t0;
  try {
    for (let i = 0; i < 20; i++) await run(target, ['true']);
    await new Promise((r) => setTimeout(r, 500));
    const idle = status(child.pid!, 'VmRSS');
    const idleAnon = status(child.pid!, 'RssAnon');
    writeFileSync(`/proc/${child.pid}/clear_refs`, '5'); // resets VmHWM
    const slowStart = performance.now();
    let got = 0;
    await run(target, ['head', '-c', String(SLOW), '/dev/zero'], (chunk, stream) => {
      got += chunk.length;
      const ahead = (got / 10e6) * 1000 - (performance.now() - slowStart);
      if (ahead > 1) {
        stream.pause();
        setTimeout(() => stream.resume(), ahead);
      }
    });
    const peak = status(child.pid!, 'VmHWM');
    const f0 = performance.now();
    const bytes = await run(target, ['head', '-c', String(STREAM), '/dev/zero']);
    const mbps = bytes / 1e6 / ((performance.now() - f0) / 1000);
    return { startMs, idle, idleAnon, peak, mbps };
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

const results: Record<string, Record<string, number>[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const name of Object.keys(VARIANTS)) {
    (results[name] ??= []).push(await measure(name));
    process.stderr.write('.');
  }
}
process.stderr.write('\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| flags | start ms | idle RSS MiB (anon) | peak RSS, ${SLOW / 2 ** 20} MiB at 10 MB/s | stdout MB/s (${STREAM / 2 ** 20} MiB) |`);
console.log('| --- | --- | --- | --- | --- |');
for (const [name, runs] of Object.entries(results)) {
  const m = (k: string) => median(runs.map((r) => r[k]));
  console.log(`| ${name} | ${m('startMs').toFixed(0)} | ${m('idle').toFixed(1)} (${m('idleAnon').toFixed(1)}) | ${m('peak').toFixed(1)} | ${m('mbps').toFixed(0)} |`);
}
rmSync(dir, { recursive: true, force: true });
