import { finished } from 'node:stream/promises';
import { attachThroughApi, execThroughApi } from '../client/execThroughApi.js';
import type { ExecSession, NoticeEvent, ReconnectingEvent, ResumedEvent } from '../client/ExecSession.js';
import type { AttachCliOptions, CliOptions, LocalStreams } from './CliOptions.js';
import { describeFailure } from './describeFailure.js';
import { CliExit } from './CliExit.js';
import { TerminalGuard } from './TerminalGuard.js';

/**
 * After SIGTERM or a second Ctrl-C has been forwarded, the command has this long to end by
 * itself (its own exit status is then the CLI's) before the session is hung up, so that
 * the CLI always ends within a second whatever the remote command does with the signal.
 */
export const HANG_UP_GRACE_MS = 500;

/** A lost connection is mentioned on stderr only when reconnecting takes longer than this. */
export const RECONNECT_NOTICE_MS = 1000;

/**
 * Runs one exec session for the CLI, or attaches to one: local stdin to the command, its
 * output to the local stdout and stderr (with backpressure), signals forwarded, the
 * terminal raw and resized in a TTY session and restored on every way out; a lost
 * connection reconnected (said on stderr when that takes over a second). With --detach:
 * the session's id on stdout, and the command left running. Resolves with the CLI's exit
 * status; never rejects (a failure is one line on stderr and status 255).
 */
export async function runCliSession(options: CliOptions | AttachCliOptions, local: LocalStreams = process): Promise<number> {
  const run = new CliRun(options, local);
  try {
    return await run.execute();
  } finally {
    run.dispose();
  }
}

class CliRun {
  readonly #options: CliOptions | AttachCliOptions;
  readonly #local: LocalStreams;
  readonly #guard: TerminalGuard;
  readonly #connecting = new AbortController();
  #session: ExecSession | undefined;
  /** Set when this side decided to end the session; it wins over how the session then ends. */
  #giveUpStatus: number | undefined;
  #interrupted = false;
  /** A signal forwarded that ends the session unless the command ends first. */
  #hangUpTimer: NodeJS.Timeout | undefined;
  /** This client observes the session (attach --read-only, or taken over): keys stay here, Ctrl-C leaves. */
  #watching = false;
  readonly #handlers: Array<[NodeJS.Signals, () => void]>;
  readonly #onResize = () => this.#session?.resize(this.#window()!);

  constructor(options: CliOptions | AttachCliOptions, local: LocalStreams) {
    this.#options = options;
    this.#local = local;
    this.#guard = new TerminalGuard(local.stdin);
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
      const session = await this.#open();
      this.#session = session;
      this.#watch(session);
      if ('detach' in o && o.detach) return await this.#leaveRunning(session);
      // An attached session says whether it has a terminal in Resumed.
      const tty = 'attach' in o ? (await session.started).tty : o.tty;
      this.#attach(session, tty);
      if ('attach' in o) await this.#attached(session, tty);
      const status = await session.exit;
      // The command ended by itself: a hang-up still pending would only misreport it.
      clearTimeout(this.#hangUpTimer);
      await this.#outputWritten(session);
      return this.#giveUpStatus ?? status.code;
    } catch (err) {
      if (this.#giveUpStatus !== undefined) return this.#giveUpStatus;
      this.#guard.restore();
      this.#local.stderr.write(`hypeman-exec: ${await describeFailure(err, o)}\n`);
      return CliExit.FAILURE;
    }
  }

  /** The session: a new one, or (attach) one that lingers. */
  #open(): Promise<ExecSession> {
    const o = this.#options;
    const target = { apiUrl: o.apiUrl, instance: o.instance, token: o.token || undefined };
    if ('attach' in o) {
      return attachThroughApi(target, o.sessionId, {
        keepAliveMs: o.keepAliveSeconds * 1000,
        signal: this.#connecting.signal,
        readOnly: o.readOnly,
        replay: o.replay,
        takeOver: o.takeOver,
      });
    }
    return execThroughApi(target, {
      argv: o.command,
      env: o.env,
      cwd: o.workdir,
      user: o.user,
      tty: o.tty,
      timeoutSeconds: o.timeoutSeconds,
      window: o.tty ? this.#window() : undefined,
      lingerSeconds: o.lingerSeconds,
      overflow: o.overflow,
      waitForAgentSeconds: o.waitForAgentSeconds,
      keepAliveMs: o.keepAliveSeconds * 1000,
      signal: this.#connecting.signal,
    });
  }

