import type { ReadStream } from 'node:tty';

/**
 * Puts the local terminal in raw mode for a TTY session and guarantees it is restored on
 * every way out: normal end, error, signal, uncaught exception, process.exit.
 */
export class TerminalGuard {
  readonly #input: ReadStream;
  #raw = false;
  readonly #restoreOnExit = () => this.restore();

  constructor(input: ReadStream) {
    this.#input = input;
  }

  enterRawMode(): void {
    if (this.#raw || !this.#input.isTTY) return;
    this.#input.setRawMode(true);
    this.#raw = true;
    process.once('exit', this.#restoreOnExit);
  }

  restore(): void {
    if (!this.#raw) return;
    this.#raw = false;
    process.removeListener('exit', this.#restoreOnExit);
    try {
      this.#input.setRawMode(false);
    } catch {
      // The terminal is already gone (hangup): nothing left to restore.
    }
  }
}
