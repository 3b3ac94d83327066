export { ExecSession, signalNumber, type ExecSessionOptions, type ReconnectingEvent, type ResumedEvent, type SignalSpec, type StartedInfo } from './ExecSession.js';
export { attachSession, execInInstance, type ExecTarget } from './execInInstance.js';
export { getInstance, listApiSessions, listInstances, type ApiConnection, type ApiInstance } from './instances.js';
export { listSessions } from './listSessions.js';
export { attachThroughApi, execThroughApi, execUrl, type ApiTarget, type AttachOptions, type ExecOptions } from './execThroughApi.js';
export { FrameTransportBase, type FrameTransport, type FrameTransportEvents } from './FrameTransport.js';
export { StreamFrameTransport } from './StreamFrameTransport.js';
export { WebSocketFrameTransport, type WebSocketConnectOptions } from './WebSocketFrameTransport.js';
export * from './errors.js';
