import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { FrameType } from '../../wire/index.js';
import type { CommandObserver } from './Command.js';
import type { OutputStream } from '../session/FrameWriter.js';
import { HelperCommand } from './HelperCommand.js';
import type { HelperReportServer } from './HelperReports.js';
import { spawnHelperArguments, type SpawnPlan } from './SpawnHelper.js';

/**
 * A command without a terminal: stdin, stdout and stderr are three pipes, and output is
 * forwarded chunk by chunk as the pipes deliver it (at most 64 KiB per read).
 */
export class PipeCommand extends HelperCommand {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  #openOutputs = 2;
  #stdinUsable = true;

  constructor(helperPath: string, plan: SpawnPlan, env: Record<string, string>, observer: CommandObserver, reports: HelperReportServer) {
    super(observer, reports);
    // detached: the helper gets a session of its own, away from the agent's process group
    // (a ^C meant for an agent run from a shell must not reach the sessions' helpers).
    this.#child = spawn(helperPath, spawnHelperArguments(plan), {
      env: { ...env, ...this.helperEnv },
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const child = this.#child;
    child.on('error', (error) => {
      // Only spawn failures reach here: the helper is not running.
      if (child.pid === undefined) this.spawnFailed(new Error(`cannot start the exec helper ${helperPath}: ${error.message}`));
    });
    if (child.pid === undefined) {
      // Spawning failed (EMFILE, EAGAIN…); 'error' follows. The pipes may not even exist.
      for (const stream of child.stdio) stream?.destroy();
      return;
    }
    child.on('close', (code, signal) => {
      if (child.pid !== undefined) this.helperExited(signal !== null ? `killed by ${signal}` : `exit code ${code}`);
    });
    this.#forward(child.stdout, FrameType.Stdout);
    this.#forward(child.stderr, FrameType.Stderr);
    child.stdin.on('drain', () => this.observer.stdinDrained());
    // EPIPE: the command closed its stdin or exited; what the client still sends is dropped.
    child.stdin.on('error', () => {
      this.#stdinUsable = false;
      this.observer.stdinDrained();
    });
  }

  #forward(stream: Readable, type: OutputStream): void {
    // Paused until the session has sent Started: output may arrive before the helper's report.
    stream.pause();
    stream.on('data', (chunk: Buffer) => this.observer.output(type, chunk));
    stream.on('error', () => stream.destroy());
    stream.on('close', () => {
      if (--this.#openOutputs === 0) this.observer.outputEnded();
    });
  }

  writeStdin(data: Uint8Array): boolean {
    if (!this.#stdinUsable || this.#child.stdin.writableEnded) return true;
    return this.#child.stdin.write(data);
  }

  closeStdin(): void {
    if (!this.#child.stdin.writableEnded) this.#child.stdin.end();
  }

  resize(): void {
    // Pipes have no window (spec §4.4: ignored without a TTY).
  }

  pauseOutput(): void {
    this.#child.stdout.pause();
    this.#child.stderr.pause();
  }

  resumeOutput(): void {
    this.#child.stdout.resume();
    this.#child.stderr.resume();
  }

  closeOutput(): void {
    this.#child.stdout.destroy();
    this.#child.stderr.destroy();
  }

  override abandon(): void {
    this.#child.stdin.destroy();
    super.abandon();
  }
}
