export { ExecSession, signalNumber, type ExecSessionOptions, type SignalSpec, type StartedInfo } from './ExecSession.js';
export { execInInstance, type ExecTarget } from './execInInstance.js';
export { getInstance, listInstances, type ApiConnection, type ApiInstance } from './instances.js';
export { execThroughApi, execUrl, type ApiTarget, type ExecOptions } from './execThroughApi.js';
export { FrameTransportBase, type FrameTransport, type FrameTransportEvents } from './FrameTransport.js';
export { StreamFrameTransport } from './StreamFrameTransport.js';
export { WebSocketFrameTransport, type WebSocketConnectOptions } from './WebSocketFrameTransport.js';
export * from './errors.js';
