import { WEBSOCKET_SUBPROTOCOL } from './wire.js';
import { type ChannelClose, ChannelRefusedError, type FrameChannel } from './FrameChannel.js';

// WebSocketStream is not in TypeScript's DOM library yet.
interface WebSocketStreamOpened {
  readable: ReadableStream<ArrayBuffer | string>;
  writable: WritableStream<Uint8Array>;
  protocol: string;
}
interface WebSocketStreamClose {
  closeCode?: number;
  reason?: string;
}
interface WebSocketStreamLike {
  readonly opened: Promise<WebSocketStreamOpened>;
  readonly closed: Promise<WebSocketStreamClose>;
  close(info?: WebSocketStreamClose): void;
}
type WebSocketStreamConstructor = new (url: string, options?: { protocols?: string[] }) => WebSocketStreamLike;

function webSocketStream(): WebSocketStreamConstructor | undefined {
  return (globalThis as { WebSocketStream?: WebSocketStreamConstructor }).WebSocketStream;
}

export function hasWebSocketStream(): boolean {
  return webSocketStream() !== undefined;
}

/**
 * The exec WebSocket through WebSocketStream: its readable side applies backpressure to the
 * network, so a page that stops reading stops the server's sends.
 */
export class WebSocketStreamChannel implements FrameChannel {
  readonly backpressure = true;
  readonly skippedBytes = 0;
  readonly closed: Promise<ChannelClose>;
  readonly #socket: WebSocketStreamLike;
  readonly #reader: ReadableStreamDefaultReader<ArrayBuffer | string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(socket: WebSocketStreamLike, opened: WebSocketStreamOpened) {
    this.#socket = socket;
    this.#reader = opened.readable.getReader();
    this.#writer = opened.writable.getWriter();
    this.closed = socket.closed.then(
      (info) => ({ code: info.closeCode ?? 1005, reason: info.reason ?? '' }),
      (err: { closeCode?: number; reason?: string }) => ({ code: err?.closeCode ?? 1006, reason: err?.reason ?? '' }),
    );
  }

  static async open(url: string, protocols: string[]): Promise<WebSocketStreamChannel> {
    const Constructor = webSocketStream()!;
    const socket = new Constructor(url, { protocols });
    // A failed handshake rejects both promises; `opened` reports it.
    socket.closed.catch(() => undefined);
    let opened: WebSocketStreamOpened;
    try {
      opened = await socket.opened;
    } catch (err) {
      throw new ChannelRefusedError(`the WebSocket to ${url} did not open (${(err as Error).message || 'handshake failed'})`);
    }
    if (opened.protocol !== WEBSOCKET_SUBPROTOCOL) {
      socket.close();
      throw new ChannelRefusedError(`the server did not select the ${WEBSOCKET_SUBPROTOCOL} subprotocol; is this a hypeman-exec API server?`);
    }
    return new WebSocketStreamChannel(socket, opened);
  }

  async read(): Promise<Uint8Array | null> {
    let result: ReadableStreamReadResult<ArrayBuffer | string>;
    try {
      result = await this.#reader.read();
    } catch {
      return null;
    }
    if (result.done) return null;
    if (typeof result.value === 'string') throw new TypeError('the server sent a text message in the framed dialect');
    return new Uint8Array(result.value);
  }

  send(frame: Uint8Array): void {
    // Rejected only once the socket is closing or closed; the read side reports that.
    this.#writer.write(frame).catch(() => undefined);
  }

  close(): void {
    try {
      this.#socket.close({ closeCode: 1000 });
    } catch {
      // Already closed.
    }
  }
}
