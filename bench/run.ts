// npm run bench [-- --quick | --smoke] [--no-vm] [--out FILE]: latency, throughput,
// concurrency and memory of hypeman-exec through the API server and through the library,
// beside the floors and the gRPC baseline, and copy throughput beside the exec pipe and ssh,
// measured in one run on compiled code; then the
// guest in a real VM (boot, RAM, agent start, image sizes). See README "Benchmarks".
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { AGENT_BUNDLE, BenchStack, GRPC_PORT, INSTANCE, SPAWN_HELPER } from './BenchStack.js';
import { agentStarts } from './exec/agentStart.js';
import { measureCopy } from './copy/copySection.js';
import { SshPeer } from './ssh/SshPeer.js';
import { sshRoundTrips, sshStdinMs, sshStdoutMs } from './ssh/sshExec.js';
import { reconnectMs, resumabilityCost } from './exec/durable.js';
import { writerWithObservers } from './exec/observers.js';
import { BenchUsageError, type BenchOptions, USAGE, parseBenchOptions } from './BenchOptions.js';
import { cliAvailable, cliRoundTrips } from './exec/cli.js';
import { concurrentSessions } from './exec/concurrency.js';
import { idleSessionMemory, slowReaderMemory } from './exec/memory.js';
import { grpcRoundTrips, roundTrips } from './exec/roundTrip.js';
import { PATH_LABELS, type PathName, targetFor } from './exec/targets.js';
import { grpcStdinMs, grpcStdoutMs, stdinMs, stdoutMs } from './exec/throughput.js';
import { localTtyEchoes, ttyEchoes } from './exec/ttyEcho.js';
import { nodeStartups, spawnRoundTrips } from './floors/spawnFloor.js';
import { pipeMs, unixSocketMs, webSocketMs } from './floors/streamFloors.js';
import { type Figure, Figures, type Report } from './report/Report.js';
import { renderTable } from './report/table.js';
import { judgeTargets } from './report/targets.js';
import { type Samples, latencyStats, megabytesPerSecond } from './stats.js';
import { judgeVmTargets, measureVm } from './vm/vmSection.js';

const SLOW_READER_RATE = 10e6;
const PATHS: PathName[] = ['library', 'api'];
const GRPC = 'gRPC baseline (grpc-js client → mux → grpc-js agent)';
const RT = 'exec round trip of `true`';

