import {
  DEFAULT_MAX_PAYLOAD,
  FrameType,
  INITIAL_STDIN_CREDIT,
  type ExecRequest,
  RESUMABLE_ERROR_CODES,
  RESUME_ATTEMPT_TIMEOUT_MS,
  ResumableSession,
  decodeSingleFrame,
  encodeDataFrame,
  encodeError,
  encodeExecStart,
  encodePong,
  encodeUtf8,
  encodeWindowSize,
  parseFrame,
  reconnectDelayMs,
} from './wire.js';
import type { FrameChannel } from './FrameChannel.js';
import { type SessionEnd, endOfClose } from './sessionEnd.js';

/**
 * Reading stops while the terminal has more than this many bytes written to it but not yet
 * drawn (xterm.js's write callback says when a chunk is done), and resumes below LOW.
 * Frames carry at most 16 KiB (§8.1), so the page holds at most HIGH + 16 KiB.
 */
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 32 * 1024;
/** Largest Stdin frame the page sends (a big paste goes in several). */
const STDIN_CHUNK = 64 * 1024;

/** Where output goes: xterm.js's write(data, callback). */
export interface OutputSink {
  write(data: Uint8Array, done: () => void): void;
  /** Said when output was skipped (a plain WebSocket could not slow the server down). */
  notice(text: string): void;
}

export interface TerminalSessionEvents {
  started(pid: number): void;
  /** The connection was lost and the session lingers: trying again until `deadline` (ms, performance.now()). */
  reconnecting(why: SessionEnd, deadline: number): void;
  /** The session goes on over a new connection; `lost` bytes of output the agent had dropped. */
  resumed(lost: number): void;
  /** Once, after every byte of output before the end has been drawn. */
  ended(end: SessionEnd): void;
}

/** Opens a new connection to the same endpoint, with the token as it is now. */
export type Reconnect = () => Promise<FrameChannel>;

/** What the session did, for the status line and for tests (window.hypemanTerminal). */
export interface SessionStats {
  /** Output payload bytes read from the socket. */
  received: number;
  /** Output bytes the terminal has drawn. */
  drawn: number;
  /** Times reading stopped because the terminal was behind. */
  pauses: number;
  /** Most output bytes ever waiting for the terminal at once. */
  maxPending: number;
  /** Output bytes dropped (plain WebSocket only). */
  skipped: number;
  /** Whether not reading slows the server down (WebSocketStream). */
  backpressure: boolean;
  /** Reading stops above this many undrawn bytes. */
  highWater: number;
  /** Times the session was resumed over a new connection. */
  resumes: number;
}

/**
 * One exec session in the framed dialect (spec §8.1) between a terminal and the API server:
 * ExecStart with the terminal's size, keystrokes and pastes as Stdin within the server's
 * credit (§8.1.1), WindowSize on resize, Pong for the agent's Ping, output into the
 * terminal at the pace it draws (reading stops while it is behind), and the end as an exit
 * status, a typed error or a lost connection. `@xterm/addon-attach` cannot do this: it
 * writes every message into the terminal as it is.
 *
 * Asked with a linger, the session is durable (spec §10): output is acknowledged, stdin kept
 * until the agent acknowledges it, and a lost connection is resumed over a new one with
 * backoff while the session lingers, without a byte lost either way. Leaving on purpose
 * (close) sends an Error first, so the server hangs the command up instead of keeping it.
 */
export class TerminalSession {
  readonly stats: SessionStats;
  #channel: FrameChannel;
  readonly #sink: OutputSink;
  readonly #events: TerminalSessionEvents;
  readonly #reconnect: Reconnect;
  readonly #resumable = new ResumableSession();
  #credit = INITIAL_STDIN_CREDIT;
  readonly #stdin: Uint8Array[] = [];
  #window: { rows: number; cols: number } | null = null;
  #pending = 0;
  #belowLow: (() => void) | null = null;
  #drained: (() => void) | null = null;
  /** The current connection carries the session (false while reconnecting, until Resumed). */
  #live = false;
  #leaving = false;
  #ended = false;

