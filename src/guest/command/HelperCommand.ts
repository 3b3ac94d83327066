import { SignalNumber } from '../../wire/index.js';
import type { Command, CommandObserver } from './Command.js';
import type { HelperChannel, HelperChannelObserver, HelperReport, HelperReportServer } from './HelperReports.js';
import { signalGroup } from './ProcessGroups.js';

/** Between SIGHUP and SIGKILL when the client is gone (spec §9.9). */
export const HANGUP_GRACE_MS = 5_000;

/**
 * What pipe and terminal commands share: the helper's reports (started, failed, exit
 * status), signals to the command's process group, the hang-up sequence, releasing the
 * helper, and knowing when everything is over. Subclasses spawn the helper, move the
 * bytes, and call helperExited() when the helper process is reaped and its stdio closed.
 */
export abstract class HelperCommand implements Command, HelperChannelObserver {
  protected readonly observer: CommandObserver;
  /** HYPEMAN_EXEC_REPORT and HYPEMAN_EXEC_TOKEN, to add to the helper's environment. */
  protected readonly helperEnv: Record<string, string>;
  /** The command's pid, which is also its process group id; 0 until it started. */
  protected pid = 0;
  #channel: HelperChannel | null = null;
  #channelClosed = false;
  #helperExit: string | null = null;
  #cancelExpect: () => void;
  #outcome: 'pending' | 'started' | 'failed' = 'pending';
  #exitReported = false;
  #releaseRequested = false;
  #abandoned = false;
  #killTimer: NodeJS.Timeout | null = null;
  #finished = false;

  protected constructor(observer: CommandObserver, reports: HelperReportServer) {
    this.observer = observer;
    const { env, cancel } = reports.expect(this);
    this.helperEnv = env;
    this.#cancelExpect = cancel;
  }

  abstract writeStdin(data: Uint8Array): boolean;
  abstract closeStdin(): void;
  abstract resize(rows: number, cols: number): void;
  abstract pauseOutput(): void;
  abstract resumeOutput(): void;
  abstract closeOutput(): void;

  /** A terminal command: the helper found everything typed read after StdinClose. */
  protected typeEof(): void {}

  /**
   * Tells the helper that the client closed the input, so that it asks for end of file
   * (typeEof) whenever the terminal's input has been read. False when no helper watches:
   * the command has not started or has already exited.
   */
  protected announceStdinClosed(): boolean {
    if (this.#channel === null || this.#outcome !== 'started' || this.#exitReported) return false;
    this.#channel.stdinClosed();
    return true;
  }

  /** Process groups a signal from the client goes to. */
  protected signalTargets(): number[] {
    return [this.pid];
  }

  signal(signal: number): void {
    if (this.#exitReported) return; // spec §4.5: ignored after the command exited
    for (const pgid of this.signalTargets()) signalGroup(pgid, signal);
  }

  kill(): void {
    if (this.#exitReported) return;
    for (const pgid of new Set([this.pid, ...this.signalTargets()])) signalGroup(pgid, SignalNumber.SIGKILL);
  }

  abandon(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.closeOutput();
    this.closeStdin();
    this.hangUp();
    if (this.#outcome === 'started' && !this.#exitReported) {
      this.#killTimer = setTimeout(() => this.kill(), HANGUP_GRACE_MS);
    }
    this.release();
  }

  /** SIGHUP (and SIGCONT, so that a stopped job sees it) to the command's groups. */
  protected hangUp(): void {
    if (this.#outcome !== 'started' || this.#exitReported) return;
    for (const pgid of new Set([this.pid, ...this.signalTargets()])) {
      signalGroup(pgid, SignalNumber.SIGHUP);
      signalGroup(pgid, SignalNumber.SIGCONT);
    }
  }

  release(): void {
    this.#releaseRequested = true;
    // A helper whose command still runs is released only once it has reported the exit:
    // it is the one that reaps the command.
    if (this.#channel !== null && (this.#outcome !== 'started' || this.#exitReported)) this.#channel.release();
  }

  connected(channel: HelperChannel): void {
    this.#channel = channel;
  }

  report(report: HelperReport): void {
    switch (report.kind) {
      case 'started':
        if (this.#outcome !== 'pending') return;
        this.#outcome = 'started';
        this.pid = report.pid;
        this.observer.started(report.pid);
        if (this.#abandoned) {
          this.hangUp();
          this.#killTimer = setTimeout(() => this.kill(), HANGUP_GRACE_MS);
        }
        return;
      case 'failed':
        if (this.#outcome !== 'pending') return;
        this.#outcome = 'failed';
        this.observer.failed(report);
        if (this.#releaseRequested) this.release();
        return;
      case 'type-eof':
        if (this.#outcome === 'started' && !this.#exitReported) this.typeEof();
        return;
      case 'exited':
      case 'signaled':
        if (this.#outcome !== 'started' || this.#exitReported) return;
        this.#exitReported = true;
        if (this.#killTimer !== null) clearTimeout(this.#killTimer);
        this.observer.exited(report);
        if (this.#releaseRequested) this.release();
        return;
    }
  }

  closed(): void {
    this.#channelClosed = true;
    this.#maybeFinished();
  }

  /** Subclasses: the helper process was reaped and its stdio is closed. */
  protected helperExited(description: string): void {
    this.#helperExit = description;
    this.#cancelExpect();
    this.#maybeFinished();
  }

  /** Subclasses: the helper could not even be spawned. */
  protected spawnFailed(error: Error): void {
    this.#outcome = 'failed';
    this.observer.failed(error);
    this.helperExited('not spawned');
  }

  #maybeFinished(): void {
    if (this.#finished || this.#helperExit === null || (this.#channel !== null && !this.#channelClosed)) return;
    this.#finished = true;
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (this.#outcome === 'pending') {
      this.#outcome = 'failed';
      this.observer.failed(new Error(`the exec helper ended (${this.#helperExit}) before it started the command; see the agent's log`));
    } else if (this.#outcome === 'started' && !this.#exitReported) {
      this.#exitReported = true;
      this.observer.exited(null);
    }
    this.observer.finished();
  }
}
