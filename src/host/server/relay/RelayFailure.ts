import { CodedError, type ErrorCodeName, ProtocolError } from '../../../wire/index.js';
import { ApiError } from '../errors.js';

/** A failure the relay ends the session with: an Error frame (or JSON) with this code, then close 4000 + code. */
export class RelayFailure extends CodedError<ErrorCodeName> {}

/**
 * What a relay (exec or copy) ends its session with for an error thrown while it handled a
 * message: a protocol error or a RelayFailure keeps its code, a bad request (ApiError) is
 * INVALID_REQUEST, anything else is the server's own failure, INTERNAL_ERROR.
 */
export function relayFailureOf(err: unknown): RelayFailure {
  if (err instanceof RelayFailure) return err;
  if (err instanceof ProtocolError) return new RelayFailure(err.code, err.message);
  if (err instanceof ApiError) return new RelayFailure('INVALID_REQUEST', err.message);
  return new RelayFailure('INTERNAL_ERROR', `the server failed: ${(err as Error).message}`);
}

/**
 * Decodes the agent's bytes (`push`): a protocol error there is the agent's, which the client
 * did not cause and cannot fix, so it ends the session as INTERNAL_ERROR.
 */
export function decodeAgentBytes(push: () => void): void {
  try {
    push();
  } catch (err) {
    if (err instanceof ProtocolError) throw new RelayFailure('INTERNAL_ERROR', `the agent broke the protocol: ${err.message}`);
    throw err;
  }
}
