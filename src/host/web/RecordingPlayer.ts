import { Terminal } from '@xterm/xterm';
import { ApiFailure, getText } from './api.js';
import { type Cast, CastFormatError, parseCast, parseSize } from './castFormat.js';
import { bufferLines } from './bufferLines.js';
import { h } from './dom.js';
import { recordingApiPath } from './routes.js';
import { signInForm } from './SignInForm.js';
import { forgetToken, savedToken } from './token.js';

export type PlayerState = 'signing-in' | 'loading' | 'playing' | 'paused' | 'ended' | 'failed';

/** Read-only view of the player for tests and curious users (`window.hypemanPlayer`). */
export interface PlayerHandle {
  state(): PlayerState;
  /** The terminal's buffer, one string per line, right-trimmed. */
  lines(): string[];
  size(): { rows: number; cols: number };
  /** Seconds played, and the recording's length (idle gaps shortened). */
  position(): { at: number; duration: number };
}

const SPEEDS = ['0.5', '1', '2', '4', '8', '16'];

/**
 * `/instances/{id}/sessions/{sid}/player`: plays the session's recording (GET …/recording) in
 * xterm.js at the recorded terminal size, following its resizes; play/pause, speed, restart.
 */
export class RecordingPlayer {
  readonly #main: HTMLElement;
  readonly #status: HTMLElement;
  readonly #base: string;
  readonly #instance: string;
  readonly #session: string;
  readonly #term: Terminal;
  readonly #playPause = h('button', { id: 'play-pause', type: 'button' }, 'Pause');
  readonly #speed = h('select', { id: 'speed', 'aria-label': 'speed' }, ...SPEEDS.map((s) => h('option', { value: s }, `${s}×`)));
  readonly #restart = h('button', { id: 'replay', type: 'button' }, 'Restart');
  readonly #clock = h('span', { id: 'position', class: 'mono' });
  #cast: Cast | null = null;
  #state: PlayerState = 'loading';
  /** The next event to play. */
  #next = 0;
  /** Where playing (re)started: the position, and performance.now() then. */
  #fromPosition = 0;
  #fromTime = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(main: HTMLElement, status: HTMLElement, base: string, instance: string, session: string) {
    this.#main = main;
    this.#status = status;
    this.#base = base;
    this.#instance = instance;
    this.#session = session;
    this.#term = new Terminal({
      fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      lineHeight: 1.15,
      scrollback: 5000,
      disableStdin: true,
      theme: { background: '#101418', foreground: '#d8dee4' },
    });
    this.#speed.value = '1';
    this.#playPause.addEventListener('click', () => (this.#state === 'playing' ? this.pause() : this.play()));
    this.#speed.addEventListener('change', () => this.#rebase());
    this.#restart.addEventListener('click', () => {
      this.#rewind();
      this.play();
    });
  }

  get handle(): PlayerHandle {
    return {
      state: () => this.#state,
      lines: () => bufferLines(this.#term),
      size: () => ({ rows: this.#term.rows, cols: this.#term.cols }),
      position: () => ({ at: this.#position(), duration: this.#cast?.duration ?? 0 }),
    };
  }

  async load(): Promise<void> {
    const token = savedToken();
    if (!token) {
      this.#setState('signing-in', 'not signed in');
      this.#main.replaceChildren(signInForm(`Sign in to play session ${this.#session}.`, () => void this.load()));
      return;
    }
    this.#setState('loading', 'loading the recording…');
    try {
      this.#cast = parseCast(await getText(recordingApiPath(this.#base, this.#instance, this.#session), token));
    } catch (err) {
      const failure =
        err instanceof ApiFailure ? err : new ApiFailure(0, err instanceof CastFormatError || err instanceof SyntaxError ? 'INVALID_RECORDING' : 'INTERNAL_ERROR', (err as Error).message);
      if (failure.status === 401) {
        forgetToken();
        this.#setState('signing-in', 'not signed in');
        this.#main.replaceChildren(signInForm(`${failure.code}: ${failure.message}`, () => void this.load()));
        return;
      }
      this.#main.replaceChildren(h('p', { class: 'panel error', id: 'message' }, `${failure.code}: ${failure.message}`));
      this.#setState('failed', failure.code);
      return;
    }
    const container = h('div', { id: 'terminal' });
    this.#main.replaceChildren(h('div', { id: 'player-controls' }, this.#playPause, this.#speed, this.#restart, this.#clock), container);
    this.#term.open(container);
    this.#rewind();
    this.play();
  }

  play(): void {
    if (!this.#cast) return;
    if (this.#next >= this.#cast.events.length) this.#rewind();
    this.#fromTime = performance.now();
    this.#setState('playing', 'playing');
    this.#tick();
  }

  pause(): void {
    if (this.#state !== 'playing') return;
    this.#fromPosition = this.#position();
    this.#stopTimer();
    this.#setState('paused', 'paused');
  }

  #position(): number {
    const played = this.#state === 'playing' ? ((performance.now() - this.#fromTime) / 1000) * Number(this.#speed.value) : 0;
    return Math.min(this.#fromPosition + played, this.#cast?.duration ?? 0);
  }

  /** The speed changed: go on from where playing is now. */
  #rebase(): void {
    if (this.#state !== 'playing') return;
    this.#fromPosition = this.#position();
    this.#fromTime = performance.now();
    this.#stopTimer();
    this.#tick();
  }

  #rewind(): void {
    this.#stopTimer();
    const { cols, rows } = this.#cast!.header.term;
    this.#term.reset();
    this.#term.resize(cols, rows);
    this.#next = 0;
    this.#fromPosition = 0;
  }

  /** Plays every event due by now (output joined into one write), then waits for the next. */
  #tick(): void {
    this.#timer = null;
    const cast = this.#cast!;
    const at = this.#position();
    let output = '';
    while (this.#next < cast.events.length && cast.events[this.#next].time <= at) {
      const { code, data } = cast.events[this.#next++];
      if (code === 'o') output += data;
      else if (code === 'r') {
        const size = parseSize(data);
        if (output) this.#term.write(output);
        output = '';
        if (size) this.#term.resize(size.cols, size.rows);
      } else if (code === 'x') this.#status.title = `the command exited with ${data}`;
    }
    if (output) this.#term.write(output);
    this.#clock.textContent = `${at.toFixed(1)} s / ${cast.duration.toFixed(1)} s`;
    if (this.#next >= cast.events.length) {
      this.#fromPosition = cast.duration;
      this.#setState('ended', 'ended');
      return;
    }
    const wait = ((cast.events[this.#next].time - at) / Number(this.#speed.value)) * 1000;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, Math.min(wait, 250)));
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #setState(state: PlayerState, text: string): void {
    this.#state = state;
    this.#status.dataset.state = state;
    this.#status.textContent = text;
    this.#playPause.textContent = state === 'playing' ? 'Pause' : 'Play';
  }
}
