import { RESUMABLE_ERROR_CODES } from '../../wire/index.js';
import { AgentDialError } from '../dial/errors.js';
import { ApiRefusedError, ApiUnreachableError, ConnectionLostError, PeerUnresponsiveError, RemoteExecError } from './errors.js';

export { RESUME_ATTEMPT_TIMEOUT_MS, reconnectDelayMs } from '../../wire/index.js';

/** Refusals of an upgrade that waiting may cure: the server is starting, stopping or full. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * Errors after which a lingering session is worth resuming (spec §10): the connection
 * broke, the API server went away or is stopping, it lost or could not reach the agent, or
 * the agent stopped answering. Everything else (the session was taken over, expired or is
 * not ours; a refusal of the token or the instance; a protocol error; an abort) is final.
 */
export function worthResuming(err: unknown): boolean {
  if (err instanceof ConnectionLostError || err instanceof ApiUnreachableError || err instanceof PeerUnresponsiveError) return true;
  if (err instanceof RemoteExecError) return RESUMABLE_ERROR_CODES.has(err.code);
  if (err instanceof ApiRefusedError) return RETRYABLE_STATUS.has(err.status);
  if (err instanceof AgentDialError) return err.retryable;
  return false;
}
