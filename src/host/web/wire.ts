// The codec pieces the page uses, from their own modules: the wire's index also exports
// KeepAlive, whose timers are Node's (unref), which a browser's type-check rejects.
export { DEFAULT_MAX_PAYLOAD, ExitKind, FrameType, INITIAL_STDIN_CREDIT, SignalNumber, WEBSOCKET_SUBPROTOCOL } from '../../wire/constants.js';
export { errorOfCloseCode } from '../../wire/closeCodes.js';
export { decodeSingleFrame } from '../../wire/decoder.js';
export { encodeDataFrame, encodeError, encodeExecStart, encodePong, encodeWindowSize } from '../../wire/encoder.js';
export { ResumableSession } from '../../wire/ResumableSession.js';
export { RESUMABLE_ERROR_CODES, RESUME_ATTEMPT_TIMEOUT_MS, reconnectDelayMs } from '../../wire/resumePolicy.js';
export type { ExecRequest, ExitStatus, SessionSummary } from '../../wire/messages.js';
export { parseFrame } from '../../wire/parser.js';
export { encodeUtf8 } from '../../wire/text.js';
