import type { InstanceRecord } from '../registry/InstanceRecord.js';
import { NoVsockConfiguredError } from '../registry/errors.js';
import type { AgentDialer } from './AgentDialer.js';
import { HybridVsockDialer } from './HybridVsockDialer.js';
import { NativeVsockDialer } from './NativeVsockDialer.js';

/** The dialer that reaches an instance's agent: hybrid vsock socket, or AF_VSOCK to its CID. */
export function dialerFor(record: InstanceRecord): AgentDialer {
  const vsock = record.vsock;
  if (!vsock) throw new NoVsockConfiguredError(record.id);
  if ('socket' in vsock) return new HybridVsockDialer({ socketPath: vsock.socket });
  return new NativeVsockDialer({ cid: vsock.cid });
}
