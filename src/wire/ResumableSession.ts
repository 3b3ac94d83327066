import { DURABLE_VERSION, FrameType, HEADER_SIZE } from './constants.js';
import { encodeExecStart, encodeOutputAck, writeHeader } from './encoder.js';
import { UnexpectedFrameError } from './errors.js';
import type { ResumedMessage } from './messages.js';
import { StdinJournal } from './StdinJournal.js';

/** What a client sends on the new connection once Resumed has come (§10.6). */
export interface ResumeSteps {
  /** Stdin payloads to send again, in order: what the agent had not taken. */
  stdin: Uint8Array[];
  /** Send StdinClose: the client had closed stdin and the agent has not seen it. */
  closeStdin: boolean;
}

/**
 * What the client of a durable session (spec §10) remembers so that it can resume the
 * session over a new connection: its offset in each output stream and what it has
 * acknowledged, the Stdin the agent has not acknowledged yet (to send again), and whether
 * it closed stdin. Bookkeeping only, no I/O and no timers: the library's ExecSession and the
 * browser page each drive one from their own transport.
 *
 * The client acknowledges output at least every quarter of the agent's window (`output`
 * says when one is due) and when output pauses (the caller's timer, then `acknowledge`).
 */
export class ResumableSession {
  /** The session's id, from Started (or given, to attach to a session). */
  sessionId: Uint8Array | null;
  /** Seconds the agent keeps the session without a connection (Linger, Resumed); 0: it does not linger. */
  lingerSeconds = 0;
  /** Output the agent retains per stream until acknowledged (Linger, Resumed). */
  windowBytes = 0;
  /** Bytes of each stream before what the next frame carries: received, or reported lost. */
  stdoutOffset = 0;
  stderrOffset = 0;
  #ackedStdout = 0;
  #ackedStderr = 0;
  /** Stdin sent and not acknowledged. */
  readonly #journal: StdinJournal;
  #stdinClosed = false;
  /** Stdin is kept until acknowledged: until Linger says the session does not linger, or this client observes. */
  #keeping = true;
  #observer = false;

  /** `sessionId`: attach to this session (no stdin of ours yet); omit for a session this client starts. */
  constructor(sessionId?: Uint8Array) {
    this.sessionId = sessionId ?? null;
    this.#journal = new StdinJournal(sessionId ? null : 0);
  }

  /** The session lingers: it can be resumed, and output must be acknowledged. */
  get lingering(): boolean {
    return this.lingerSeconds > 0;
  }

  /** Stdin sent that the agent has not acknowledged (kept to send again). */
  get unacknowledgedStdin(): number {
    return this.#journal.bytes;
  }

  /** Output received and not acknowledged yet. */
  get unacknowledgedOutput(): number {
    return this.stdoutOffset - this.#ackedStdout + (this.stderrOffset - this.#ackedStderr);
  }

  /** Started: the session's id. */
  started(sessionId: Uint8Array): void {
    this.sessionId = sessionId.slice();
  }

