import { DURABLE_VERSION, FRAME_TYPE_NAMES, FrameType, VERSION_2_FRAME_TYPES } from './constants.js';
import { UnexpectedFrameError } from './errors.js';

function nameOf(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `0x${type.toString(16)}`;
}

/** What the client's ExecStart said about the session (§3.2, §10). */
export interface SessionStart {
  /** The protocol version of the session: ExecStart's. */
  version: number;
  /** The ExecStart resumes a session: the agent answers Resumed, not Started (§10.6). */
  resume?: boolean;
  /** A resumed session's stdin was closed on an earlier connection: no Stdin may follow. */
  stdinClosed?: boolean;
}

/**
 * The exec session state machine (spec §3.2, §10), one per connection. It tracks both
 * directions, so the agent, the client and a relay in between use the same object:
 * the agent checks what it receives with `clientFrame` and what it sends with
 * `agentFrame`; a client the other way round; a relay checks both. ExecStart goes through
 * `start`, since the session's version and kind come from it: version 2's frames are
 * unexpected in a version 1 session.
 *
 * Each method returns true when the frame is to be processed, false when it arrived after
 * the other side ended the session and is to be dropped (frames in flight are not an
 * error), and throws UnexpectedFrameError when the frame breaks the protocol.
 */
export class ExecSessionState {
  #execStarted = false;
  #version = 0;
  #resume = false;
  #stdinClosed = false;
  #clientEnded = false;
  #agentStarted = false;
  #agentEnded = false;

  /** ExecStart was seen. */
  get execStarted(): boolean {
    return this.#execStarted;
  }

  /** The session's version (ExecStart's); 0 before ExecStart. */
  get version(): number {
    return this.#version;
  }

  /** Started (or Resumed) was seen. */
  get started(): boolean {
    return this.#agentStarted;
  }

  get stdinClosed(): boolean {
    return this.#stdinClosed;
  }

  /** The agent sent Exit or Error: the session is over. */
  get ended(): boolean {
    return this.#agentEnded || this.#clientEnded;
  }

  /** The client's ExecStart, the first frame of its connection. */
  start(start: SessionStart): boolean {
    if (this.#clientEnded) throw new UnexpectedFrameError('client sent ExecStart after its Error frame');
    if (this.#execStarted) throw new UnexpectedFrameError('client sent ExecStart twice; open a new connection for each command');
    this.#execStarted = true;
    this.#version = start.version;
    this.#resume = start.resume === true;
    this.#stdinClosed = start.stdinClosed === true;
    return true;
  }

  /** A frame sent by the client (ExecStart goes through `start`). */
  clientFrame(type: number): boolean {
    if (this.#clientEnded) throw new UnexpectedFrameError(`client sent ${nameOf(type)} after its Error frame`);
    if (this.#agentEnded) return false;
    if (!this.#execStarted) {
      if (type === FrameType.Error) {
        this.#clientEnded = true;
        return true;
      }
      throw new UnexpectedFrameError(`the first frame of a session must be ExecStart, not ${nameOf(type)}`);
    }
    this.#checkVersion(type, 'client');
    switch (type) {
      case FrameType.Stdin:
        if (this.#stdinClosed) throw new UnexpectedFrameError('client sent Stdin after StdinClose');
        return true;
      case FrameType.StdinClose:
        if (this.#stdinClosed) throw new UnexpectedFrameError('client sent StdinClose twice');
        this.#stdinClosed = true;
        return true;
      case FrameType.WindowSize:
      case FrameType.Signal:
      case FrameType.Ping:
      case FrameType.Pong:
      case FrameType.OutputAck:
        return true;
      case FrameType.Error:
        this.#clientEnded = true;
        return true;
      case FrameType.ExecStart:
        throw new UnexpectedFrameError('client sent ExecStart twice; open a new connection for each command');
      case FrameType.ListSessions:
        throw new UnexpectedFrameError('ListSessions is the first frame of a connection of its own, not part of an exec session');
      default:
        throw new UnexpectedFrameError(`a client may not send ${nameOf(type)} frames`);
    }
  }

  /** A frame sent by the agent. */
  agentFrame(type: number): boolean {
    if (this.#agentEnded) throw new UnexpectedFrameError(`agent sent ${nameOf(type)} after the session ended`);
    if (type === FrameType.Error) {
      this.#agentEnded = true;
      return !this.#clientEnded;
    }
    if (this.#clientEnded) return false;
    this.#checkVersion(type, 'agent');
    if (!this.#agentStarted) {
      const first = this.#resume ? FrameType.Resumed : FrameType.Started;
      if (type === first) {
        this.#agentStarted = true;
        return true;
      }
      throw new UnexpectedFrameError(`the agent's first frame must be ${nameOf(first)} or Error, not ${nameOf(type)}`);
    }
    switch (type) {
      case FrameType.Stdout:
      case FrameType.Stderr:
      case FrameType.Ping:
      case FrameType.Pong:
      case FrameType.Linger:
      case FrameType.StdinAck:
      case FrameType.Notice:
        return true;
      case FrameType.Exit:
        this.#agentEnded = true;
        return true;
      case FrameType.Started:
      case FrameType.Resumed:
        throw new UnexpectedFrameError(`agent sent ${nameOf(type)} after the session had started`);
      default:
        throw new UnexpectedFrameError(`an agent may not send ${nameOf(type)} frames in an exec session`);
    }
  }

  #checkVersion(type: number, side: string): void {
    if (this.#version < DURABLE_VERSION && VERSION_2_FRAME_TYPES.has(type)) {
      throw new UnexpectedFrameError(`${side} sent ${nameOf(type)}, a version ${DURABLE_VERSION} frame, in a version ${this.#version} session`);
    }
  }
}
