import type { ErrorCodeName } from './constants.js';

// When a client of a lingering session (spec §10) tries again, shared by the library's
// ExecSession and the browser page.

/**
 * Error codes after which a lingering session is worth resuming: the server lost or could
 * not reach the agent, is stopping or full, or the agent stopped answering. Every other
 * code (taken over, expired, not ours, a refusal, a protocol error) is final.
 */
export const RESUMABLE_ERROR_CODES: ReadonlySet<ErrorCodeName | string> = new Set<ErrorCodeName>([
  'AGENT_DISCONNECTED',
  'AGENT_UNREACHABLE',
  'SHUTTING_DOWN',
  'PEER_UNRESPONSIVE',
  'TOO_MANY_SESSIONS',
]);

/** Delays before the reconnection attempts: the first at once, then doubling to 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(2000, 50 * 2 ** attempt);
}

/** A resume attempt that brings no Resumed within this long is given up and another made. */
export const RESUME_ATTEMPT_TIMEOUT_MS = 10_000;
