import { CodedError, type ErrorCodeName } from '../wire/index.js';

/**
 * A failure that ends one session with an Error frame (spec §3.3, §5). `code` is the
 * protocol's stable name; the message goes to the client as is.
 */
export class SessionError extends CodedError<ErrorCodeName> {}

export type AgentStartErrorCode = 'INVALID_OPTION' | 'LISTEN_FAILED' | 'SPAWN_HELPER_MISSING';

/** The agent cannot start: an option is wrong, an address cannot be listened on, a file is missing. */
export class AgentStartError extends CodedError<AgentStartErrorCode> {}
