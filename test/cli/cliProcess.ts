// Runs the CLI as users do, through its launcher (dist/bin/hypeman-exec, written by `npm test`
// or `npm run build`), as a real process against a test stack in its own process (stackProcess.ts).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { processesWithEnvironment, waitUntil } from '../guest/agentProcess.js';
import { startStackProcess, type StackProcess } from './stackProcess.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
/** The launchers `npm run build` writes, which users put on their PATH. */
export const BIN_DIR = join(PROJECT, 'dist/bin');
export const CLI = join(BIN_DIR, 'hypeman-exec');

const HANG_GUARD_MS = 60_000;

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

/** A stack process for the tests of a file (started before them, stopped after), and the CLI's environment for it. */
export function useStackProcess(): { readonly stack: StackProcess; readonly env: NodeJS.ProcessEnv } {
  const target = {} as { stack: StackProcess; env: NodeJS.ProcessEnv };
  before(async () => {
    target.stack = await startStackProcess();
    target.env = stackEnv(target.stack);
  });
  after(async () => {
    await target.stack?.stop();
  });
  return target;
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

/** A `NAME=value` to pass with -e, by which the remote command's processes are found. */
export function processMarker(): string {
  return `HYPEMAN_TEST_MARK=${randomBytes(6).toString('hex')}`;
}

/**
 * After the CLI has ended a session: the API server holds no session any more and no
 * process of the command (found by its marker, orphans included) is left.
 */
export async function waitUntilSessionGone(stack: StackProcess, marker: string): Promise<void> {
  const deadline = Date.now() + 20_000; // hang guard
  let sessions: number;
  while ((sessions = await stack.sessions()) !== 0) {
    if (Date.now() > deadline) throw new Error(`the API server still holds ${sessions} session(s)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // SIGHUP ends these commands at once; SIGKILL would follow 5 s later (spec §9.9).
  await waitUntil(() => processesWithEnvironment(marker).length === 0, `no process with ${marker} is left`);
}

/**
 * A PATH with node and nothing else of the machine's, plus `npm` and `npx` that only note
 * that they were run and fail: what the launchers must work with, without ever calling npm.
 */
export class PathWithoutNpm {
  readonly dir = mkdtempSync(join(tmpdir(), 'hypeman-no-npm-'));
  readonly #log = join(this.dir, 'npm-runs.log');

  constructor() {
    symlinkSync(process.execPath, join(this.dir, 'node'));
    for (const name of ['npm', 'npx']) {
      writeFileSync(join(this.dir, name), `#!/bin/sh\necho "${name} $*" >>${this.#log}\nexit 1\n`);
      chmodSync(join(this.dir, name), 0o755);
    }
  }

  /** PATH: `first` (e.g. dist/bin), then this directory. */
  path(...first: string[]): string {
    return [...first, this.dir].join(':');
  }

  /** Every npm or npx run so far, one line each. */
  npmRuns(): string[] {
    return existsSync(this.#log) ? readFileSync(this.#log, 'utf8').trim().split('\n') : [];
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
