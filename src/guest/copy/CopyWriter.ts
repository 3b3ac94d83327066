import type { Duplex } from 'node:stream';
import { type CopySessionState, FrameType, type Message, encodeHeader } from '../../wire/index.js';
import { WaitList } from '../../runtime/WaitList.js';

/**
 * The agent's half of a copy connection: frames out in order, each checked against the
 * operation's state machine, with the socket's own flow control. The frames written in one
 * tick go out in one writev (the socket is corked until the next tick): a tree of small
 * files is three frames a file. File data goes out as a 5-byte header and the payload: the
 * payload is never copied.
 */
export class CopyWriter {
  readonly #socket: Duplex;
  readonly #state: CopySessionState;
  readonly #drains = new WaitList();
  #corked = false;

  constructor(socket: Duplex, state: CopySessionState) {
    this.#socket = socket;
    this.#state = state;
    socket.on('drain', () => this.#drains.wake());
    socket.on('close', () => this.#drains.wake());
  }

  get open(): boolean {
    return this.#socket.writable && !this.#socket.destroyed;
  }

  /** True while frames wait in the socket's buffer beyond its high-water mark. */
  get backedUp(): boolean {
    return this.#socket.writableNeedDrain;
  }

  /** Resolves once the socket has drained (at once when it is not backed up, or closed). */
  drained(): Promise<void> {
    if (!this.backedUp || !this.open) return Promise.resolve();
    return this.#drains.wait();
  }

  /** A whole frame; `message` is what it says (checked against the state machine first). */
  send(message: Message, frame: Uint8Array): boolean {
    if (!this.open || this.#state.ended || !this.#state.agentFrame(message)) return !this.backedUp;
    this.#cork();
    return this.#socket.write(frame);
  }

  /** A file's bytes as one DownloadData frame. */
  sendData(data: Uint8Array): boolean {
    if (!this.open || this.#state.ended || !this.#state.agentFrame({ type: FrameType.DownloadData, data })) return !this.backedUp;
    this.#cork();
    this.#socket.write(encodeHeader(FrameType.DownloadData, data.length));
    return this.#socket.write(data);
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      this.#socket.uncork();
    });
  }

  /** Ends the stream after everything written so far has been flushed. */
  end(): void {
    if (!this.#socket.writableEnded && !this.#socket.destroyed) this.#socket.end();
  }
}