  /** --detach: the id on stdout, the command left running for its linger. */
  async #leaveRunning(session: ExecSession): Promise<number> {
    const { sessionId, lingerSeconds } = await session.started;
    if (lingerSeconds === 0) {
      session.close();
      this.#say(`the agent of ${this.#options.instance} keeps no sessions without a connection (its --max-linger is 0, or it speaks protocol version 1 only): the command was hung up`);
      return CliExit.FAILURE;
    }
    this.#local.stdout.write(`${sessionId}\n`);
    session.detach();
    return 0;
  }

  /** An attached session: its terminal takes this one's size (a writer's); output it no longer holds is mentioned. */
  async #attached(session: ExecSession, tty: boolean): Promise<void> {
    const { stdoutLost, stderrLost, observer } = await session.started;
    if (observer) {
      this.#say(`watching session ${session.id} read-only: your keys go nowhere; Ctrl-C leaves (the session goes on)`);
      return;
    }
    const window = this.#window();
    if (tty && window) session.resize(window);
    if (stdoutLost + stderrLost > 0) this.#say(`the agent no longer holds the first ${stdoutLost + stderrLost} bytes of this session's output (acknowledged by the client attached before, or dropped): it goes on from there`);
  }

  /** Tells the user about a lost connection, once it has taken longer than RECONNECT_NOTICE_MS. */
  #watch(session: ExecSession): void {
    let notice: NodeJS.Timeout | undefined;
    let said = false;
    session.on('reconnecting', (e: ReconnectingEvent) => {
      if (e.attempt !== 1) return;
      notice = setTimeout(() => {
        said = true;
        this.#say(`lost the connection to the API server (${e.error.message}); reconnecting, the command runs on for up to ${session.lingerSeconds} s…`);
      }, Math.max(0, RECONNECT_NOTICE_MS - e.downtimeMs));
    });
    session.on('resumed', (e: ResumedEvent) => {
      clearTimeout(notice);
      const lost = e.stdoutLost + e.stderrLost;
      if (said) this.#say(`reconnected after ${(e.downtimeMs / 1000).toFixed(1)} s${lost > 0 ? '' : '; nothing was lost'}`);
      said = false;
      if (lost > 0) this.#say(`${lost} bytes of output were dropped while disconnected (--overflow drop)`);
    });
    session.on('notice', (e: NoticeEvent) => {
      if (e.kind === 'observing') this.#startWatching(session, e.message);
      else if (!this.#watching) this.#say(e.message);
    });
    session.once('downgraded', () => this.#say(`the agent of ${this.#options.instance} speaks protocol version 1 only: this session cannot survive a dropped connection`));
    void session.exit.finally(() => clearTimeout(notice)).catch(() => undefined);
  }

  /** Taken over (§10.11): this terminal is given back, keys stay here, and Ctrl-C leaves. */
  #startWatching(session: ExecSession, why: string): void {
    if (this.#watching) return;
    this.#watching = true;
    this.#guard.restore();
    this.#local.stdin.unpipe(session.stdin);
    this.#local.stdin.pause();
    this.#local.stdout.removeListener('resize', this.#onResize);
    this.#say(`${why}; Ctrl-C leaves`);
  }

  #say(text: string): void {
    this.#local.stderr.write(`hypeman-exec: ${text}\n`);
  }

  dispose(): void {
    clearTimeout(this.#hangUpTimer);
    this.#guard.restore();
    for (const [signal, handler] of this.#handlers) process.removeListener(signal, handler);
    this.#local.stdout.removeListener('resize', this.#onResize);
    this.#local.stdin.unpipe();
  }

  #attach(session: ExecSession, tty: boolean): void {
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

    if ('attach' in this.#options && this.#options.readOnly) {
      // Watching: the terminal stays as it is, so Ctrl-C is a signal here and leaves.
      this.#watching = true;
      return;
    }
    if (tty) {
      this.#guard.enterRawMode();
      stdout.on('resize', this.#onResize);
    }
    if (this.#options.stdin) {
      // A local stdin that fails (a terminal gone) is the end of input.
      stdin.on('error', () => session.closeStdin());
      stdin.pipe(session.stdin);
    } else if (!('attach' in this.#options)) {
      // attach --no-stdin leaves the session's stdin as it is.
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

  /** Ctrl-C: forwarded; a second one (at any time) also ends the CLI, as SIGTERM does. A watcher leaves. */
  #interrupt(): void {
    if (this.#watching && this.#session) {
      this.#giveUpStatus ??= 0;
      this.#session.close();
      return;
    }
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
