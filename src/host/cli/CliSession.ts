import { finished } from 'node:stream/promises';
import { execThroughApi } from '../client/execThroughApi.js';
import type { ExecSession } from '../client/ExecSession.js';
import type { CliOptions, LocalStreams } from './CliOptions.js';
import { describeFailure } from './describeFailure.js';
import { CliExit } from './CliExit.js';
import { TerminalGuard } from './TerminalGuard.js';

/**
 * After SIGTERM or a second Ctrl-C has been forwarded, the command has this long to end by
 * itself (its own exit status is then the CLI's) before the session is hung up, so that
 * the CLI always ends within a second whatever the remote command does with the signal.
 */
export const HANG_UP_GRACE_MS = 500;

/**
 * Runs one exec session for the CLI: local stdin to the command, its output to the local
 * stdout and stderr (with backpressure), signals forwarded, the terminal raw and resized in
 * a TTY session and restored on every way out. Resolves with the CLI's exit status; never
 * rejects (a failure is one line on stderr and status 255).
 */
export async function runCliSession(options: CliOptions, local: LocalStreams = process): Promise<number> {
  const run = new CliRun(options, local);
  try {
    return await run.execute();
  } finally {
    run.dispose();
  }
}

class CliRun {
  readonly #options: CliOptions;
  readonly #local: LocalStreams;
  readonly #guard: TerminalGuard | undefined;
  readonly #connecting = new AbortController();
  #session: ExecSession | undefined;
  /** Set when this side decided to end the session; it wins over how the session then ends. */
  #giveUpStatus: number | undefined;
  #interrupted = false;
  /** A signal forwarded that ends the session unless the command ends first. */
  #hangUpTimer: NodeJS.Timeout | undefined;
  readonly #handlers: Array<[NodeJS.Signals, () => void]>;
  readonly #onResize = () => this.#session?.resize(this.#window()!);

  constructor(options: CliOptions, local: LocalStreams) {
    this.#options = options;
    this.#local = local;
    this.#guard = options.tty ? new TerminalGuard(local.stdin) : undefined;
    this.#handlers = [
      ['SIGINT', () => this.#interrupt()],
      ['SIGTERM', () => this.#forwardThenHangUp('SIGTERM', CliExit.TERMINATED)],
      ['SIGQUIT', () => this.#forward('SIGQUIT', CliExit.QUIT)],
      // Hanging the session up is what delivers SIGHUP: the agent sends it to the command.
      ['SIGHUP', () => this.#giveUp(CliExit.HANGUP)],
    ];
    for (const [signal, handler] of this.#handlers) process.on(signal, handler);
  }

  async execute(): Promise<number> {
    const o = this.#options;
    try {
      const session = await execThroughApi(
        { apiUrl: o.apiUrl, instance: o.instance, token: o.token || undefined },
        {
          argv: o.command,
          env: o.env,
          cwd: o.workdir,
          user: o.user,
          tty: o.tty,
          timeoutSeconds: o.timeoutSeconds,
          window: o.tty ? this.#window() : undefined,
          waitForAgentSeconds: o.waitForAgentSeconds,
          keepAliveMs: o.keepAliveSeconds * 1000,
          signal: this.#connecting.signal,
        },
      );
      this.#session = session;
      this.#attach(session);
      const status = await session.exit;
      // The command ended by itself: a hang-up still pending would only misreport it.
      clearTimeout(this.#hangUpTimer);
      await this.#outputWritten(session);
      return this.#giveUpStatus ?? status.code;
    } catch (err) {
      if (this.#giveUpStatus !== undefined) return this.#giveUpStatus;
      this.#guard?.restore();
      this.#local.stderr.write(`hypeman-exec: ${await describeFailure(err, o)}\n`);
      return CliExit.FAILURE;
    }
  }

  dispose(): void {
    clearTimeout(this.#hangUpTimer);
    this.#guard?.restore();
    for (const [signal, handler] of this.#handlers) process.removeListener(signal, handler);
    this.#local.stdout.removeListener('resize', this.#onResize);
    this.#local.stdin.unpipe();
  }

  #attach(session: ExecSession): void {
    const { stdin, stdout, stderr } = this.#local;
    stdout.on('error', (err: NodeJS.ErrnoException) => {
      // Nobody reads our output any more: stop the command as a local pipeline would.
      if (err.code === 'EPIPE') this.#giveUp(CliExit.BROKEN_PIPE);
    });
    // A closed local stderr loses only the command's diagnostics: drop them, carry on.
    stderr.on('error', () => {
      session.stderr.unpipe(stderr);
      session.stderr.resume();
    });
    session.stdout.pipe(stdout, { end: false });
    session.stderr.pipe(stderr, { end: false });

    if (this.#options.tty) {
      this.#guard!.enterRawMode();
      stdout.on('resize', this.#onResize);
    }
    if (this.#options.stdin) {
      // A local stdin that fails (a terminal gone) is the end of input.
      stdin.on('error', () => session.closeStdin());
      stdin.pipe(session.stdin);
    } else {
      session.closeStdin();
    }
  }

  /** Resolves once everything the command wrote has been handed to the local streams. */
  async #outputWritten(session: ExecSession): Promise<void> {
    await Promise.all([session.stdout, session.stderr].map((s) => finished(s).catch(() => undefined)));
  }

  #window(): { rows: number; cols: number } | undefined {
    const out = this.#local.stdout;
    return out.isTTY && out.rows > 0 && out.columns > 0 ? { rows: out.rows, cols: out.columns } : undefined;
  }

  /** Ctrl-C: forwarded; a second one (at any time) also ends the CLI, as SIGTERM does. */
  #interrupt(): void {
    if (!this.#interrupted && this.#session) {
      this.#interrupted = true;
      this.#session.signal('SIGINT');
      return;
    }
    this.#forwardThenHangUp('SIGINT', CliExit.INTERRUPTED);
  }

  #forward(signal: NodeJS.Signals, statusIfNotStarted: number): void {
    if (this.#session) this.#session.signal(signal);
    else this.#giveUp(statusIfNotStarted);
  }

  /**
   * Forwards `signal`, then hangs the session up and exits with `status` unless the command
   * ends within HANG_UP_GRACE_MS. Another such signal meanwhile hangs up at once.
   */
  #forwardThenHangUp(signal: NodeJS.Signals, status: number): void {
    if (!this.#session || this.#hangUpTimer !== undefined) {
      this.#giveUp(status);
      return;
    }
    this.#session.signal(signal);
    this.#hangUpTimer = setTimeout(() => this.#giveUp(status), HANG_UP_GRACE_MS);
  }

  /** Ends the session from this side (the command is hung up) and exits with `status`. */
  #giveUp(status: number): void {
    this.#giveUpStatus ??= status;
    if (this.#session) this.#session.abort(new Error(`hypeman-exec gave up (exit ${status})`));
    else this.#connecting.abort();
  }
}
