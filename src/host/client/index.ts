export { ExecSession, signalNumber, type ExecSessionOptions, type SignalSpec, type StartedInfo } from './ExecSession.js';
export { execInInstance, execUrl, type ExecOptions, type ExecTarget } from './execInInstance.js';
export { FrameTransportBase, type FrameTransport, type FrameTransportEvents } from './FrameTransport.js';
export { StreamFrameTransport } from './StreamFrameTransport.js';
export { WebSocketFrameTransport, type WebSocketConnectOptions } from './WebSocketFrameTransport.js';
export * from './errors.js';
