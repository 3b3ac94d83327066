import { readSync } from 'node:fs';
import * as nodePty from 'node-pty';
import { FrameType } from '../../wire/index.js';
import type { CommandObserver } from './Command.js';
import { DEFAULT_TERM } from './CommandEnvironment.js';
import { HelperCommand } from './HelperCommand.js';
import type { HelperReportServer } from './HelperReports.js';
import { foregroundProcessGroup } from './ProcessGroups.js';
import { spawnHelperArguments, type SpawnPlan } from './SpawnHelper.js';
import { TerminalInput } from './TerminalInput.js';

/**
 * The parts of node-pty's UnixTerminal its typings leave out: the master descriptor, the
 * 'close' event (end of output: EIO once no process holds the terminal), its socket's 'end'
 * event, and destroy().
 */
interface UnixTerminal extends nodePty.IPty {
  readonly fd: number;
  on(event: 'close' | 'end', listener: () => void): void;
  destroy(): void;
}

/** Bytes per read of what the terminal still holds after a premature end of file. */
const DRAIN_CHUNK = 64 * 1024;

/**
 * A command under a pseudo-terminal (node-pty). The helper is the terminal's session
 * leader; the command runs in its own process group, made the terminal's foreground group
 * by the helper. Output is one stream, sent as Stdout.
 */
export class PtyCommand extends HelperCommand {
  /** null once the terminal is closed, or when it could not be opened. */
  #pty: UnixTerminal | null = null;
  #helperPid = 0;
  #input: TerminalInput | null = null;
  /** The terminal's foreground group when the agent closed the terminal, for later signals. */
  #lastForeground: number | null = null;

  constructor(
    helperPath: string,
    plan: SpawnPlan,
    env: Record<string, string>,
    window: { rows: number; cols: number },
    observer: CommandObserver,
    reports: HelperReportServer,
  ) {
    super(observer, reports);
    let pty: UnixTerminal;
    try {
      pty = nodePty.spawn(helperPath, spawnHelperArguments(plan), {
        name: env.TERM ?? DEFAULT_TERM,
        rows: window.rows,
        cols: window.cols,
        cwd: '/',
        env: { ...env, ...this.helperEnv },
        encoding: null,
      }) as UnixTerminal;
    } catch (error) {
      const message = `cannot open a terminal for the command: ${(error as Error).message}`;
      queueMicrotask(() => this.spawnFailed(new Error(message)));
      return;
    }
    this.#pty = pty;
    this.#helperPid = pty.pid;
    // Paused until the session has sent Started: output may arrive before the helper's report.
    pty.pause();
    this.#input = new TerminalInput(pty.fd, () => this.observer.stdinDrained());
    // With encoding null node-pty hands out Buffers, whatever its typings say.
    pty.onData((chunk) => this.observer.output(FrameType.Stdout, chunk as unknown as Buffer));
    pty.on('end', () => this.#drainAfterHangUp(pty.fd));
    pty.on('close', () => this.#terminalClosed());
    pty.onExit(({ exitCode, signal }) => {
      this.#terminalClosed();
      this.helperExited(signal ? `killed by signal ${signal}` : `exit code ${exitCode}`);
    });
  }

  /** Spec §4.5: a signal goes to the terminal's foreground process group. */
  protected override signalTargets(): number[] {
    const foreground = this.pid === 0 ? null : (foregroundProcessGroup(this.#helperPid) ?? this.#lastForeground);
    return [foreground ?? this.pid];
  }

  writeStdin(data: Uint8Array): boolean {
    return this.#input?.write(data) ?? true;
  }

  /** Spec §9.8: ^D, typed when the helper finds the input read (at once if no helper watches). */
  closeStdin(): void {
    const input = this.#input;
    if (input === null || !input.end()) return;
    if (!this.announceStdinClosed()) input.typeEof();
  }

  protected override typeEof(): void {
    this.#input?.typeEof();
  }

  resize(rows: number, cols: number): void {
    this.#pty?.resize(cols, rows);
  }

  pauseOutput(): void {
    this.#pty?.pause();
  }

  resumeOutput(): void {
    this.#pty?.resume();
  }

  closeOutput(): void {
    const pty = this.#pty;
    if (pty === null) return;
    if (this.pid !== 0) this.#lastForeground = foregroundProcessGroup(this.#helperPid);
    this.#terminalClosed();
    // Closing the master hangs the terminal up: later writes by its processes fail with EIO.
    pty.destroy();
  }

  /**
   * libuv ends a stream when poll reports POLLHUP after a short read (uv__stream_io), but a
   * terminal's master reports POLLHUP as soon as the last process closes the terminal while
   * up to ~64 KiB of its output are still in the kernel's buffers, and reads are always
   * short (n_tty hands out at most 4 KiB). So 'end' can come early; the rest is read here,
   * synchronously (the descriptor is closed right after 'end'), until the kernel says EIO:
   * nothing left, nobody holds the terminal.
   */
  #drainAfterHangUp(fd: number): void {
    for (;;) {
      const chunk = Buffer.allocUnsafe(DRAIN_CHUNK);
      let n: number;
      try {
        n = readSync(fd, chunk);
      } catch {
        return; // EIO: drained; EAGAIN: reopened by someone, not ours to wait for
      }
      if (n === 0) return;
      this.observer.output(FrameType.Stdout, chunk.subarray(0, n));
    }
  }

  #terminalClosed(): void {
    if (this.#pty === null) return;
    this.#pty = null;
    this.#input?.close();
    this.observer.outputEnded();
  }
}
