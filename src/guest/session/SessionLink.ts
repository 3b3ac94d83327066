import {
  type ClientMessage,
  type ErrorCodeName,
  ExecSessionState,
  FrameType,
  type RawFrame,
  type SessionStart,
  encodeError,
  encodeNotice,
  parseFrame,
} from '../../wire/index.js';
import type { AgentConnection } from './AgentConnection.js';
import type { ConnectionOperation } from './firstFrame.js';
import { FrameWriter, type OutputStream } from './FrameWriter.js';

/** A cut observer that does not read its last frames is closed this much later. */
const OBSERVER_CUT_GRACE_MS = 5_000;

/** What a link reports to the session it carries. */
export interface LinkedSession {
  /** A client frame, checked against the connection's state machine. */
  clientMessage(message: ClientMessage, link: SessionLink): void;
  /** The connection's socket drained: output may flow again. */
  linkDrained(link: SessionLink): void;
  /** The connection ended without the client's Error frame (§10.5: a lingering session detaches). */
  linkLost(link: SessionLink, reason: string): void;
  /** The client broke the protocol on this connection: the session ends with that error. */
  linkFailed(link: SessionLink, code: ErrorCodeName, message: string): void;
}

/**
 * One connection's share of an exec session (spec §3.2): the connection's own state machine
 * and frame writer, between the connection and the session it is attached to. A durable
 * session (§10) outlives its links: a resume attaches a new one, and the old one is taken
 * over or lost.
 */
export class SessionLink implements ConnectionOperation {
  readonly connection: AgentConnection;
  readonly state = new ExecSessionState();
  readonly writer: FrameWriter;
  /** §10.11: the connection observes the session: output only, its input goes nowhere. */
  observer = false;
  #session: LinkedSession | null = null;
  #toldReadOnly = false;

  constructor(connection: AgentConnection, start: SessionStart) {
    this.connection = connection;
    this.state.start(start);
    this.writer = new FrameWriter(connection.socket, this.state);
    connection.socket.on('drain', () => this.#session?.linkDrained(this));
  }

  get version(): number {
    return this.state.version;
  }

  get backedUp(): boolean {
    return this.writer.backedUp;
  }

  /** The session this link carries from now on. */
  bind(session: LinkedSession): void {
    this.#session = session;
  }

  // ---- from the connection (ConnectionOperation) ----

  frame(raw: RawFrame): void {
    const message = parseFrame(raw) as ClientMessage;
    if (!this.state.clientFrame(raw.type)) return; // sent before the client learnt the session ended
    this.#session?.clientMessage(message, this);
  }

  failed(code: ErrorCodeName, message: string): void {
    if (this.#session !== null) this.#session.linkFailed(this, code, message);
    else this.end(FrameType.Error, encodeError(code, message));
  }

  connectionLost(reason: string): void {
    const session = this.#session;
    this.#session = null;
    session?.linkLost(this, reason);
  }

  // ---- from the session ----

  send(type: number, frame: Uint8Array): boolean {
    return this.writer.send(type, frame);
  }

  sendData(type: OutputStream, data: Uint8Array): boolean {
    return this.writer.sendData(type, data);
  }

  /** The session's last frame on this connection (Exit or Error); the connection then closes. */
  end(type: typeof FrameType.Exit | typeof FrameType.Error, frame: Uint8Array): void {
    this.#session = null;
    const last = this.writer.open && !this.state.ended && this.state.agentFrame(type) ? frame : undefined;
    this.connection.finish(last);
  }

  /** A resume took the session to another connection (§10.6): this one hears why and closes. */
  takenOver(): void {
    this.end(FrameType.Error, encodeError('SESSION_TAKEN_OVER', 'another connection resumed this session; this one is closed (the command runs on)'));
  }

  /** §10.11: the Notice that this observer's input was dropped, once per connection. */
  tellReadOnly(): void {
    if (this.#toldReadOnly) return;
    this.#toldReadOnly = true;
    this.send(FrameType.Notice, encodeNotice('read-only', 'this connection observes the session: its input, resizes and signals are dropped'));
  }

  /** Output waiting in this connection's socket, not yet taken by the kernel. */
  get backlog(): number {
    return this.connection.socket.writableLength;
  }

  /**
   * An observer that fell too far behind (§10.11): OBSERVER_TOO_SLOW after what it has, and
   * closed a little later whether or not it reads that far.
   */
  cut(message: string): void {
    this.end(FrameType.Error, encodeError('OBSERVER_TOO_SLOW', message));
    setTimeout(() => this.connection.destroy(), OBSERVER_CUT_GRACE_MS).unref();
  }

  /** The session is gone from under this link (hung up on purpose): close without a word. */
  drop(): void {
    this.#session = null;
    this.connection.destroy();
  }

  pauseReading(): void {
    this.connection.pauseReading();
  }

  resumeReading(): void {
    this.connection.resumeReading();
  }
}
