import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { WEBSOCKET_SUBPROTOCOL } from './wire.js';
import { ApiFailure, type InstanceInfo, getJson } from './api.js';
import { bufferLines } from './bufferLines.js';
import { h } from './dom.js';
import { ChannelRefusedError } from './FrameChannel.js';
import { openFrameChannel } from './openFrameChannel.js';
import { execSocketUrl, instanceApiPath } from './routes.js';
import { type SessionEnd, describeEnd } from './sessionEnd.js';
import { signInForm } from './SignInForm.js';
import { type SessionStats, TerminalSession } from './TerminalSession.js';
import { forgetToken, savedToken } from './token.js';

/** What the status line shows; `data-state` on #status carries it for styles and tests. */
export type PageState = 'signing-in' | 'checking' | 'connecting' | 'running' | 'reconnecting' | 'watching' | 'exited' | 'failed' | 'disconnected';

export interface StatusBar {
  status: HTMLElement;
  restart: HTMLButtonElement;
}

/** Read-only view of the page for tests and curious users (`window.hypemanTerminal`). */
export interface TerminalHandle {
  state(): PageState;
  /** The terminal's buffer (scrollback and screen), one string per line, right-trimmed. */
  lines(): string[];
  size(): { rows: number; cols: number };
  stats(): SessionStats | null;
  /** The current session's id, as GET /instances/{id}/sessions lists it. */
  sessionId(): string | null;
}

/**
 * How long a shell waits for this page after its connection is lost (spec §10: a laptop
 * asleep, a network change, a proxy restarted); the agent may cap it (--max-linger).
 * Closing the tab or Start again hang it up at once.
 */
export const PAGE_LINGER_SECONDS = 300;

const BROWSER_REFUSAL =
  'the server refused the WebSocket, and browsers do not tell a page why. If this page is not on the ' +
  "server's own origin, the server needs it in --allowed-origins; a reverse proxy must pass the WebSocket upgrade; " +
  'the server may also be at its session limits';

/**
 * `/instances/{id}/terminal`: a shell in the instance, in xterm.js fitted to the window. Checks
 * the token and the instance first with GET /instances/{id}, so that a refusal shows the
 * server's own code and message (a refused WebSocket upgrade tells a page nothing), then opens
 * the exec WebSocket. The session is durable (spec §10): when the connection is lost, the page
 * reconnects and resumes it, the same shell with nothing lost, for as long as it lingers.
 * With `?watch=<session id>` it watches that session instead, read-only (spec §10.11):
 * output only, keys go nowhere; a watch ends with its connection.
 */
export class TerminalPage {
  readonly #main: HTMLElement;
  readonly #bar: StatusBar;
  readonly #base: string;
  readonly #instance: string;
  /** Watch mode (spec §10.11): the session observed, read-only; undefined: a shell of its own. */
  readonly #watch: string | undefined;
  readonly #container: HTMLElement;
  readonly #term: Terminal;
  readonly #fit = new FitAddon();
  #session: TerminalSession | null = null;
  #state: PageState = 'checking';

