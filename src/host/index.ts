// hypeman-exec's library API (the package's "." export): run commands in instances from
// TypeScript, and the pieces the API server and the CLI are built from. Documented in
// src/host/README.md. The API server is not exported here: importing the library must not
// load uWebSockets.js.
export * from './client/index.js';
export type { AgentDialer } from './dial/AgentDialer.js';
export { HybridVsockDialer, MAX_HANDSHAKE_LINE, type HybridVsockDialerOptions } from './dial/HybridVsockDialer.js';
export { NativeVsockDialer, type NativeVsockDialerOptions } from './dial/NativeVsockDialer.js';
export { HybridVsockMux, MUX_MAX_CONNECTIONS, type HybridVsockMuxOptions } from './local/HybridVsockMux.js';
export { dialWithRetry, type DialWithRetryOptions } from './dial/dialWithRetry.js';
export { dialerFor } from './dial/dialerFor.js';
export * from './dial/errors.js';
export { DEFAULT_DATA_DIR, InstanceRegistry, METADATA_FILE } from './registry/InstanceRegistry.js';
export { HYPERVISORS, MAX_ID_LENGTH, checkInstanceId, type Hypervisor, type InstanceRecord, type VsockEndpoint } from './registry/InstanceRecord.js';
export * from './registry/errors.js';
export { ExitKind, type ExecRequest, type ExitStatus, type OverflowPolicy, type SessionSummary, type WindowDimensions } from '../wire/index.js';
