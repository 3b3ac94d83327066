import { FrameType, WEBSOCKET_SUBPROTOCOL } from './wire.js';
import { type ChannelClose, ChannelRefusedError, type FrameChannel } from './FrameChannel.js';

/**
 * Output held for the page beyond this is dropped (and counted): a plain WebSocket delivers
 * every message as it arrives, with no way to tell the server to wait, so a command that
 * prints faster than the terminal draws would otherwise grow the tab's memory without bound.
 */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * The exec WebSocket through the plain WebSocket API, for browsers without WebSocketStream
 * (Firefox, Safari): no backpressure toward the server; bounded memory by skipping output.
 */
export class WebSocketEventChannel implements FrameChannel {
  readonly backpressure = false;
  readonly closed: Promise<ChannelClose>;
  #skipped = 0;
  readonly #socket: WebSocket;
  readonly #queue: Array<Uint8Array | TypeError> = [];
  #queuedBytes = 0;
  #wake: (() => void) | null = null;
  #ended = false;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (event) => {
        this.#ended = true;
        this.#notify();
        resolve({ code: event.code, reason: event.reason });
      });
    });
    socket.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => this.#message(event.data));
  }

  static open(url: string, protocols: string[]): Promise<WebSocketEventChannel> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocols);
      socket.binaryType = 'arraybuffer';
      // Messages can follow `open` at once: listen before the handshake completes.
      const channel = new WebSocketEventChannel(socket);
      const refused = () => reject(new ChannelRefusedError(`the WebSocket to ${url} did not open`));
      socket.addEventListener('error', refused);
      socket.addEventListener('open', () => {
        socket.removeEventListener('error', refused);
        if (socket.protocol !== WEBSOCKET_SUBPROTOCOL) {
          socket.close();
          reject(new ChannelRefusedError(`the server did not select the ${WEBSOCKET_SUBPROTOCOL} subprotocol; is this a hypeman-exec API server?`));
          return;
        }
        resolve(channel);
      });
    });
  }

  get skippedBytes(): number {
    return this.#skipped;
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const next = this.#queue.shift()!;
    if (next instanceof TypeError) throw next;
    this.#queuedBytes -= next.length;
    return next;
  }

  send(frame: Uint8Array): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(frame as Uint8Array<ArrayBuffer>);
  }

  close(): void {
    this.#socket.close(1000);
  }

  #message(data: ArrayBuffer | string): void {
    if (typeof data === 'string') {
      this.#queue.push(new TypeError('the server sent a text message in the framed dialect'));
    } else {
      const message = new Uint8Array(data);
      const type = message[4];
      if (this.#queuedBytes > MAX_QUEUED_BYTES && (type === FrameType.Stdout || type === FrameType.Stderr)) {
        this.#skipped += message.length - 5;
        return;
      }
      this.#queue.push(message);
      this.#queuedBytes += message.length;
    }
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