  /** Linger (§10.2), right after Started. */
  linger(seconds: number, windowBytes: number): void {
    this.lingerSeconds = seconds;
    this.windowBytes = windowBytes;
    this.#keeping = seconds > 0;
    if (!this.#keeping) this.#journal.clear();
  }

  /**
   * `bytes` of output arrived on `stream`. True when an acknowledgement is due now: a
   * quarter of the window is unacknowledged.
   */
  output(stream: typeof FrameType.Stdout | typeof FrameType.Stderr, bytes: number): boolean {
    if (stream === FrameType.Stdout) this.stdoutOffset += bytes;
    else this.stderrOffset += bytes;
    return this.lingering && this.unacknowledgedOutput >= Math.max(1, this.windowBytes / 4);
  }

  /** OutputAck for everything received so far (§10.4), or null when nothing is new. */
  acknowledge(): Uint8Array | null {
    if (this.unacknowledgedOutput === 0) return null;
    this.#ackedStdout = this.stdoutOffset;
    this.#ackedStderr = this.stderrOffset;
    return encodeOutputAck(this.stdoutOffset, this.stderrOffset);
  }

  /**
   * A Stdin frame for `payload` in one new buffer (the payload copied once), its payload
   * kept until the agent acknowledges it: for a carrier of one buffer per frame (the
   * WebSocket). `allocate` makes the buffer (Node: Buffer.allocUnsafe, which does not zero it).
   */
  stdinFrame(payload: Uint8Array, allocate: (size: number) => Uint8Array = (size) => new Uint8Array(size)): Uint8Array {
    const frame = allocate(HEADER_SIZE + payload.length);
    writeHeader(frame, 0, FrameType.Stdin, payload.length);
    frame.set(payload, HEADER_SIZE);
    if (this.#keeping) this.#journal.keep(frame.subarray(HEADER_SIZE));
    return frame;
  }

  /**
   * `payload` was sent as it is (a carrier that writes a payload as given: a byte stream):
   * kept, by reference, until the agent acknowledges it. The caller must not change it
   * afterwards, as with a buffer written to a socket.
   */
  sentStdin(payload: Uint8Array): void {
    if (this.#keeping) this.#journal.keep(payload);
  }

  /** StdinClose was sent. */
  closedStdin(): void {
    this.#stdinClosed = true;
  }

  /** StdinAck (§10.5): the agent has taken `total` Stdin bytes; what came before is forgotten. */
  stdinAcknowledged(total: number): void {
    this.#journal.acknowledge(total);
  }

  /**
   * The ExecStart that resumes this session from the offsets (§10.6): as its writer, or, once
   * this client observes (§10.11), as an observer from the same offsets.
   */
  resumeFrame(owner?: string): Uint8Array {
    if (this.sessionId === null) throw new Error('the session has no id yet: Started never came');
    const attach = this.#observer ? { mode: 'observe' as const, live: false, anyOwner: false } : undefined;
    return encodeExecStart({ owner, resume: { sessionId: this.sessionId, stdoutBytes: this.stdoutOffset, stderrBytes: this.stderrOffset, attach } }, DURABLE_VERSION);
  }

  /** This client observes the session (§10.11): its input goes nowhere, so none is kept to send again. */
  get observer(): boolean {
    return this.#observer;
  }

  /** Resumed said so, or a take-over made this client an observer (Notice `observing`). */
  observing(): void {
    this.#observer = true;
    this.#keeping = false;
    this.#journal.clear();
  }

  /**
   * Resumed arrived: the offsets move past what was lost, the agent's Linger is taken again,
   * and the caller is told what to send again.
   */
  resumed(m: ResumedMessage): ResumeSteps {
    this.sessionId = m.sessionId.slice();
    this.lingerSeconds = m.lingerSeconds;
    this.windowBytes = m.windowBytes;
    this.#keeping = m.lingerSeconds > 0;
    this.stdoutOffset += m.stdoutLost;
    this.stderrOffset += m.stderrLost;
    this.#ackedStdout = Math.min(this.#ackedStdout, this.stdoutOffset);
    this.#ackedStderr = Math.min(this.#ackedStderr, this.stderrOffset);
    // Attaching: nothing of ours was sent; our stdin follows what the agent took.
    this.#journal.startAt(m.stdinBytes);
    if (m.stdinBytes < this.#journal.start) {
      throw new UnexpectedFrameError(`Resumed says ${m.stdinBytes} stdin bytes were taken, but ${this.#journal.start} were acknowledged before`);
    }
    this.#journal.acknowledge(m.stdinBytes);
    if (m.observer) {
      this.observing();
      return { stdin: [], closeStdin: false };
    }
    return { stdin: this.#journal.entries(), closeStdin: this.#stdinClosed && !m.stdinClosed };
  }

  /**
   * Every Stdin payload sent that the agent has not acknowledged: what a client that falls
   * back to version 1 (no durability) sends again on its new connection.
   */
  unacknowledgedPayloads(): Uint8Array[] {
    return this.#journal.entries();
  }
}
