import type { InstanceRecord } from '../registry/InstanceRecord.js';
import { NoVsockConfiguredError } from '../registry/errors.js';
import type { AgentDialer } from './AgentDialer.js';
import { HybridVsockDialer } from './HybridVsockDialer.js';
import { NativeVsockDialer } from './NativeVsockDialer.js';

/**
 * The dialer that reaches an instance's agent: hybrid vsock socket, or AF_VSOCK to its CID.
 * `sharedReads`: hybrid connections are read into the shared buffer (see SharedReads), for an
 * owner that consumes each chunk at once (the API server's relay).
 */
export function dialerFor(record: InstanceRecord, options: { sharedReads?: boolean } = {}): AgentDialer {
  const vsock = record.vsock;
  if (!vsock) throw new NoVsockConfiguredError(record.id);
  if ('socket' in vsock) return new HybridVsockDialer({ socketPath: vsock.socket, sharedReads: options.sharedReads });
  return new NativeVsockDialer({ cid: vsock.cid });
}
