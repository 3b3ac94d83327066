/** How the WebSocket ended: its close status and reason (1006: no close frame, connection lost). */
export interface ChannelClose {
  code: number;
  reason: string;
}

/**
 * The exec WebSocket as the page uses it: one frame per binary message (spec §8.1), read one
 * message at a time. With WebSocketStream, not calling read() is what holds the server back:
 * the browser stops reading the socket, the server's send buffer fills, and the server stops
 * reading the agent (§8.1 flow control), which stops the command.
 */
export interface FrameChannel {
  /** The next message, or null once the socket has closed. */
  read(): Promise<Uint8Array | null>;
  send(frame: Uint8Array): void;
  /** Closes normally (1000): the server hangs the command up (§9.9). */
  close(): void;
  readonly closed: Promise<ChannelClose>;
  /** False when not reading cannot slow the server down (plain WebSocket). */
  readonly backpressure: boolean;
  /** Output bytes dropped to keep the page's memory bounded (plain WebSocket only). */
  readonly skippedBytes: number;
}

/**
 * The WebSocket handshake failed. Browsers do not tell a page the HTTP status of a refused
 * upgrade, so the page asks the API why (GET /instances/{id}) when this happens.
 */
export class ChannelRefusedError extends Error {}
