import { Socket } from 'node:net';
import { FrameType } from '../../wire/index.js';
import type { CommandObserver, WaitStatus } from './Command.js';
import type { OutputStream } from '../session/FrameWriter.js';
import { ProcessCommand } from './ProcessCommand.js';
import type { SpawnPlan } from './SpawnHelper.js';
import { spawnCommand } from './Spawner.js';

/**
 * A command without a terminal, started by the agent's spawner (Spawner.ts): stdin, stdout
 * and stderr are three socket pairs, and output is forwarded chunk by chunk as they deliver
 * it (at most 64 KiB per read). The agent itself is the command's parent and reaps it.
 */
export class PipeCommand extends ProcessCommand {
  #stdin: Socket | null = null;
  #stdout: Socket | null = null;
  #stderr: Socket | null = null;
  #openOutputs = 2;
  #reaped = false;
  #stdinUsable = true;

  constructor(plan: SpawnPlan, env: Record<string, string>, observer: CommandObserver) {
    super(observer);
    let spawned;
    try {
      spawned = spawnCommand(plan, env, (status) => this.#exited(status));
    } catch (error) {
      const message = `cannot start the command: ${(error as Error).message}`;
      queueMicrotask(() => this.spawnFailed(new Error(message)));
      return;
    }
    // The session learns the outcome after its constructor call returns, as from a helper.
    if ('kind' in spawned) {
      const failure = spawned;
      queueMicrotask(() => {
        this.report(failure);
        this.processGone('not started');
      });
      return;
    }
    this.#stdin = new Socket({ fd: spawned.stdin, readable: false, writable: true });
    this.#stdout = this.#forward(new Socket({ fd: spawned.stdout, readable: true, writable: false }), FrameType.Stdout);
    this.#stderr = this.#forward(new Socket({ fd: spawned.stderr, readable: true, writable: false }), FrameType.Stderr);
    this.#stdin.on('drain', () => this.observer.stdinDrained());
    // EPIPE: the command closed its stdin or exited; what the client still sends is dropped.
    this.#stdin.on('error', () => {
      this.#stdinUsable = false;
      this.observer.stdinDrained();
    });
    const pid = spawned.pid;
    queueMicrotask(() => this.report({ kind: 'started', pid }));
  }

  #forward(stream: Socket, type: OutputStream): Socket {
    // Paused until the session has sent Started.
    stream.pause();
    stream.on('data', (chunk: Buffer) => this.observer.output(type, chunk));
    stream.on('error', () => stream.destroy());
    stream.on('close', () => {
      if (--this.#openOutputs === 0) this.observer.outputEnded();
      this.#maybeGone();
    });
    return stream;
  }

  #exited(status: WaitStatus): void {
    this.#reaped = true;
    // As child_process does: the command's stdin has no reader any more.
    this.#stdin?.destroy();
    this.report(status);
    this.#maybeGone();
  }

  #maybeGone(): void {
    if (this.#reaped && this.#openOutputs === 0) this.processGone('reaped');
  }

  writeStdin(data: Uint8Array): boolean {
    const stdin = this.#stdin;
    if (stdin === null || !this.#stdinUsable || stdin.destroyed || stdin.writableEnded) return true;
    return stdin.write(data);
  }

  closeStdin(): void {
    const stdin = this.#stdin;
    if (stdin !== null && !stdin.destroyed && !stdin.writableEnded) stdin.end();
  }

  resize(): void {
    // Pipes have no window (spec §4.4: ignored without a TTY).
  }

  pauseOutput(): void {
    this.#stdout?.pause();
    this.#stderr?.pause();
  }

  resumeOutput(): void {
    this.#stdout?.resume();
    this.#stderr?.resume();
  }

  closeOutput(): void {
    this.#stdout?.destroy();
    this.#stderr?.destroy();
  }

  override abandon(): void {
    this.#stdin?.destroy();
    super.abandon();
  }
}
