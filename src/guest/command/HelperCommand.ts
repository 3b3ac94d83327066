import type { CommandObserver } from './Command.js';
import type { HelperChannel, HelperChannelObserver, HelperReportServer } from './HelperReports.js';
import { ProcessCommand } from './ProcessCommand.js';

/**
 * A command started through the exec helper (spawn-helper.c), which reports over the
 * agent's report socket: the channel's life cycle on top of ProcessCommand's. Subclasses
 * spawn the helper with helperEnv and call helperExited() when the helper process is reaped
 * and its stdio closed.
 */
export abstract class HelperCommand extends ProcessCommand implements HelperChannelObserver {
  /** HYPEMAN_EXEC_REPORT and HYPEMAN_EXEC_TOKEN, to add to the helper's environment. */
  protected readonly helperEnv: Record<string, string>;
  #channel: HelperChannel | null = null;
  #channelClosed = false;
  #cancelExpect: () => void;

  protected constructor(observer: CommandObserver, reports: HelperReportServer) {
    super(observer);
    const { env, cancel } = reports.expect(this);
    this.helperEnv = env;
    this.#cancelExpect = cancel;
  }

  /**
   * Tells the helper that the client closed the input, so that it asks for end of file
   * (typeEof) whenever the terminal's input has been read. False when no helper watches:
   * the command has not started or has already exited.
   */
  protected announceStdinClosed(): boolean {
    if (this.#channel === null || !this.running) return false;
    this.#channel.stdinClosed();
    return true;
  }

  protected override releaseProcess(): void {
    this.#channel?.release();
  }

  connected(channel: HelperChannel): void {
    this.#channel = channel;
  }

  closed(): void {
    this.#channelClosed = true;
    this.maybeFinished();
  }

  /** Subclasses: the helper process was reaped and its stdio is closed. */
  protected helperExited(description: string): void {
    this.#cancelExpect();
    this.processGone(description);
  }

  protected override spawnFailed(error: Error): void {
    this.#cancelExpect();
    super.spawnFailed(error);
  }

  protected override finishHeld(): boolean {
    return this.#channel !== null && !this.#channelClosed;
  }
}
