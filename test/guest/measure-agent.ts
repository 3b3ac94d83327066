// Measures the agent (not a test: figures vary with the machine, nothing is asserted).
//   node --import tsx test/guest/measure-agent.ts
// Prints: stdout throughput through a Unix socket, peak RSS under a slow reader, memory
// per idle session (pipes and terminals), the time from ExecStart to Started and Exit beside
// spawning `true` in this process, and the cold start of the image's bundle beside `node -e 0`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentStarts } from '../../bench/exec/agentStart.js';
import { nodeStartups, spawnRoundTrips } from '../../bench/floors/spawnFloor.js';
import { AGENT_BUNDLE_NAME, bundleAgent, findProjectRoot } from '../../src/host/initrd/index.js';
import { connect } from 'node:net';
import { FrameDecoder, FrameType as T, encodeExecStart, encodeStdinClose } from '../../src/wire/index.js';
import { AgentProcess, ensureSpawnHelper } from './agentProcess.js';
import { ExecConnection, runCommand } from './execClient.js';

const MiB = 1024 * 1024;

/** Runs `argv` and reads its Stdout; `pauseEveryBytes` makes the reader slow. */
function stream(socketPath: string, argv: string[], pauseEveryBytes = 0, pauseMs = 0): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let bytes = 0;
    let sincePause = 0;
    const start = performance.now();
    const decoder = new FrameDecoder((frame) => {
      if (frame.type === T.Stdout) bytes += frame.payload.length;
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      sincePause += chunk.length;
      if (pauseEveryBytes > 0 && sincePause >= pauseEveryBytes) {
        sincePause = 0;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ bytes, seconds: (performance.now() - start) / 1000 }));
    socket.write(encodeExecStart({ argv }));
    socket.write(encodeStdinClose());
  });
}

async function idleSessions(agent: AgentProcess, count: number, tty: boolean): Promise<number> {
  const before = agent.statusKb('VmRSS');
  const connections = await Promise.all(Array.from({ length: count }, () => ExecConnection.open(agent.socketPath)));
  for (const c of connections) c.start({ argv: ['cat'], tty });
  await Promise.all(connections.map((c) => c.waitFor((m): m is never => m.type === T.Started)));
  const during = agent.statusKb('VmRSS');
  for (const c of connections) c.destroy();
  return (during - before) / count;
}

const agent = await AgentProcess.start();
try {
  await runCommand(agent.socketPath, { argv: ['true'] });

  const fast = await stream(agent.socketPath, ['head', '-c', String(4096 * MiB), '/dev/zero']);
  console.log(`stdout throughput, Unix socket, fast reader: ${(fast.bytes / MiB / fast.seconds).toFixed(0)} MiB/s (4 GiB from head -c of /dev/zero in ${fast.seconds.toFixed(2)} s)`);

  writeFileSync(`/proc/${agent.pid}/clear_refs`, '5');
  const rssBefore = agent.statusKb('VmRSS');
  const slow = await stream(agent.socketPath, ['head', '-c', String(1024 * MiB), '/dev/zero'], MiB, 5);
  console.log(
    `slow reader (5 ms pause per MiB): 1 GiB in ${slow.seconds.toFixed(1)} s (${(slow.bytes / MiB / slow.seconds).toFixed(0)} MiB/s); agent RSS ${(rssBefore / 1024).toFixed(0)} MiB before, peak ${(agent.statusKb('VmHWM') / 1024).toFixed(0)} MiB`,
  );

  const started: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['true'] });
    c.closeStdin();
    await c.waitFor((m): m is never => m.type === T.Started);
    started.push(performance.now() - t0);
    await c.finish();
    total.push(performance.now() - t0);
    c.destroy();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(2);
  const floor = await spawnRoundTrips(200, 20);
  console.log(`ExecStart → Started median ${median(started)} ms; whole session of \`true\` median ${median(total)} ms (200 sequential); spawning \`true\` here (child_process) median ${median(floor.ms)} ms`);

} finally {
  await agent.stop();
}

// On fresh agents: an agent that has just moved gigabytes holds garbage that hides the figure.
for (const [count, tty] of [[500, false], [200, true]] as const) {
  const fresh = await AgentProcess.start();
  try {
    await runCommand(fresh.socketPath, { argv: ['true'], tty });
    console.log(`memory per idle session (${count} × cat${tty ? ' under a TTY' : ' on pipes'}): ${(await idleSessions(fresh, count, tty)).toFixed(0)} kB of agent RSS`);
  } finally {
    await fresh.stop();
  }
}

// Cold start: the bundle as the image ships it, spawn to first accepted connection, beside `node -e 0`.
{
  const project = findProjectRoot();
  const dir = join(project, 'build', 'measure-agent');
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, AGENT_BUNDLE_NAME); // inside the checkout: node-pty and the addon resolve as in the image
  writeFileSync(bundle, (await bundleAgent({ entry: join(project, 'src/guest/main.ts'), workingDirectory: project })).code);
  const sockets = mkdtempSync(join(tmpdir(), 'hypeman-agent-start-'));
  try {
    const node: number[] = [];
    const agent: number[] = [];
    for (let round = 0; round < 5; round++) {
      node.push(...(await nodeStartups(4)).ms);
      agent.push(...(await agentStarts(bundle, ensureSpawnHelper(), sockets, 4)).ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    console.log(`cold start to listening (first accepted connection), median of 20: agent ${median(agent).toFixed(1)} ms, node -e 0 ${median(node).toFixed(1)} ms: +${(median(agent) - median(node)).toFixed(1)} ms`);
  } finally {
    rmSync(sockets, { recursive: true, force: true });
  }
}
