import { AgentDialError } from '../dial/errors.js';
import { ApiRefusedError, ApiUnreachableError, ConnectionLostError, PeerUnresponsiveError, RemoteExecError } from './errors.js';

/**
 * Errors after which a lingering session is worth resuming (spec §10): the connection
 * broke, the API server went away or is stopping, it lost or could not reach the agent, or
 * the agent stopped answering. Everything else (the session was taken over, expired or is
 * not ours; a refusal of the token or the instance; a protocol error; an abort) is final.
 */
const RETRYABLE_REMOTE = new Set(['AGENT_DISCONNECTED', 'AGENT_UNREACHABLE', 'SHUTTING_DOWN', 'PEER_UNRESPONSIVE', 'TOO_MANY_SESSIONS']);
/** Refusals of an upgrade that waiting may cure: the server is starting, stopping or full. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export function worthResuming(err: unknown): boolean {
  if (err instanceof ConnectionLostError || err instanceof ApiUnreachableError || err instanceof PeerUnresponsiveError) return true;
  if (err instanceof RemoteExecError) return RETRYABLE_REMOTE.has(err.code);
  if (err instanceof ApiRefusedError) return RETRYABLE_STATUS.has(err.status);
  if (err instanceof AgentDialError) return err.retryable;
  return false;
}

/** Delays before the reconnection attempts: the first at once, then doubling to 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(2000, 50 * 2 ** attempt);
}

/** A resume attempt that brings no Resumed within this long is given up and another made. */
export const RESUME_ATTEMPT_TIMEOUT_MS = 10_000;
