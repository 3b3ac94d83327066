// A minimal exec client for the guest tests: real Unix sockets and the src/wire codec.
import { connect, type Socket } from 'node:net';
import {
  FrameDecoder,
  FrameType,
  encodeDataFrame,
  encodeExecStart,
  encodeOutputAck,
  encodeStdinClose,
  parseFrame,
  type ErrorMessage,
  type ExecRequest,
  type ExitMessage,
  type Message,
  type StartedMessage,
} from '../../src/wire/index.js';

const HANG_GUARD_MS = 30_000;

/** One connection to the agent; collects what the agent sends. */
export class ExecConnection {
  readonly socket: Socket;
  readonly messages: Message[] = [];
  readonly closed: Promise<void>;
  /** Stdout payload bytes so far (cheaper than stdout().length while waiting on a stream). */
  stdoutBytes = 0;
  stderrBytes = 0;
  /** Offsets this connection's output starts at (a resumed session's), when it acknowledges output. */
  #ackBase: [number, number] | null = null;
  #acked = 0;
  #waiters: Array<() => void> = [];
  #protocolError: Error | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder((frame) => {
      const message = parseFrame(frame);
      // Data arrives as views of the socket's chunk: keep copies.
      if ('data' in message) message.data = Uint8Array.from(message.data);
      if (message.type === FrameType.Stdout) this.stdoutBytes += message.data.length;
      if (message.type === FrameType.Stderr) this.stderrBytes += message.data.length;
      if ('token' in message) message.token = Uint8Array.from(message.token);
      this.messages.push(message);
    });
    socket.on('data', (chunk) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        this.#protocolError = error as Error;
      }
      this.#maybeAck();
      this.#wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.#wake());
  }

  static open(path: string): Promise<ExecConnection> {
    return ExecConnection.#connect(() => connect(path));
  }

  static openTcp(port: number): Promise<ExecConnection> {
    return ExecConnection.#connect(() => connect(port, '127.0.0.1'));
  }

  static #connect(open: () => Socket): Promise<ExecConnection> {
    return new Promise((resolve, reject) => {
      const socket = open();
      socket.once('connect', () => resolve(new ExecConnection(socket)));
      socket.once('error', reject);
    });
  }

  /**
   * Acknowledges output as a client of a lingering session must (spec §10.4): every 256 KiB,
   * with this connection's output counted from the given offsets.
   */
  acknowledgeFrom(stdoutOffset: number, stderrOffset: number): void {
    this.#ackBase = [stdoutOffset, stderrOffset];
    this.#acked = 0;
    this.#maybeAck(true);
  }

  #maybeAck(now = false): void {
    const base = this.#ackBase;
    const received = this.stdoutBytes + this.stderrBytes;
    if (base === null || this.socket.destroyed || (!now && received - this.#acked < 256 * 1024)) return;
    this.#acked = received;
    this.send(encodeOutputAck(base[0] + this.stdoutBytes, base[1] + this.stderrBytes));
  }

  send(frame: Uint8Array): void {
    this.socket.write(frame);
  }

  start(request: Partial<ExecRequest>): void {
    this.send(encodeExecStart(request));
  }

  closeStdin(): void {
    this.send(encodeStdinClose());
  }

  /** Resolves with the first message (so far or later) matching `predicate`. */
  async waitFor<T extends Message>(predicate: (m: Message) => m is T, what = 'a frame'): Promise<T> {
    const deadline = Date.now() + HANG_GUARD_MS;
    for (;;) {
      if (this.#protocolError) throw this.#protocolError;
      const found = this.messages.find(predicate);
      if (found) return found;
      if (this.socket.destroyed && this.socket.readableEnded) throw new Error(`connection closed before ${what}; got ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`hang guard: no ${what} after ${HANG_GUARD_MS} ms; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the text `needle` in the Stdout collected so far. */
  async waitForStdout(needle: string): Promise<void> {
    await this.waitFor((m): m is Message => m.type === FrameType.Stdout && this.stdout().toString('utf8').includes(needle), JSON.stringify(needle));
  }

  /** Waits for the end: Exit or Error, then the agent's close. */
  async finish(): Promise<ExecResult> {
    await this.waitFor((m): m is ExitMessage | ErrorMessage => m.type === FrameType.Exit || m.type === FrameType.Error, 'Exit or Error');
    let guard: NodeJS.Timeout | undefined;
    const hung = new Promise((_, reject) => (guard = setTimeout(() => reject(new Error(`hang guard: the agent did not close; got ${this.describe()}`)), HANG_GUARD_MS)));
    await Promise.race([this.closed, hung]).finally(() => clearTimeout(guard));
    return this.result();
  }

  stdout(): Buffer {
    return Buffer.concat(this.messages.filter((m) => m.type === FrameType.Stdout).map((m) => (m as { data: Uint8Array }).data));
  }

  stderr(): Buffer {
    return Buffer.concat(this.messages.filter((m) => m.type === FrameType.Stderr).map((m) => (m as { data: Uint8Array }).data));
  }

  result(): ExecResult {
    const find = <T extends Message>(type: number) => (this.messages.find((m) => m.type === type) as T | undefined) ?? null;
    return {
      started: find<StartedMessage>(FrameType.Started),
      exit: find<ExitMessage>(FrameType.Exit),
      error: find<ErrorMessage>(FrameType.Error),
      stdout: this.stdout(),
      stderr: this.stderr(),
      types: this.messages.map((m) => m.type),
    };
  }

  describe(): string {
    const one = (m: Message): string => {
      switch (m.type) {
        case FrameType.Error:
          return `Error(${m.code}: ${m.message})`;
        case FrameType.Exit:
          return `Exit(kind ${m.kind} code ${m.code} signal ${m.signal})`;
        case FrameType.Stdout:
        case FrameType.Stderr:
          return `${m.type === FrameType.Stdout ? 'Stdout' : 'Stderr'}(${JSON.stringify(Buffer.from(m.data).toString('latin1').slice(0, 80))})`;
        default:
          return String(m.type);
      }
    };
    const shown = this.messages.slice(-20).map(one).join(', ') || 'nothing';
    return this.messages.length > 20 ? `${this.messages.length} frames, the last 20: ${shown}` : shown;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

export interface ExecResult {
  started: StartedMessage | null;
  exit: ExitMessage | null;
  error: ErrorMessage | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Frame types in the order they arrived. */
  types: number[];
}

/** Runs one command: ExecStart, the given stdin, StdinClose, then collects until the end. */
export async function runCommand(socketPath: string, request: Partial<ExecRequest>, stdin?: string | Uint8Array): Promise<ExecResult> {
  const connection = await ExecConnection.open(socketPath);
  try {
    connection.start(request);
    if (stdin !== undefined) {
      const bytes = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
      for (let at = 0; at < bytes.length; at += 65536) {
        connection.send(encodeDataFrame(FrameType.Stdin, bytes.subarray(at, at + 65536)));
      }
    }
    if (!request.tty) connection.closeStdin();
    return await connection.finish();
  } finally {
    connection.destroy();
  }
}
