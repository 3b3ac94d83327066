// The agent's cold start on this machine (issue 18 item 4): the guest image's bundle, spawned
// with a Unix listener, timed from spawn to the first connection it accepts, as a VM pays it
// at every boot (without the VM), beside `node -e 0` (floor.node-start).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Samples } from '../stats.js';

const GIVE_UP_MS = 20_000;

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function startOnce(bundle: string, helper: string, socketPath: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bundle, '--listen', `unix:${socketPath}`, '--spawn-helper', helper, '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (await accepts(socketPath)) return performance.now() - t0;
      if (child.exitCode !== null || performance.now() - t0 > GIVE_UP_MS) throw new Error(`the agent bundle did not listen (exit ${child.exitCode})`);
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

export async function agentStarts(bundle: string, helper: string, dir: string, runs: number): Promise<Samples> {
  const samples: Samples = { ms: [], failures: [] };
  for (let i = 0; i <= runs; i++) {
    try {
      const ms = await startOnce(bundle, helper, join(dir, `start-${i}.sock`));
      if (i > 0) samples.ms.push(ms); // the first one warms the file cache
    } catch (error) {
      samples.failures.push((error as Error).message);
    }
  }
  return samples;
}
