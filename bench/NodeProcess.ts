// One component of the benchmark (agent, mux, API server, gRPC agent…) as its own Node
// process running compiled code, its log in a file, its memory read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NodeProcessOptions {
  /** A short name for messages and the log file. */
  name: string;
  /** The script to run (compiled JavaScript). */
  script: string;
  args: string[];
  /** Where the log file goes. */
  dir: string;
  /** The process is ready once its log (stderr) or stdout matches this. */
  ready: RegExp;
  readyTimeoutMs?: number;
}

export class ComponentStartError extends Error {
  readonly code = 'BENCH_COMPONENT_START';
}

/**
 * HYPEMAN_BENCH_CPU_PROF=DIR runs every component with `--cpu-prof` into DIR, to find
 * where the time goes when a target is missed (open the .cpuprofile in Chrome DevTools).
 */
function profilingFlags(name: string): string[] {
  const dir = process.env.HYPEMAN_BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.${Date.now()}.cpuprofile`] : [];
}

export class NodeProcess {
  readonly name: string;
  readonly logPath: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  private constructor(name: string, logPath: string, child: ChildProcess) {
    this.name = name;
    this.logPath = logPath;
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const logPath = join(options.dir, `${options.name}.log`);
    const fd = openSync(logPath, 'w');
    const child = spawn(process.execPath, [...profilingFlags(options.name), options.script, ...options.args], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const p = new NodeProcess(options.name, logPath, child);
    await p.#waitForLog(options.ready, options.readyTimeoutMs ?? 20_000);
    return p;
  }

  get pid(): number {
    return this.child.pid!;
  }

  log(): string {
    return readFileSync(this.logPath, 'utf8');
  }

  async #waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.log())) {
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        this.child.kill('SIGKILL');
        throw new ComponentStartError(`bench: ${this.name} did not start (see its log ${this.logPath}):\n${this.log().slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A line of /proc/PID/status in KiB: VmRSS (resident now) or VmHWM (peak). */
  statusKib(field: 'VmRSS' | 'VmHWM'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new Error(`bench: no ${field} in /proc/${this.pid}/status (${this.name})`);
    return Number(m[1]);
  }

  /** CPU time the process has used so far (user + system), in milliseconds. */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat, in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  }

  /** Resets VmHWM to the current RSS, so a later VmHWM is the peak of what followed. */
  resetPeak(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const guard = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(guard);
  }
}
