import { RelayFailure } from './RelayFailure.js';

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
  /** What the client should do instead, for the FLOW_CONTROL message (the endpoint's words). */
  readonly #remedy: string;
  readonly #burst: number;
  #tokens: number;
  #refilledAt: number;

  constructor(perSecond: number, remedy: string) {
    this.perSecond = perSecond;
    this.#remedy = remedy;
    this.#burst = perSecond / 4;
    this.#tokens = this.#burst;
    this.#refilledAt = performance.now();
  }

  /** Takes one message of `bytes`; false when the client has sent too many small ones. */
  #take(bytes: number): boolean {
    if (bytes >= SMALL_MESSAGE_BYTES || this.perSecond <= 0) return true;
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.perSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /** Takes one message of `bytes`, or ends the session: a RelayFailure FLOW_CONTROL saying what to do instead. */
  admit(bytes: number): void {
    if (!this.#take(bytes)) throw new RelayFailure('FLOW_CONTROL', `more than ${this.perSecond} messages under ${SMALL_MESSAGE_BYTES} bytes a second; ${this.#remedy}`);
  }
}
