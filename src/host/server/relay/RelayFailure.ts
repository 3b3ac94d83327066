import { CodedError, type ErrorCodeName } from '../../../wire/index.js';

/** A failure the relay ends the session with: an Error frame (or JSON) with this code, then close 4000 + code. */
export class RelayFailure extends CodedError<ErrorCodeName> {}
