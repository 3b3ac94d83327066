// Runs the compiled CLI (dist/src/host/cli/main.js, built by `npm test` or `npm run build`)
// as a real process, against a test stack in its own process (stackProcess.ts).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StackProcess } from './stackProcess.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
export const CLI = join(PROJECT, 'dist/src/host/cli/main.js');

const HANG_GUARD_MS = 60_000;

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

/** The environment that points the CLI at a stack: its API URL and a valid token. */
export function stackEnv(stack: StackProcess, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, HYPEMAN_API_URL: stack.url.replace(/^ws:/, 'http:'), HYPEMAN_TOKEN: stack.token, ...extra };
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** A running CLI process, its output collected as it comes. */
export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly done: Promise<CliResult>;
  #stdout: Buffer[] = [];
  stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    requireBuiltCli();
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: 'pipe' });
    this.child.stdout.on('data', (b: Buffer) => this.#stdout.push(b));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (s: string) => (this.stderr += s));
    // The CLI may exit before taking all of its stdin; that is not the test's failure.
    this.child.stdin.on('error', () => undefined);
    this.done = new Promise((resolve, reject) => {
      const guard = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`hypeman-exec ${args.join(' ')} hung; stderr: ${this.stderr}`));
      }, HANG_GUARD_MS);
      this.child.once('close', (status, signal) => {
        clearTimeout(guard);
        resolve({ status, signal, stdout: Buffer.concat(this.#stdout), stderr: this.stderr });
      });
    });
  }

  get stdoutText(): string {
    return Buffer.concat(this.#stdout).toString();
  }
}

/** Runs the CLI to the end with `input` as its stdin (closed after it). */
export function runCli(args: string[], env: NodeJS.ProcessEnv, input: Buffer | string = ''): Promise<CliResult> {
  const p = new CliProcess(args, env);
  p.child.stdin.end(input);
  return p.done;
}
