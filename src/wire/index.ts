// The exec protocol codec (spec/PROTOCOL.md). Pure: no sockets, processes or logging.
export * from './constants.js';
export * from './errors.js';
export * from './messages.js';
export { FrameDecoder, checkFrameHeader, decodeAll, decodeSingleFrame, frameTypeOf, payloadLengthOf } from './decoder.js';
export type { FrameDecoderOptions, RawFrame } from './decoder.js';
export * from './encoder.js';
export { parseExecStart, parseFrame, parseListSessions, parseSessionList, sessionSummaries } from './parser.js';
export { ExecSessionState, type SessionStart } from './session.js';
export { decodeUtf8, encodeUtf8, truncateUtf8 } from './text.js';
export { KeepAlive } from './keepalive.js';
export { closeCodeForError, errorOfCloseCode } from './closeCodes.js';
export { ExecStartFrame } from './execStartFrame.js';
export { ResumableSession, type ResumeSteps } from './ResumableSession.js';
export { StdinJournal } from './StdinJournal.js';
