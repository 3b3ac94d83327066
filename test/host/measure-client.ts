// Measures the exec client library against the real agent (not a test: figures vary with
// the machine, nothing is asserted).
//   node --import tsx test/host/measure-client.ts [runs]
// Prints the round-trip latency of `true` (connect, handshake, ExecStart → Exit) through the
// HybridVsockMux, straight to the agent's socket (no mux) and through the API server, and
// the throughput of 1 GiB through stdout and through stdin, each with and without the mux.
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import { startMuxedAgent } from './muxedAgent.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

async function roundTrip(target: ExecTarget): Promise<number> {
  const start = performance.now();
  const s = await execInInstance(target, { argv: ['true'] });
  s.closeStdin();
  s.stdout.resume();
  s.stderr.resume();
  await s.exit;
  return performance.now() - start;
}

async function latency(name: string, target: ExecTarget, runs: number): Promise<void> {
  const failures: string[] = [];
  const attempt = async (): Promise<number | undefined> => {
    try {
      return await roundTrip(target);
    } catch (err) {
      failures.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
      return undefined;
    }
  };
  for (let i = 0; i < 20; i++) await attempt(); // warm-up: JIT, agent caches
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await attempt();
    if (t !== undefined) times.push(t);
  }
  if (failures.length > 0) console.log(`latency ${name}: ${failures.length} runs failed:\n  ${failures.join('\n  ')}`);
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
  const mean = (times.reduce((a, b) => a + b, 0) / times.length).toFixed(2);
  console.log(`latency ${name}: ${runs} runs of true: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, mean ${mean} ms, max ${at(1)} ms`);
}

async function stdoutThroughput(name: string, target: ExecTarget): Promise<void> {
  const s = await execInInstance(target, { argv: ['head', '-c', String(GiB), '/dev/zero'] });
  s.closeStdin();
  let bytes = 0;
  s.stdout.on('data', (c: Buffer) => (bytes += c.length));
  const start = performance.now();
  await s.exit;
  const seconds = (performance.now() - start) / 1000;
  console.log(`stdout ${name}: ${bytes / MiB} MiB in ${seconds.toFixed(2)} s = ${(bytes / MiB / seconds).toFixed(0)} MiB/s`);
}

async function stdinThroughput(name: string, target: ExecTarget): Promise<void> {
  const s = await execInInstance(target, { argv: ['sh', '-c', 'cat >/dev/null'] });
  const chunk = Buffer.alloc(MiB);
  let left = GiB;
  const source = new Readable({
    read() {
      this.push(left > 0 ? chunk : null);
      left -= chunk.length;
    },
  });
  const start = performance.now();
  await pipeline(source, s.stdin);
  await s.exit;
  const seconds = (performance.now() - start) / 1000;
  console.log(`stdin ${name}: ${GiB / MiB} MiB in ${seconds.toFixed(2)} s = ${(GiB / MiB / seconds).toFixed(0)} MiB/s`);
}

const runs = Number(process.argv[2] ?? 300);
const muxed = await startMuxedAgent();
const viaMux: ExecTarget = { socketPath: muxed.mux.socketPath };
const direct: ExecTarget = { dialer: { target: muxed.agent.socketPath, dial: async () => connect(muxed.agent.socketPath) } };
try {
  await latency('through the mux', viaMux, runs);
  await latency('straight to the agent socket', direct, runs);
  await stdoutThroughput('through the mux', viaMux);
  await stdoutThroughput('straight to the agent socket', direct);
  await stdinThroughput('through the mux', viaMux);
  await stdinThroughput('straight to the agent socket', direct);
} finally {
  await muxed.stop();
}
// Loaded only now: under tsx, a process that has loaded many modules moves bytes at about
// half the speed (compiled JavaScript does not), which would depress the figures above.
const { startStack } = await import('../server/stack.js');
const stack = await startStack();
try {
  await latency('through the API server (WebSocket, mux, agent)', { apiUrl: stack.url, instance: 'web', token: stack.token }, runs);
} finally {
  await stack.stop();
}
