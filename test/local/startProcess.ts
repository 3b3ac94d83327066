// Runs the real `npm start` entry (scripts/start.mjs) as a child process on a free port and
// a data directory of the test's, and waits for its ready banner.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const PROJECT = new URL('../..', import.meta.url).pathname;
export const START_ENTRY = join(PROJECT, 'scripts/start.mjs');

/** Generous: the first start may compile and write the image tree. A hang guard, not a timing. */
const READY_GUARD_MS = 120_000;

/** A port nobody listens on right now (bound to port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class StartProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly port: number;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess, dataDir: string, port: number) {
    this.child = child;
    this.dataDir = dataDir;
    this.port = port;
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(dataDir: string, port: number, env: Record<string, string> = {}): Promise<StartProcess> {
    const child = spawn(process.execPath, [START_ENTRY], {
      cwd: PROJECT,
      env: { ...process.env, PORT: String(port), HYPEMAN_DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new StartProcess(child, dataDir, port);
    const deadline = Date.now() + READY_GUARD_MS;
    while (!started.stdout.includes('Ctrl-C stops')) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`npm start did not become ready:\n${started.stdout}\n${started.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return started;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The token the entry wrote to <data-dir>/dev-token. */
  get token(): string {
    return readFileSync(join(this.dataDir, 'dev-token'), 'utf8').trim();
  }

  /** What the CLI needs to reach this server. */
  cliEnv(): NodeJS.ProcessEnv {
    return { ...process.env, HYPEMAN_API_URL: `http://127.0.0.1:${this.port}`, HYPEMAN_TOKEN: this.token };
  }

  /** SIGTERM, as Ctrl-C would; waits for the exit (SIGKILL after a hang guard). */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const guard = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const exit = await this.exited;
    clearTimeout(guard);
    return exit;
  }
}
