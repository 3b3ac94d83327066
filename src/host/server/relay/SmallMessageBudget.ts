/** Messages of fewer payload bytes than this count against the budget. */
export const SMALL_MESSAGE_BYTES = 1024;

/**
 * How many small messages a client may send: a token bucket refilled at `perSecond`, holding
 * at most a quarter of a second's worth (more than any person types or pastes at once).
 * uWebSockets.js cannot stop reading one connection, and each message costs the server a
 * call into JavaScript however few bytes it carries, so a client flooding one-byte frames
 * would take the event loop from everyone else; it is cut instead, before it costs more than
 * a moment (as HTTP/2 servers cut floods of small or empty frames, CVE-2019-9512/9518).
 * Large frames are never limited: their cost is in their bytes, which credit bounds.
 */
export class SmallMessageBudget {
  readonly perSecond: number;
  readonly #burst: number;
  #tokens: number;
  #refilledAt: number;

  constructor(perSecond: number) {
    this.perSecond = perSecond;
    this.#burst = perSecond / 4;
    this.#tokens = this.#burst;
    this.#refilledAt = performance.now();
  }

  /** Takes one message of `bytes`; false when the client has sent too many small ones. */
  take(bytes: number): boolean {
    if (bytes >= SMALL_MESSAGE_BYTES || this.perSecond <= 0) return true;
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.perSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
