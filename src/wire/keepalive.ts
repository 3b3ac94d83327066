import { FIXED_PAYLOAD_SIZE, FrameType } from './constants.js';

const PING_TOKEN_SIZE = FIXED_PAYLOAD_SIZE[FrameType.Ping];

/**
 * Detects a peer that is connected but hung (a stuck VM keeps its vsock socket open), as
 * spec §4.10 suggests: after `intervalMs` without a frame it sends a Ping; if another
 * `intervalMs` passes without any frame, the peer is unresponsive. Silence is excused while
 * this side itself holds the peer back (it is not reading, or its stdin waits for room),
 * since the peer's answer may then be queued behind data.
 */
export class KeepAlive {
  readonly #timer: ReturnType<typeof setInterval>;
  #heard = false;
  #pinged = false;

  constructor(intervalMs: number, ping: (token: Uint8Array) => void, unresponsive: () => void, excused: () => boolean) {
    this.#timer = setInterval(() => {
      if (this.#heard || excused()) {
        this.#heard = false;
        this.#pinged = false;
      } else if (this.#pinged) {
        this.stop();
        unresponsive();
      } else {
        this.#pinged = true;
        ping(crypto.getRandomValues(new Uint8Array(PING_TOKEN_SIZE)));
      }
    }, intervalMs);
    // The connection keeps the process alive while it matters; this timer alone must not.
    this.#timer.unref();
  }

  /** Any frame from the peer. */
  heard(): void {
    this.#heard = true;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
