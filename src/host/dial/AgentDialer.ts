import type { Duplex } from 'node:stream';

/** Opens one byte stream to a guest agent (spec §7): one exec session per connection. */
export interface AgentDialer {
  /** What the dialer reaches, for messages and logs (a socket path or a CID). */
  readonly target: string;
  /** The stream comes paused (nothing is read before the caller listens): call resume(). */
  dial(signal?: AbortSignal): Promise<Duplex>;
}
