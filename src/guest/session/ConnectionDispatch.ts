import type { Duplex } from 'node:stream';
import { FrameType, HEADER_SIZE } from '../../wire/index.js';
import { CopySession } from '../copy/CopySession.js';
import { AgentSession, refuseConnection, type SessionContext } from './AgentSession.js';

/** What the agent holds for each connection, whatever it turns out to be. */
export interface AgentConnection {
  /** Settles once the connection is closed and everything it started has ended. */
  readonly done: Promise<void>;
  /** The agent is stopping: end with SHUTTING_DOWN. */
  shutdown(): void;
}

/** The first frames that start a copy operation (spec §12) rather than an exec session. */
const COPY_REQUESTS: ReadonlySet<number> = new Set([FrameType.CopyTo, FrameType.CopyFrom, FrameType.Stat]);

/**
 * The first frame's type decides what a connection is (spec §12.1): a copy operation's
 * request, or else an exec session (ExecStart; AgentSession answers anything else as it
 * always has). Nothing is read before the 5-byte header is in; those bytes are put back for
 * the session chosen, which then reads the connection from its first byte.
 */
export class ConnectionDispatch implements AgentConnection {
  readonly done: Promise<void>;
  readonly #socket: Duplex;
  readonly #context: SessionContext;
  readonly #since = performance.now();
  #head: Buffer[] = [];
  #headLength = 0;
  #session: AgentConnection | null = null;
  #ended = false;
  #resolveDone!: () => void;
  readonly #deadline: NodeJS.Timeout;
  readonly #onData = (chunk: Buffer) => this.#data(chunk);
  readonly #onGone = () => this.#gone();

  constructor(socket: Duplex, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#deadline = setTimeout(() => {
      this.#end();
      refuseConnection(socket, 'START_TIMEOUT', `no ExecStart arrived within ${context.startTimeoutMs / 1000} s of connecting (nor a copy request); a client sends ExecStart first (spec §4.1), or CopyTo, CopyFrom or Stat (§12)`);
      this.#watchClose();
    }, context.startTimeoutMs);
    socket.on('data', this.#onData);
    socket.on('error', this.#onGone);
    socket.on('close', this.#onGone);
  }

  shutdown(): void {
    if (this.#session !== null) return this.#session.shutdown();
    if (this.#ended) return;
    this.#end();
    refuseConnection(this.#socket, 'SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
    this.#watchClose();
  }

  #data(chunk: Buffer): void {
    this.#head.push(chunk);
    this.#headLength += chunk.length;
    if (this.#headLength < HEADER_SIZE) return;
    this.#end();
    const socket = this.#socket;
    const head = this.#head.length === 1 ? this.#head[0] : Buffer.concat(this.#head);
    this.#head = [];
    const type = head[HEADER_SIZE - 1];
    socket.pause();
    socket.unshift(head);
    const waited = performance.now() - this.#since;
    // The start timeout runs from the connection, not from its first bytes.
    const context = waited < 1 ? this.#context : { ...this.#context, startTimeoutMs: Math.max(1, this.#context.startTimeoutMs - waited) };
    const session: AgentConnection = COPY_REQUESTS.has(type) ? new CopySession(socket, context) : new AgentSession(socket, context);
    this.#session = session;
    socket.resume();
    void session.done.then(() => this.#resolveDone());
  }

  /** The connection went away before its first frame's header. */
  #gone(): void {
    if (this.#session !== null || this.#ended) return;
    this.#end();
    this.#socket.destroy();
    this.#resolveDone();
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#deadline);
    this.#socket.off('data', this.#onData);
    this.#socket.off('error', this.#onGone);
    this.#socket.off('close', this.#onGone);
  }

  #watchClose(): void {
    this.#socket.once('close', () => this.#resolveDone());
  }
}
