import {
  CopySessionState,
  ErrorCode,
  FrameType,
  type Message,
  ProtocolError,
  type RawFrame,
  encodeHeader,
  encodePong,
  parseFrame,
} from '../../../wire/index.js';
import { ClientProtocolError, ConnectionLostError, RemoteCopyError, RemoteExecError, SessionAbortedError } from '../errors.js';
import type { FrameTransport } from '../FrameTransport.js';
import { WaitList } from '../../../runtime/WaitList.js';

/** The agent's frames of the operation, as the channel hands them on (already checked). */
export type AgentCopyFrame = Exclude<Message, { type: typeof FrameType.Ping | typeof FrameType.Pong | typeof FrameType.Error }>;

/**
 * The client's side of one copy operation (spec §12) over any FrameTransport: it sends the
 * request and, for an upload, the stream, each frame checked against the operation's state
 * machine; file bytes wait for the transport to take them and, on the WebSocket, for
 * credit (§8.1.1). The agent's frames are checked and handed to `onFrame` in order; an
 * Error frame, a broken protocol or a lost connection settle `ended` with a typed error.
 */
export class CopyChannel {
  /** Settles once the agent's last frame was handed on (resolved), or the operation failed. */
  readonly ended: Promise<void>;
  readonly #transport: FrameTransport;
  readonly #state = new CopySessionState();
  readonly #onFrame: (m: AgentCopyFrame) => void;
  #resolve!: () => void;
  #reject!: (error: Error) => void;
  #failure: Error | null = null;
  #settled = false;
  #heard = false;
  readonly #waiters = new WaitList();

  constructor(transport: FrameTransport, request: Message, frame: Uint8Array, onFrame: (m: AgentCopyFrame) => void) {
    this.#transport = transport;
    this.#onFrame = onFrame;
    this.ended = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.ended.catch(() => undefined);
    this.#state.clientFrame(request);
    transport.send(frame);
    transport.attach({
      frame: (raw) => this.#received(raw),
      close: (error) => this.#closed(error),
      drain: () => this.#waiters.wake(),
      credit: () => this.#waiters.wake(),
    });
  }

  /** Why the operation failed, once it has. */
  get failure(): Error | null {
    return this.#failure;
  }

  /** A whole frame of the client's (an entry, its end, the upload's end). */
  send(message: Message, frame: Uint8Array): void {
    if (this.#settled || !this.#state.clientFrame(message)) return;
    this.#transport.send(frame);
  }

  /** An upload's file bytes, as one UploadData frame once credit and the transport allow. */
  async sendData(data: Uint8Array): Promise<void> {
    // Wait for credit (WebSocket carrier) for the whole frame: frames are the sender's to cut.
    while (!this.#settled && this.#transport.stdinCredit < data.length) await this.#waiters.wait();
    if (this.#settled || !this.#state.clientFrame({ type: FrameType.UploadData, data })) return;
    if (!this.#transport.sendData(encodeHeader(FrameType.UploadData, data.length), data)) await this.#waiters.wait();
  }

  pauseReading(): void {
    this.#transport.pauseReading();
  }

  resumeReading(): void {
    this.#transport.resumeReading();
  }

  /** Gives up: the connection is torn down (an upload in progress leaves no partial file). */
  abort(reason: Error): void {
    this.#fail(reason);
    this.#transport.destroy(reason);
  }

  /** Ends the operation from this side with `error` (a local failure): the agent stops too. */
  fail(error: Error): void {
    if (this.#settled) return;
    this.#fail(error);
    this.#transport.destroy(error);
  }

  #received(raw: RawFrame): void {
    if (this.#settled) return;
    try {
      const m = parseFrame(raw);
      if (!this.#state.agentFrame(m)) return;
      const first = !this.#heard;
      this.#heard = true;
      switch (m.type) {
        case FrameType.Ping:
          this.#transport.send(encodePong(m.token));
          return;
        case FrameType.Pong:
          return;
        case FrameType.Error: {
          const path = m.path ? Buffer.from(m.path).toString('utf8') : '';
          // An agent from before the copy protocol knows no CopyTo, CopyFrom or Stat.
          if (first && m.wireCode === ErrorCode.UNKNOWN_FRAME_TYPE) {
            this.#fail(new RemoteCopyError('COPY_UNAVAILABLE', ErrorCode.COPY_UNAVAILABLE, `the instance's agent does not know the copy operations (it answered: ${m.message}); update the agent in its image`));
          } else {
            this.#fail(new RemoteCopyError(m.code, m.wireCode, m.message, path));
          }
          return;
        }
      }
      this.#onFrame(m);
      if (this.#state.ended) this.#finish();
    } catch (error) {
      this.fail(error instanceof ProtocolError ? new ClientProtocolError(`the peer broke the protocol: ${error.message}`, error) : (error as Error));
    }
  }

  #closed(error?: Error): void {
    if (this.#settled) return;
    this.#fail(error instanceof SessionAbortedError || error instanceof RemoteExecError ? error : new ConnectionLostError(error?.message ?? 'the peer closed the connection before the copy ended', error));
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#waiters.wake();
    this.#transport.close();
    this.#resolve();
  }

  #fail(error: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failure = error;
    this.#waiters.wake();
    this.#transport.close();
    this.#reject(error);
  }
}