function progress(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

function latencyFigure(base: Omit<Figure, 'unit' | 'value'>, samples: Samples): Omit<Figure, 'id'> & { id: string } {
  const latency = latencyStats(samples.ms);
  return { ...base, unit: 'ms', value: latency.n > 0 ? latency.p50 : null, latency, detail: { failures: samples.failures.length, failureSamples: samples.failures.slice(0, 5) } };
}

function streamFigure(base: Omit<Figure, 'unit' | 'value'>, bytes: number, ms: number): Figure {
  return { ...base, unit: 'MB/s', value: megabytesPerSecond(bytes, ms), detail: { bytes, seconds: ms / 1000 } };
}

const SSH_PATH = 'ssh (OpenSSH, the bench\'s own sshd on loopback)';
const SSH_STREAM_PATH = 'ssh -c aes128-gcm@openssh.com (a fresh connection, read and written here)';

async function measureFloors(options: BenchOptions, figures: Figures, dir: string): Promise<void> {
  const { sizes } = options;
  progress('floors');
  figures.add(latencyFigure({ id: 'floor.spawn', measure: 'spawn `true` from Node (child_process)', path: 'floor' }, await spawnRoundTrips(sizes.roundTrips, sizes.warmup)));
  figures.add(latencyFigure({ id: 'floor.node-start', measure: 'start Node (`node -e 0`)', path: 'floor' }, await nodeStartups(sizes.cliRuns)));
  figures.add(streamFigure({ id: 'floor.pipe', measure: '`head -c N /dev/zero | cat >/dev/null`', path: 'floor' }, sizes.streamBytes, await pipeMs(sizes.streamBytes)));
  figures.add(streamFigure({ id: 'floor.unix.receive', measure: 'Unix socket, Node → Node (read here)', path: 'floor' }, sizes.streamBytes, await unixSocketMs(dir, 'receive', sizes.streamBytes)));
  figures.add(streamFigure({ id: 'floor.unix.send', measure: 'Unix socket, Node → Node (written here)', path: 'floor' }, sizes.streamBytes, await unixSocketMs(dir, 'send', sizes.streamBytes)));
  figures.add(streamFigure({ id: 'floor.ws.receive', measure: 'loopback `ws` WebSocket (read here)', path: 'floor' }, sizes.streamBytes, await webSocketMs(dir, 'receive', sizes.streamBytes)));
  figures.add(streamFigure({ id: 'floor.ws.send', measure: 'loopback `ws` WebSocket (written here)', path: 'floor' }, sizes.streamBytes, await webSocketMs(dir, 'send', sizes.streamBytes)));
  figures.add(latencyFigure({ id: 'floor.tty', measure: 'TTY echo, local PTY (node-pty)', path: 'floor' }, await localTtyEchoes(sizes.ttyEchoes, sizes.warmup)));
}

async function measureMemory(options: BenchOptions, figures: Figures, stack: BenchStack): Promise<void> {
  const { sizes } = options;
  // The slow reader first: its peak is the one with a target, and 500 sessions opened and
  // closed before it would leave the processes larger (freed heap is not given back at once).
  progress(`memory: ${sizes.slowReaderBytes / 2 ** 20} MiB to a 10 MB/s reader through the API server`);
  const slow = await slowReaderMemory(targetFor(stack, 'api'), sizes.slowReaderBytes, SLOW_READER_RATE, [stack.server, stack.mux, stack.agent]);
  for (const [name, mib] of Object.entries(slow.peakMib)) {
    figures.add({
      id: `memory.slow-reader.${name}`,
      measure: `peak RSS, ${sizes.slowReaderBytes / 2 ** 20} MiB read at 10 MB/s`,
      path: name,
      unit: 'MiB',
      value: mib,
      detail: { bytes: slow.bytes, seconds: slow.seconds, rssBeforeMib: slow.beforeMib[name] },
    });
  }
  progress(`memory: ${sizes.idleSessions} idle sessions through the API server`);
  const idle = await idleSessionMemory(targetFor(stack, 'api'), sizes.idleSessions, [stack.server, stack.mux, stack.agent]);
  for (const [name, kib] of Object.entries(idle.perSessionKib)) {
    figures.add({ id: `memory.idle.${name}`, measure: `RSS per idle session (${sizes.idleSessions} × sleep 60)`, path: name, unit: 'KiB', value: kib, detail: { sessions: idle.sessions, baselineMib: idle.baselineMib[name] } });
  }
}

async function measureLatency(options: BenchOptions, figures: Figures, stack: BenchStack, peer: SshPeer | undefined): Promise<void> {
  const { sizes } = options;
  progress(`round trips: ${sizes.roundTrips} per path`);
  figures.add(latencyFigure({ id: 'roundtrip.grpc', measure: RT, path: GRPC, floor: 'floor.spawn' }, await grpcRoundTrips(stack.vsockSocket, GRPC_PORT, sizes.roundTrips, sizes.warmup)));
  for (const path of PATHS) {
    figures.add(latencyFigure({ id: `roundtrip.${path}`, measure: RT, path: PATH_LABELS[path], floor: 'floor.spawn', grpc: 'roundtrip.grpc' }, await roundTrips(targetFor(stack, path), sizes.roundTrips, sizes.warmup)));
  }
  const cli: Omit<Figure, 'unit' | 'value'> = { id: 'roundtrip.cli', measure: `CLI wall time: \`hypeman-exec ${INSTANCE} true\``, path: 'CLI (node process → API server → mux → agent)', floor: 'floor.node-start' };
  if (cliAvailable()) figures.add(latencyFigure(cli, await cliRoundTrips(stack.apiUrl, stack.token, INSTANCE, sizes.cliRuns)));
  else figures.add({ ...cli, unit: 'ms', value: null, note: 'CLI not available (dist/bin/hypeman-exec not built)' });
  if (peer) {
    progress(`ssh: ${sizes.cliRuns} runs of \`ssh peer true\` over a ControlMaster`);
    const measure = 'a whole `ssh peer true` over a warm ControlMaster (beside the CLI)';
    figures.add(latencyFigure({ id: 'roundtrip.ssh', measure, path: SSH_PATH, floor: 'floor.node-start' }, await sshRoundTrips(peer, stack.dir, sizes.cliRuns, 1)));
  }
  progress(`agent start: ${sizes.cliRuns} starts of the bundle`);
  const start = { id: 'agent.start', measure: 'agent start (spawn → first accepted connection, Unix socket)', path: "agent (the guest image's bundle)", floor: 'floor.node-start' };
  figures.add(latencyFigure(start, await agentStarts(AGENT_BUNDLE, SPAWN_HELPER, stack.dir, sizes.cliRuns)));

  progress(`TTY echo: ${sizes.ttyEchoes} bytes per path`);
  for (const path of PATHS) {
    figures.add(latencyFigure({ id: `tty.${path}`, measure: 'TTY echo of a typed byte', path: PATH_LABELS[path], floor: 'floor.tty' }, await ttyEchoes(targetFor(stack, path), sizes.ttyEchoes, sizes.warmup)));
  }
}

async function measureThroughput(options: BenchOptions, figures: Figures, stack: BenchStack, peer: SshPeer | undefined): Promise<void> {
  const bytes = options.sizes.streamBytes;
  const mib = bytes / 2 ** 20;
  progress(`stdout: ${mib} MiB per path`);
  const stdoutMeasure = `stdout: \`head -c ${mib}M /dev/zero\``;
  figures.add(streamFigure({ id: 'stdout.grpc', measure: stdoutMeasure, path: GRPC, floor: 'floor.unix.receive' }, bytes, await grpcStdoutMs(stack.vsockSocket, GRPC_PORT, bytes)));
  figures.add(streamFigure({ id: 'stdout.library', measure: stdoutMeasure, path: PATH_LABELS.library, floor: 'floor.unix.receive', grpc: 'stdout.grpc' }, bytes, await stdoutMs(targetFor(stack, 'library'), bytes)));
  figures.add(streamFigure({ id: 'stdout.api', measure: stdoutMeasure, path: PATH_LABELS.api, floor: 'floor.ws.receive', grpc: 'stdout.grpc' }, bytes, await stdoutMs(targetFor(stack, 'api'), bytes)));
  if (peer) figures.add(streamFigure({ id: 'stdout.ssh', measure: stdoutMeasure, path: SSH_STREAM_PATH }, bytes, await sshStdoutMs(peer, bytes)));
  progress(`stdin: ${mib} MiB per path`);
  const stdinMeasure = `stdin: ${mib} MiB into \`cat >/dev/null\``;
  figures.add(streamFigure({ id: 'stdin.grpc', measure: stdinMeasure, path: GRPC, floor: 'floor.unix.send' }, bytes, await grpcStdinMs(stack.vsockSocket, GRPC_PORT, bytes)));
  figures.add(streamFigure({ id: 'stdin.library', measure: stdinMeasure, path: PATH_LABELS.library, floor: 'floor.unix.send', grpc: 'stdin.grpc' }, bytes, await stdinMs(targetFor(stack, 'library'), bytes)));
  figures.add(streamFigure({ id: 'stdin.api', measure: stdinMeasure, path: PATH_LABELS.api, floor: 'floor.ws.send', grpc: 'stdin.grpc' }, bytes, await stdinMs(targetFor(stack, 'api'), bytes)));
  if (peer) figures.add(streamFigure({ id: 'stdin.ssh', measure: stdinMeasure, path: SSH_STREAM_PATH }, bytes, await sshStdinMs(peer, bytes)));
}

async function measureDurable(options: BenchOptions, figures: Figures, stack: BenchStack): Promise<void> {
  const { resumableBytes: bytes, resumablePairs: pairs, reconnects } = options.sizes;
  const mib = bytes / 2 ** 20;
  for (const direction of ['stdout', 'stdin'] as const) {
    for (const path of PATHS) {
      progress(`durable sessions: ${pairs} pairs of ${mib} MiB of ${direction} with and without a linger (${path})`);
      const cost = await resumabilityCost(targetFor(stack, path), direction, bytes, pairs, [stack.server, stack.mux, stack.agent]);
      const measure = `${direction}, ${mib} MiB: resumable (linger 30 s) ÷ not`;
      const plainId = `durable.${direction}.${path}.plain`;
      const cpu = { plainCpuMsPerGiB: cost.plainCpuMsPerGiB, lingeringCpuMsPerGiB: cost.lingeringCpuMsPerGiB, cpuRatio: cost.lingeringCpuMsPerGiB / cost.plainCpuMsPerGiB };
      figures.add({ id: plainId, measure: `${direction}, ${mib} MiB, not resumable (median of ${pairs}, interleaved)`, path: PATH_LABELS[path], unit: 'MB/s', value: cost.plain });
      figures.add({ id: `durable.${direction}.${path}`, measure, path: PATH_LABELS[path], unit: 'MB/s', value: cost.lingering, floor: plainId, detail: { pairRatios: cost.ratios, bytes, pairs, ...cpu } });
    }
  }
  progress(`durable sessions: ${reconnects} cuts of a lingering session's connection, timed to output flowing again`);
  const port = Number(new URL(stack.apiUrl).port);
  const samples = await reconnectMs(port, { instance: INSTANCE, token: stack.token }, reconnects);
  figures.add(latencyFigure({ id: 'durable.reconnect.api', measure: 'a cut connection to output flowing again (reset by a proxy; reconnect, resume)', path: PATH_LABELS.api }, samples));
  progress(`observers: ${pairs} pairs of ${mib} MiB to a writer alone and with two observers reading along (api)`);
  const watched = await writerWithObservers(targetFor(stack, 'api'), bytes, pairs);
  figures.add({ id: 'observers.writer.api.none', measure: `the writer's stdout, ${mib} MiB, no observer (median of ${pairs}, interleaved)`, path: PATH_LABELS.api, unit: 'MB/s', value: watched.none });
  figures.add({
    id: 'observers.writer.api.two',
    measure: `the writer's stdout, ${mib} MiB, two observers attached ÷ none`,
    path: PATH_LABELS.api,
    unit: 'MB/s',
    value: watched.two,
    floor: 'observers.writer.api.none',
    detail: { pairRatios: watched.ratios, observersCut: watched.observersCut, twoIdleMBps: watched.twoIdle, bytes, pairs },
  });
}

async function measureConcurrency(options: BenchOptions, figures: Figures, stack: BenchStack): Promise<void> {
  const counts = options.sizes.concurrency;
  const runs: Array<[PathName, number]> = [...counts.map((n): [PathName, number] => ['api', n]), ['library', counts[counts.length - 1]]];
  for (const [path, n] of runs) {
    progress(`concurrency: ${n} sessions (${path})`);
    const r = await concurrentSessions(targetFor(stack, path), n);
    figures.add({
      id: `concurrency.${path}.${n}`,
      measure: `${n} concurrent sessions (cat, all open at once)`,
      path: PATH_LABELS[path],
      unit: 'sessions',
      value: r.successes,
      latency: r.start,
      detail: { sessions: n, failures: r.failures, failureCodes: r.failureCodes, failureSamples: r.failureSamples, startP99: r.start.p99, wallSeconds: r.wallMs / 1000 },
    });
  }
}

/** The bench's own sshd (issue 18 item 7), or why there is none. */
async function startSshPeer(dir: string): Promise<{ peer?: SshPeer; skipped?: string }> {
  const missing = SshPeer.missing();
  if (missing) return { skipped: missing };
  progress("starting the bench's own sshd on loopback");
  try {
    return { peer: await SshPeer.start(join(dir, 'ssh')) };
  } catch (err) {
    return { skipped: `the bench's sshd did not start: ${(err as Error).message}` };
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseBenchOptions(argv);
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const t0 = performance.now();
  const figures = new Figures();
  progress(`${options.mode} run; starting the agent, the gRPC agent, the mux and the API server`);
  const stack = await BenchStack.start();
  const ssh = await startSshPeer(stack.dir);
  try {
    await measureFloors(options, figures, stack.dir);
    await measureMemory(options, figures, stack); // first: fresh processes, no garbage from the streams
    await measureLatency(options, figures, stack, ssh.peer);
    await measureThroughput(options, figures, stack, ssh.peer);
    await measureDurable(options, figures, stack);
    await measureConcurrency(options, figures, stack);
    await measureCopy(options.sizes, figures, stack, ssh.peer, progress);
  } finally {
    await ssh.peer?.stop();
    await stack.stop();
  }
  // Last, on its own: the guests take the machine's CPU while they run.
  const vm = await measureVm(figures, progress, options.skipVm);
  figures.computeRatios();
  const report: Report = {
    mode: options.mode,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${type()} ${release()}`, node: process.version },
    seconds: (performance.now() - t0) / 1000,
    figures: figures.list,
    targets: [...judgeTargets(figures, Math.max(...options.sizes.concurrency)), ...judgeVmTargets(vm)],
    skipped: { ...(ssh.skipped ? { ssh: ssh.skipped } : {}), ...(vm.skipped ? { VM: vm.skipped } : {}) },
  };
  process.stdout.write(`${renderTable(report)}\n\n${report.mode} run, ${report.seconds.toFixed(0)} s, ${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}, ${report.date}\n\n`);
  if (options.out) writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`bench: ${err instanceof BenchUsageError ? err.message : err.stack ?? err.message}\n`);
    process.exitCode = err instanceof BenchUsageError ? 2 : 1;
  },
);