  constructor(channel: FrameChannel, sink: OutputSink, events: TerminalSessionEvents, reconnect: Reconnect) {
    this.#channel = channel;
    this.#sink = sink;
    this.#events = events;
    this.#reconnect = reconnect;
    this.stats = { received: 0, drawn: 0, pauses: 0, maxPending: 0, skipped: 0, backpressure: channel.backpressure, highWater: HIGH_WATER, resumes: 0 };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The session's id (32 hex digits), once Started has come. */
  get sessionId(): string | null {
    const id = this.#resumable.sessionId;
    return id ? Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('') : null;
  }

  /** Sends ExecStart and reads until the session ends (`lingerSeconds` > 0: a durable session). */
  start(request: Partial<ExecRequest> & { lingerSeconds?: number }): void {
    this.#window = request.window ?? null;
    this.#channel.send(encodeExecStart(request));
    this.#live = true;
    void this.#run();
  }

  /**
   * Attaches to session `sessionId` as an observer (spec §10.11) from the output the agent
   * still holds (a terminal needs what came before to make sense of the screen), and reads
   * until it ends. Nothing is sent but Pongs: the page takes no input while it watches.
   */
  watch(sessionId: string): void {
    const id = Uint8Array.from(sessionId.match(/../g)!.map((byte) => parseInt(byte, 16)));
    this.#channel.send(encodeExecStart({ resume: { sessionId: id, stdoutBytes: 0, stderrBytes: 0, attach: { mode: 'observe', live: false, anyOwner: false } } }));
    // Not resumed after a lost connection: the resumable state is never fed (no Linger), so
    // a watch ends with its connection and the page offers to watch again.
    void this.#run();
  }

  /** What the user typed or pasted. */
  input(text: string): void {
    if (this.#ended || text === '') return;
    this.#stdin.push(encodeUtf8(text));
    // Output is acknowledged with what the user types, besides every quarter window (§10.4).
    this.#acknowledge();
    this.#sendStdin();
  }

  resize(rows: number, cols: number): void {
    this.#window = { rows, cols };
    if (!this.#ended && this.#live) this.#channel.send(encodeWindowSize({ rows, cols }));
  }

  /**
   * Leaves: the server hangs the command up (the page is closing, or the user started
   * again). A lingering session is told so with an Error first (§10.5), or it would wait
   * for a resume that never comes.
   */
  close(): void {
    if (this.#leaving) return;
    this.#leaving = true;
    if (!this.#ended && this.#live && this.#resumable.lingering) this.#channel.send(encodeError('SHUTTING_DOWN', 'the page closed the session'));
    this.#channel.close();
  }

  /** Reads connection after connection until the session ends. */
  async #run(): Promise<void> {
    let end = await this.#readLoop();
    while (end.kind !== 'exited' && !this.#leaving && this.#resumable.lingering && resumable(end)) {
      const resumed = await this.#resume(end);
      if (resumed !== true) {
        end = resumed;
        break;
      }
      end = await this.#readLoop();
    }
    this.#ended = true;
    this.#live = false;
    this.#stdin.length = 0;
    // The end is told after the output before it is on the screen.
    if (this.#pending > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    this.#events.ended(end);
  }

  /** Reads the current connection until the session ends or the connection does. */
  async #readLoop(): Promise<SessionEnd> {
    let end: SessionEnd | null = null;
    try {
      while (!end) {
        if (this.#pending > HIGH_WATER) {
          this.stats.pauses++;
          await new Promise<void>((resolve) => (this.#belowLow = resolve));
        }
        const message = await this.#channel.read();
        if (!message) break;
        this.#noteSkipped();
        end = this.#handle(message);
      }
    } catch (err) {
      end = { kind: 'failed', code: 'PROTOCOL_ERROR', message: `the server sent something this page cannot read: ${(err as Error).message}` };
      this.#channel.close();
    }
    this.#live = false;
    if (end) return end;
    const { code, reason } = await this.#channel.closed;
    return endOfClose(code, reason);
  }

  /**
   * The connection was lost while the session lingers: new connections with backoff until
   * one resumes it (true), or else the end to show: the linger has passed, the session is
   * gone (its typed error), or the user left.
   */
  async #resume(lost: SessionEnd): Promise<true | SessionEnd> {
    const deadline = performance.now() + this.#resumable.lingerSeconds * 1000;
    this.#events.reconnecting(lost, deadline);
    for (let attempt = 0; !this.#leaving && performance.now() < deadline; attempt++) {
      await sleep(reconnectDelayMs(attempt));
      if (this.#leaving) return lost;
      let channel: FrameChannel;
      try {
        channel = await this.#reconnect();
      } catch {
        continue; // refused or unreachable: try again while the session lingers
      }
      if (this.#leaving) {
        channel.close();
        return lost;
      }
      this.#channel = channel;
      this.#credit = INITIAL_STDIN_CREDIT;
      channel.send(this.#resumable.resumeFrame());
      const first = await firstMessage(channel, Math.min(RESUME_ATTEMPT_TIMEOUT_MS, Math.max(1, deadline - performance.now())));
      if (!first) {
        channel.close();
        continue;
      }
      const frame = decodeSingleFrame(first, DEFAULT_MAX_PAYLOAD);
      const m = frame ? parseFrame(frame) : null;
      if (m?.type === FrameType.Resumed) {
        const steps = this.#resumable.resumed(m);
        this.#live = true;
        // What the agent had not taken goes again, then StdinClose if it missed it, then the
        // window, which may have changed meanwhile (§10.6).
        for (const payload of steps.stdin) {
          channel.send(encodeDataFrame(FrameType.Stdin, payload));
          this.#credit -= payload.length;
        }
        if (this.#window) channel.send(encodeWindowSize(this.#window));
        this.stats.resumes++;
        this.#events.resumed(m.stdoutLost + m.stderrLost);
        this.#sendStdin();
        return true;
      }
      channel.close();
      // Gone (expired, taken over, not ours): the page shows why.
      if (m?.type === FrameType.Error && !RESUMABLE_ERROR_CODES.has(m.code)) return { kind: 'failed', code: m.code, message: m.message };
    }
    if (this.#leaving) return lost;
    const seconds = this.#resumable.lingerSeconds;
    return { kind: 'disconnected', message: `the connection to the server was lost and not restored within the ${seconds} s the session waited; the command was hung up` };
  }

  /** One message; returns the session's end if it was Exit or Error. */
  #handle(message: Uint8Array): SessionEnd | null {
    const frame = decodeSingleFrame(message, DEFAULT_MAX_PAYLOAD);
    if (!frame) return null; // an unknown type the sender marked ignorable (§2.2)
    const m = parseFrame(frame);
    switch (m.type) {
      case FrameType.Started:
        this.#resumable.started(m.sessionId);
        this.#events.started(m.pid);
        return null;
      case FrameType.Resumed:
        // An observer's first frame (watch): the page keeps no durable state for a session it watches.
        this.#events.started(m.pid);
        return null;
      case FrameType.Notice:
        this.#sink.notice(m.message);
        return null;
      case FrameType.Linger:
        this.#resumable.linger(m.seconds, m.windowBytes);
        return null;
      case FrameType.Stdout:
      case FrameType.Stderr:
        this.#output(m.data);
        if (this.#resumable.output(m.type, m.data.length)) this.#acknowledge();
        return null;
      case FrameType.StdinAck:
        this.#resumable.stdinAcknowledged(m.bytes);
        return null;
      case FrameType.Exit:
        return { kind: 'exited', status: m };
      case FrameType.Error:
        return { kind: 'failed', code: m.code, message: m.message };
      case FrameType.Ping:
        this.#channel.send(encodePong(m.token));
        return null;
      case FrameType.Pong:
        return null;
      case FrameType.StdinCredit:
        this.#credit += m.bytes;
        this.#sendStdin();
        return null;
      default:
        throw new TypeError(`a frame of type 0x${m.type.toString(16)} is not one the server sends a client`);
    }
  }

  /**
   * OutputAck for what has arrived (§10.4): every quarter of the agent's window, and with
   * each keystroke. Not on a timer after output stops, as the library does: writes of their
   * own, at moments a lost connection also tends to come, crashed Chromium's renderer (a
   * WebSocketStream written while its connection was reset: 6 of 14 runs of the browser test
   * under load with a 50 ms timer, none of 8 without). What stays unacknowledged is at most a
   * quarter window the agent keeps; a resume starts from what arrived, not what was
   * acknowledged, so nothing is shown twice.
   */
  #acknowledge(): void {
    if (!this.#live || !this.#resumable.lingering) return;
    const ack = this.#resumable.acknowledge();
    if (ack) this.#channel.send(ack);
  }

  #output(data: Uint8Array): void {
    const length = data.length;
    this.#pending += length;
    this.stats.received += length;
    this.stats.maxPending = Math.max(this.stats.maxPending, this.#pending);
    this.#sink.write(data, () => {
      this.#pending -= length;
      this.stats.drawn += length;
      if (this.#pending <= LOW_WATER && this.#belowLow) {
        const resume = this.#belowLow;
        this.#belowLow = null;
        resume();
      }
      if (this.#pending === 0 && this.#drained) this.#drained();
    });
  }

  #noteSkipped(): void {
    const skipped = this.#channel.skippedBytes;
    if (skipped === this.stats.skipped) return;
    this.#sink.notice(`${skipped - this.stats.skipped} bytes of output skipped: this browser cannot slow the command down`);
    this.stats.skipped = skipped;
  }

  /**
   * Sends queued input as far as the credit allows; the rest waits for StdinCredit, or for
   * a new connection. Each frame's payload is kept until the agent acknowledges it.
   */
  #sendStdin(): void {
    while (this.#live && this.#stdin.length > 0 && this.#credit > 0) {
      const first = this.#stdin[0];
      const n = Math.min(first.length, this.#credit, STDIN_CHUNK);
      if (n === first.length) this.#stdin.shift();
      else this.#stdin[0] = first.subarray(n);
      this.#channel.send(this.#resumable.stdinFrame(first.subarray(0, n)));
      this.#credit -= n;
    }
  }
}

/** Whether a session that ended this way may be resumed: a lost connection, or a failure of the path to it (§10.5). */
function resumable(end: SessionEnd): boolean {
  return end.kind === 'disconnected' || (end.kind === 'failed' && RESUMABLE_ERROR_CODES.has(end.code));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The first message of a new connection, or null when it closes or `ms` pass first. */
async function firstMessage(channel: FrameChannel, ms: number): Promise<Uint8Array | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([channel.read(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
