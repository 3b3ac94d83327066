import { SignalNumber } from '../../wire/index.js';
import type { Command, CommandObserver } from './Command.js';
import type { HelperReport } from './HelperReports.js';
import { signalGroup } from './ProcessGroups.js';

/** Between SIGHUP and SIGKILL when the client is gone (spec §9.9). */
export const HANGUP_GRACE_MS = 5_000;

/**
 * What every command shares, however it was started: its reports (started, failed, exit
 * status) in order, signals to its process group, the hang-up sequence, and knowing when
 * everything is over. Subclasses start the process, move the bytes, feed report(), and call
 * processGone() once the process that held the command's descriptors is reaped and every
 * descriptor closed.
 */
export abstract class ProcessCommand implements Command {
  protected readonly observer: CommandObserver;
  /** The command's pid, which is also its process group id; 0 until it started. */
  protected pid = 0;
  #gone: string | null = null;
  #outcome: 'pending' | 'started' | 'failed' = 'pending';
  #exitReported = false;
  #releaseRequested = false;
  #abandoned = false;
  #killTimer: NodeJS.Timeout | null = null;
  #finished = false;

  protected constructor(observer: CommandObserver) {
    this.observer = observer;
  }

  abstract writeStdin(data: Uint8Array): boolean;
  abstract closeStdin(): void;
  abstract resize(rows: number, cols: number): void;
  abstract pauseOutput(): void;
  abstract resumeOutput(): void;
  abstract closeOutput(): void;

  /** A terminal command: the helper found everything typed read after StdinClose. */
  protected typeEof(): void {}

  /** The command started and has not been reported as ended. */
  protected get running(): boolean {
    return this.#outcome === 'started' && !this.#exitReported;
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
    if (this.running) this.#killTimer = setTimeout(() => this.kill(), HANGUP_GRACE_MS);
    this.release();
  }

  /** SIGHUP (and SIGCONT, so that a stopped job sees it) to the command's groups. */
  protected hangUp(): void {
    if (!this.running) return;
    for (const pgid of new Set([this.pid, ...this.signalTargets()])) {
      signalGroup(pgid, SignalNumber.SIGHUP);
      signalGroup(pgid, SignalNumber.SIGCONT);
    }
  }

  release(): void {
    this.#releaseRequested = true;
    // A helper whose command still runs is released only once it has reported the exit:
    // it is the one that reaps the command.
    if (!this.running) this.releaseProcess();
  }

  /** The session is done and the command is not running: a helper may exit now. */
  protected releaseProcess(): void {}

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
        if (this.running) this.typeEof();
        return;
      case 'exited':
      case 'signaled':
        if (!this.running) return;
        this.#exitReported = true;
        if (this.#killTimer !== null) clearTimeout(this.#killTimer);
        this.observer.exited(report);
        if (this.#releaseRequested) this.release();
        return;
    }
  }

  /** Subclasses: the process is reaped and its descriptors closed; `description` says how it ended. */
  protected processGone(description: string): void {
    this.#gone = description;
    this.maybeFinished();
  }

  /** Subclasses: nothing could be started at all. */
  protected spawnFailed(error: Error): void {
    this.#outcome = 'failed';
    this.observer.failed(error);
    this.processGone('not spawned');
  }

  /** Subclasses: something besides the process still holds the end back (a helper's report channel). */
  protected finishHeld(): boolean {
    return false;
  }

  protected maybeFinished(): void {
    if (this.#finished || this.#gone === null || this.finishHeld()) return;
    this.#finished = true;
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (this.#outcome === 'pending') {
      this.#outcome = 'failed';
      this.observer.failed(new Error(`the exec helper ended (${this.#gone}) before it started the command; see the agent's log`));
    } else if (this.running) {
      this.#exitReported = true;
      this.observer.exited(null);
    }
    this.observer.finished();
  }
}
