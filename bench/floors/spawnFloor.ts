// The latency floors: spawning `true` from this Node process, and starting Node itself
// (what the CLI pays before its first byte).
import { spawn } from 'node:child_process';
import { runNode } from '../exec/cli.js';
import { type Samples, sampleMs } from '../stats.js';

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

export function spawnRoundTrips(runs: number, warmup: number): Promise<Samples> {
  return sampleMs(runs, warmup, spawnTrue);
}

export function nodeStartups(runs: number): Promise<Samples> {
  return sampleMs(runs, 1, () => runNode(['-e', '0']));
}
