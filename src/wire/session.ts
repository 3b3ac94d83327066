import { FRAME_TYPE_NAMES, FrameType } from './constants.js';
import { UnexpectedFrameError } from './errors.js';

function nameOf(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `0x${type.toString(16)}`;
}

/**
 * The exec session state machine (spec §3.2), one per connection. It tracks both
 * directions, so the agent, the client and a relay in between use the same object:
 * the agent checks what it receives with `clientFrame` and what it sends with
 * `agentFrame`; a client the other way round; a relay checks both.
 *
 * Each method returns true when the frame is to be processed, false when it arrived after
 * the other side ended the session and is to be dropped (frames in flight are not an
 * error), and throws UnexpectedFrameError when the frame breaks the protocol.
 */
export class ExecSessionState {
  #execStarted = false;
  #stdinClosed = false;
  #clientEnded = false;
  #agentStarted = false;
  #agentEnded = false;

  /** ExecStart was seen. */
  get execStarted(): boolean {
    return this.#execStarted;
  }

  /** Started was seen. */
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

  /** A frame sent by the client. */
  clientFrame(type: number): boolean {
    if (this.#clientEnded) throw new UnexpectedFrameError(`client sent ${nameOf(type)} after its Error frame`);
    if (this.#agentEnded) return false;
    if (!this.#execStarted) {
      if (type === FrameType.ExecStart) {
        this.#execStarted = true;
        return true;
      }
      if (type === FrameType.Error) {
        this.#clientEnded = true;
        return true;
      }
      throw new UnexpectedFrameError(`the first frame of a session must be ExecStart, not ${nameOf(type)}`);
    }
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
        return true;
      case FrameType.Error:
        this.#clientEnded = true;
        return true;
      case FrameType.ExecStart:
        throw new UnexpectedFrameError('client sent ExecStart twice; open a new connection for each command');
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
    if (!this.#agentStarted) {
      if (type === FrameType.Started) {
        this.#agentStarted = true;
        return true;
      }
      throw new UnexpectedFrameError(`the agent's first frame must be Started or Error, not ${nameOf(type)}`);
    }
    switch (type) {
      case FrameType.Stdout:
      case FrameType.Stderr:
      case FrameType.Ping:
      case FrameType.Pong:
        return true;
      case FrameType.Exit:
        this.#agentEnded = true;
        return true;
      case FrameType.Started:
        throw new UnexpectedFrameError('agent sent Started twice');
      default:
        throw new UnexpectedFrameError(`an agent may not send ${nameOf(type)} frames`);
    }
  }
}