  constructor(main: HTMLElement, bar: StatusBar, base: string, instance: string, watch?: string) {
    this.#main = main;
    this.#bar = bar;
    this.#base = base;
    this.#instance = instance;
    this.#watch = watch;
    this.#container = h('div', { id: 'terminal' });
    this.#term = new Terminal({
      cursorBlink: true,
      fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      // At 1.0 the DOM renderer clips glyphs below the baseline: `_` vanished in DejaVu Sans Mono.
      lineHeight: 1.15,
      scrollback: 5000,
      theme: { background: '#101418', foreground: '#d8dee4' },
    });
    this.#term.loadAddon(this.#fit);
    // Watching, keys go nowhere and the terminal's size is the writer's business.
    this.#term.onData((data) => (watch ? undefined : this.#session?.input(data)));
    this.#term.onResize(({ rows, cols }) => (watch ? undefined : this.#session?.resize(rows, cols)));
    bar.restart.addEventListener('click', () => void this.begin());
    addEventListener('pagehide', () => this.#session?.close());
  }

  get handle(): TerminalHandle {
    return {
      state: () => this.#state,
      lines: () => bufferLines(this.#term),
      size: () => ({ rows: this.#term.rows, cols: this.#term.cols }),
      stats: () => (this.#session ? { ...this.#session.stats } : null),
      sessionId: () => this.#session?.sessionId ?? null,
    };
  }

  /** Checks access, then starts a session (again, after an end). */
  async begin(): Promise<void> {
    this.#session?.close();
    this.#session = null;
    const token = savedToken();
    if (!token) {
      this.#signIn(this.#watch ? `Sign in to watch a session in ${this.#instance}.` : `Sign in to open a terminal in ${this.#instance}.`);
      return;
    }
    this.#setState('checking', `checking access to ${this.#instance}…`);
    const refusal = await this.#whyRefused(token);
    if (refusal) {
      this.#refused(refusal);
      return;
    }
    this.#showTerminal();
    this.#setState('connecting', `connecting to ${this.#instance}…`);
    const open = () => openFrameChannel(execSocketUrl(this.#base, this.#instance), [WEBSOCKET_SUBPROTOCOL, `bearer.${savedToken() ?? token}`]);
    let channel;
    try {
      channel = await open();
    } catch (err) {
      if (!(err instanceof ChannelRefusedError)) throw err;
      // Ask the API why: the token may have expired or the instance stopped meanwhile.
      this.#refused((await this.#whyRefused(token)) ?? new ApiFailure(0, 'WEBSOCKET_REFUSED', `${BROWSER_REFUSAL} (${err.message})`));
      return;
    }
    this.#term.reset();
    this.#term.options.disableStdin = this.#watch !== undefined;
    let running = '/bin/sh running';
    const session = new TerminalSession(
      channel,
      {
        write: (data, done) => this.#term.write(data, done),
        notice: (text) => this.#term.write(`\r\n\x1b[33m[hypeman-exec: ${text}]\x1b[0m\r\n`),
      },
      {
        started: (pid) => {
          if (this.#watch) {
            this.#setState('watching', `watching session ${this.#watch.slice(0, 12)} (pid ${pid}), read-only: your keys go nowhere`);
            return;
          }
          running = `/bin/sh running (pid ${pid})`;
          this.#setState('running', running);
        },
        reconnecting: (why, deadline) => {
          if (this.#session !== session) return;
          const until = new Date(Date.now() + (deadline - performance.now())).toLocaleTimeString();
          this.#setState('reconnecting', `reconnecting: ${describeEnd(why)}; the shell waits until ${until}`, 'Start again');
        },
        resumed: (lost) => {
          if (this.#session !== session) return;
          if (lost > 0) this.#term.write(`\r\n\x1b[33m[hypeman-exec: ${lost} bytes of output were dropped while disconnected]\x1b[0m\r\n`);
          this.#setState('running', running);
        },
        ended: (end) => this.#ended(session, end),
      },
      open,
    );
    this.#session = session;
    if (this.#watch) session.watch(this.#watch);
    else session.start({ argv: [], tty: true, window: { rows: this.#term.rows, cols: this.#term.cols }, lingerSeconds: PAGE_LINGER_SECONDS });
    this.#term.focus();
  }

  /** The server's refusal of this token for this instance, or null if it would be let in. */
  async #whyRefused(token: string): Promise<ApiFailure | null> {
    try {
      const info = await getJson<InstanceInfo>(instanceApiPath(this.#base, this.#instance), token);
      if (info.state !== 'running') {
        return new ApiFailure(409, 'INSTANCE_NOT_RUNNING', `instance ${info.id} is ${info.state}, not running; start it first`);
      }
      return null;
    } catch (err) {
      if (err instanceof ApiFailure) return err;
      throw err;
    }
  }

  #refused(failure: ApiFailure): void {
    if (failure.status === 401) {
      forgetToken();
      this.#signIn(`${failure.code}: ${failure.message}`);
      return;
    }
    this.#main.replaceChildren(h('p', { class: 'panel error', id: 'message' }, `${failure.code}: ${failure.message}`));
    this.#setState('failed', failure.code, 'Try again');
  }

  #ended(session: TerminalSession, end: SessionEnd): void {
    if (this.#session !== session) return;
    const text = describeEnd(end);
    const calm = end.kind === 'exited' && end.status.code === 0;
    this.#term.write(`\r\n\x1b[${calm ? '2' : '33'}m[${text}]\x1b[0m\r\n`);
    this.#term.options.disableStdin = true;
    this.#setState(end.kind, text, this.#watch ? 'Watch again' : 'Start again');
  }

  #signIn(why: string): void {
    this.#setState('signing-in', 'not signed in');
    this.#main.replaceChildren(signInForm(why, () => void this.begin()));
  }

  #showTerminal(): void {
    if (this.#container.isConnected) return;
    this.#main.replaceChildren(this.#container);
    if (!this.#term.element) {
      this.#term.open(this.#container);
      new ResizeObserver(() => this.#fitNow()).observe(this.#container);
    }
    this.#fitNow();
  }

  #fitNow(): void {
    // A hidden container has no size: keep the last one.
    if (this.#container.clientWidth > 0 && this.#container.clientHeight > 0) this.#fit.fit();
  }

  #setState(state: PageState, text: string, restartLabel?: string): void {
    this.#state = state;
    this.#bar.status.dataset.state = state;
    this.#bar.status.textContent = text;
    this.#bar.restart.hidden = restartLabel === undefined;
    if (restartLabel) this.#bar.restart.textContent = restartLabel;
  }
}
