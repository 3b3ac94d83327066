// Wall time of the CLI (`hypeman-exec bench-1 true`): a Node process start, the WebSocket,
// the whole path and back.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DIST } from '../paths.js';
import { type Samples, sampleMs } from '../stats.js';

/** What users run: the launcher of the one-file CLI (scripts/build-bins.ts). */
export const CLI_SCRIPT = join(DIST, 'bin/hypeman-exec');

export class CliFailedError extends Error {
  readonly code = 'BENCH_CLI_FAILED';
}

export function cliAvailable(): boolean {
  return existsSync(CLI_SCRIPT);
}

/** Runs `node args…` with stdin at EOF and waits for it to exit 0. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new CliFailedError(`node ${args.join(' ')} exited with ${code}: ${stderr.trim().slice(0, 300)}`))));
  });
}

export function cliRoundTrips(apiUrl: string, token: string, instance: string, runs: number): Promise<Samples> {
  const env = { ...process.env, HYPEMAN_API_URL: apiUrl, HYPEMAN_TOKEN: token };
  return sampleMs(runs, 1, () => runNode([CLI_SCRIPT, instance, 'true'], env));
}
