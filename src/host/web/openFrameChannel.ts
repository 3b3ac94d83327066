import type { FrameChannel } from './FrameChannel.js';
import { WebSocketEventChannel } from './WebSocketEventChannel.js';
import { WebSocketStreamChannel, hasWebSocketStream } from './WebSocketStreamChannel.js';

/** WebSocketStream where the browser has it (Chromium: backpressure), else a plain WebSocket. */
export function openFrameChannel(url: string, protocols: string[]): Promise<FrameChannel> {
  return hasWebSocketStream() ? WebSocketStreamChannel.open(url, protocols) : WebSocketEventChannel.open(url, protocols);
}
