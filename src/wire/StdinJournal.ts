import { UnexpectedFrameError } from './errors.js';

/**
 * The Stdin a client of a durable session has sent and the agent has not acknowledged yet
 * (spec §10.5), oldest first: what it sends again after a resume. Payloads are kept as
 * they are given, never copied: the caller does not change a payload once sent (a frame it
 * made for sending, or a buffer its own caller wrote and gave up, as with a socket). A copy
 * per frame made a fast local stream 18 % slower; keeping a reference costs nothing.
 */
export class StdinJournal {
  /** Kept payloads, oldest first; `#start` is the stdin offset of the first byte of the first. */
  #entries: Uint8Array[] = [];
  #start = 0;
  #bytes = 0;
  /** Stdin payload bytes sent in total; null until known (a client attaching learns it from Resumed). */
  #sent: number | null;

  constructor(sent: number | null = 0) {
    this.#sent = sent;
  }

  /** Bytes kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The stdin offset of the first byte kept: what the agent acknowledged. */
  get start(): number {
    return this.#start;
  }

  /** Nothing was sent by this client yet, and the agent's count is known: from here on. */
  startAt(offset: number): void {
    if (this.#sent === null) {
      this.#sent = offset;
      this.#start = offset;
    }
  }

  /** Keeps a payload that was sent. */
  keep(payload: Uint8Array): void {
    this.#entries.push(payload);
    this.#bytes += payload.length;
    this.#sent = (this.#sent ?? 0) + payload.length;
  }

  /** The agent has taken `total` bytes (StdinAck, Resumed): what came before is forgotten. */
  acknowledge(total: number): void {
    const sent = this.#sent ?? total;
    if (total > sent) throw new UnexpectedFrameError(`StdinAck acknowledges ${total} stdin bytes, but only ${sent} were sent`);
    let drop = total - this.#start;
    while (drop > 0 && this.#entries.length > 0) {
      const head = this.#entries[0];
      const n = Math.min(head.length, drop);
      if (n === head.length) this.#entries.shift();
      else this.#entries[0] = head.subarray(n);
      this.#bytes -= n;
      this.#start += n;
      drop -= n;
    }
    this.#start = Math.max(this.#start, total);
  }

  /** What is kept, in order. */
  entries(): Uint8Array[] {
    return [...this.#entries];
  }

  /** Forgets everything (the session does not linger): nothing will be sent again. */
  clear(): void {
    this.#entries = [];
    this.#start += this.#bytes;
    this.#bytes = 0;
  }
}
