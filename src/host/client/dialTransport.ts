import type { AgentDialer } from '../dial/AgentDialer.js';
import { HybridVsockDialer } from '../dial/HybridVsockDialer.js';
import { NativeVsockDialer } from '../dial/NativeVsockDialer.js';
import { dialWithRetry } from '../dial/dialWithRetry.js';
import { dialerFor } from '../dial/dialerFor.js';
import type { InstanceRegistry } from '../registry/InstanceRegistry.js';
import type { FrameTransport } from './FrameTransport.js';
import { StreamFrameTransport } from './StreamFrameTransport.js';

/** An agent reached without the API server: a VM's vsock, a dialer, or an instance of a registry. */
export type DirectTarget =
  /** Cloud Hypervisor / Firecracker (or a HybridVsockMux): the VM's hybrid vsock Unix socket. */
  | { socketPath: string; port?: number }
  /** QEMU vhost-vsock: the guest's CID. */
  | { cid: number; port?: number }
  /** Any dialer (e.g. from `dialerFor(record)`). */
  | { dialer: AgentDialer }
  /** An instance by id or name in a data directory's registry (must be running). */
  | { registry: InstanceRegistry; instance: string };

/** A connection to the target's agent (vsock port 2222), retried for `waitForAgentSeconds`, carrying frames. */
export async function dialTransport(target: DirectTarget, waitForAgentSeconds: number, signal: AbortSignal | undefined): Promise<FrameTransport> {
  const stream = await dialWithRetry(await dialerOf(target), { timeoutSeconds: waitForAgentSeconds, signal });
  return new StreamFrameTransport(stream);
}

/** The dialer a direct target names. */
export async function dialerOf(target: DirectTarget): Promise<AgentDialer> {
  if ('dialer' in target) return target.dialer;
  if ('registry' in target) return dialerFor(await target.registry.getRunning(target.instance));
  if ('socketPath' in target) return new HybridVsockDialer({ socketPath: target.socketPath, port: target.port });
  return new NativeVsockDialer({ cid: target.cid, port: target.port });
}
