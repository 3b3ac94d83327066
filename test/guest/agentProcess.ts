// Runs the real agent (src/guest/main.ts) as a child process on a Unix socket in a temp
// directory, for the guest tests. Builds the exec helper first if it is missing or stale.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

const PROJECT = new URL('../..', import.meta.url).pathname;
const HELPER = join(PROJECT, 'build/guest/hypeman-exec-spawn');
const HELPER_SOURCE = join(PROJECT, 'src/guest/native/spawn-helper.c');

/** Builds build/guest/hypeman-exec-spawn when it is missing or older than its source. */
export function ensureSpawnHelper(): string {
  if (!existsSync(HELPER) || statSync(HELPER).mtimeMs < statSync(HELPER_SOURCE).mtimeMs) {
    execFileSync('sh', [join(PROJECT, 'src/guest/native/build.sh')], { stdio: 'inherit' });
  }
  return HELPER;
}

export interface AgentProcessOptions {
  /** Extra command-line arguments (--root, --max-sessions, --env …). */
  args?: string[];
  /** Replaces the agent's process environment. */
  env?: NodeJS.ProcessEnv;
}

/** A running agent. `stop()` sends SIGTERM and waits for it to exit; always call it. */
export class AgentProcess {
  readonly dir: string;
  readonly socketPath: string;
  readonly child: ChildProcess;
  /** Everything the agent wrote to stderr (its JSON log lines). */
  log = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(dir: string, socketPath: string, child: ChildProcess) {
    this.dir = dir;
    this.socketPath = socketPath;
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => (this.log += text));
  }

  static async start(options: AgentProcessOptions = {}): Promise<AgentProcess> {
    ensureSpawnHelper();
    const dir = mkdtempSync(join(tmpdir(), 'hypeman-agent-'));
    const socketPath = join(dir, 'agent.sock');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT, 'src/guest/main.ts'), '--listen', `unix:${socketPath}`, '--log-level', 'info', ...(options.args ?? [])],
      { cwd: PROJECT, env: options.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const agent = new AgentProcess(dir, socketPath, child);
    await agent.#ready();
    return agent;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async #ready(): Promise<void> {
    const deadline = Date.now() + 30_000; // hang guard: tsx compiles on first start
    while (!this.log.includes('"msg":"agent ready"')) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        this.child.kill('SIGKILL');
        throw new Error(`the agent did not start:\n${this.log}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Open file descriptors of the agent process. */
  fdCount(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** A line of /proc/PID/status in kB, e.g. VmHWM (peak RSS) or VmRSS. */
  statusKb(field: 'VmHWM' | 'VmRSS'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    // Once: a test may have sent SIGTERM itself.
    if (this.child.exitCode === null && this.child.signalCode === null && !this.child.killed) this.child.kill('SIGTERM');
    const guard = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    const result = await this.exited;
    clearTimeout(guard);
    rmSync(this.dir, { recursive: true, force: true });
    return result;
  }
}

/** Runs the agent to completion (for options that make it exit): its status and output. */
export function runAgentCli(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  ensureSpawnHelper();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/guest/main.ts', ...args], { cwd: PROJECT, env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The agent's child processes and their descendants (helpers and commands), by pid. */
export function descendantsOf(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, ppid] of parent) if (ppid === p) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/** Processes (zombies included) whose environment holds `entry` (`NAME=value`), by pid. */
export function processesWithEnvironment(entry: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(entry)) out.push(Number(name));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return out;
}

/** True while /proc has the process, zombies included (a zombie is not reaped yet). */
export function processExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Waits (hang guard `timeoutMs`) until `check` is true. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts an agent before the tests of the enclosing suite and stops it after them. */
export function useAgent(options: AgentProcessOptions = {}): () => AgentProcess {
  let agent: AgentProcess | undefined;
  before(async () => {
    agent = await AgentProcess.start(options);
  });
  after(async () => {
    await agent?.stop();
  });
  return () => agent!;
}
