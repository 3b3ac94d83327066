import {
  DEFAULT_MAX_PAYLOAD,
  FrameType,
  INITIAL_STDIN_CREDIT,
  type ExecRequest,
  decodeSingleFrame,
  encodeDataFrame,
  encodeExecStart,
  encodePong,
  encodeUtf8,
  encodeWindowSize,
  parseFrame,
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
  /** Once, after every byte of output before the end has been drawn. */
  ended(end: SessionEnd): void;
}

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
}

/**
 * One exec session in the framed dialect (spec §8.1) between a terminal and the API server:
 * ExecStart with the terminal's size, keystrokes and pastes as Stdin within the server's
 * credit (§8.1.1), WindowSize on resize, Pong for the agent's Ping, output into the
 * terminal at the pace it draws (reading stops while it is behind), and the end as an exit
 * status, a typed error or a lost connection. `@xterm/addon-attach` cannot do this: it
 * writes every message into the terminal as it is.
 */
export class TerminalSession {
  readonly stats: SessionStats;
  readonly #channel: FrameChannel;
  readonly #sink: OutputSink;
  readonly #events: TerminalSessionEvents;
  #credit = INITIAL_STDIN_CREDIT;
  readonly #stdin: Uint8Array[] = [];
  #pending = 0;
  #belowLow: (() => void) | null = null;
  #drained: (() => void) | null = null;
  #ended = false;

  constructor(channel: FrameChannel, sink: OutputSink, events: TerminalSessionEvents) {
    this.#channel = channel;
    this.#sink = sink;
    this.#events = events;
    this.stats = { received: 0, drawn: 0, pauses: 0, maxPending: 0, skipped: 0, backpressure: channel.backpressure, highWater: HIGH_WATER };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends ExecStart and reads until the session ends. */
  start(request: Partial<ExecRequest>): void {
    this.#channel.send(encodeExecStart(request));
    void this.#readLoop();
  }

  /**
   * Attaches to session `sessionId` as an observer (spec §10.11) from the output the agent
   * still holds (a terminal needs what came before to make sense of the screen), and reads
   * until it ends. Nothing is sent but Pongs: the page takes no input while it watches.
   */
  watch(sessionId: string): void {
    const id = Uint8Array.from(sessionId.match(/../g)!.map((byte) => parseInt(byte, 16)));
    this.#channel.send(encodeExecStart({ resume: { sessionId: id, stdoutBytes: 0, stderrBytes: 0, attach: { mode: 'observe', live: false, anyOwner: false } } }));
    void this.#readLoop();
  }

  /** What the user typed or pasted. */
  input(text: string): void {
    if (this.#ended || text === '') return;
    this.#stdin.push(encodeUtf8(text));
    this.#sendStdin();
  }

  resize(rows: number, cols: number): void {
    if (!this.#ended) this.#channel.send(encodeWindowSize({ rows, cols }));
  }

  /** Leaves: the server hangs the command up (the page is closing, or the user started again). */
  close(): void {
    this.#channel.close();
  }

  async #readLoop(): Promise<void> {
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
    let final: SessionEnd;
    if (end) final = end;
    else {
      const { code, reason } = await this.#channel.closed;
      final = endOfClose(code, reason);
    }
    this.#ended = true;
    this.#stdin.length = 0;
    // The end is told after the output before it is on the screen.
    if (this.#pending > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    this.#events.ended(final);
  }

  /** One message; returns the session's end if it was Exit or Error. */
  #handle(message: Uint8Array): SessionEnd | null {
    const frame = decodeSingleFrame(message, DEFAULT_MAX_PAYLOAD);
    if (!frame) return null; // an unknown type the sender marked ignorable (§2.2)
    const m = parseFrame(frame);
    switch (m.type) {
      case FrameType.Started:
      case FrameType.Resumed:
        this.#events.started(m.pid);
        return null;
      case FrameType.Notice:
        this.#sink.notice(m.message);
        return null;
      case FrameType.Linger:
      case FrameType.StdinAck:
        return null;
      case FrameType.Stdout:
      case FrameType.Stderr:
        this.#output(m.data);
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

  /** Sends queued input as far as the credit allows; the rest waits for StdinCredit. */
  #sendStdin(): void {
    while (this.#stdin.length > 0 && this.#credit > 0) {
      const first = this.#stdin[0];
      const n = Math.min(first.length, this.#credit, STDIN_CHUNK);
      if (n === first.length) this.#stdin.shift();
      else this.#stdin[0] = first.subarray(n);
      this.#channel.send(encodeDataFrame(FrameType.Stdin, first.subarray(0, n)));
      this.#credit -= n;
    }
  }
}
