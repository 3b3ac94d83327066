import type { AgentDialer } from '../dial/AgentDialer.js';
import { HybridVsockDialer } from '../dial/HybridVsockDialer.js';
import { NativeVsockDialer } from '../dial/NativeVsockDialer.js';
import { dialWithRetry } from '../dial/dialWithRetry.js';
import { dialerFor } from '../dial/dialerFor.js';
import type { InstanceRegistry } from '../registry/InstanceRegistry.js';
import type { ExecSession } from './ExecSession.js';
import { type ApiTarget, type AttachOptions, type Connect, type ExecOptions, attachExecSession, attachThroughApi, execThroughApi, startExecSession } from './execThroughApi.js';
import { StreamFrameTransport } from './StreamFrameTransport.js';

/** Where to run: straight at a VM's vsock, through an instance registry, or through the API server. */
export type ExecTarget =
  /** Cloud Hypervisor / Firecracker (or a HybridVsockMux): the VM's hybrid vsock Unix socket. */
  | { socketPath: string; port?: number }
  /** QEMU vhost-vsock: the guest's CID. */
  | { cid: number; port?: number }
  /** Any dialer (e.g. from `dialerFor(record)`). */
  | { dialer: AgentDialer }
  /** An instance by id or name in a data directory's registry (must be running). */
  | { registry: InstanceRegistry; instance: string }
  /** The API server's framed WebSocket (spec §8.1). */
  | ApiTarget;

/**
 * Starts a command in an instance and returns its session (stdin, stdout, stderr, resize,
 * signal, exit). One connection per session (spec §7). Rejects with a typed error when the
 * request is invalid (INVALID_REQUEST, before any connection), the instance cannot be used
 * (registry errors), the agent cannot be reached (AgentDialError) or the API refuses
 * (ApiRefusedError, ApiUnreachableError).
 *
 * ```ts
 * const s = await execInInstance({ socketPath: '/var/lib/hypeman/guests/web/vsock.sock' }, { argv: ['uname', '-a'] });
 * s.stdout.pipe(process.stdout);
 * s.closeStdin();
 * const { code } = await s.exit;
 * ```
 */
export async function execInInstance(target: ExecTarget, options: ExecOptions = {}): Promise<ExecSession> {
  if ('apiUrl' in target) return execThroughApi(target, options);
  return startExecSession(options, streamConnect(target));
}

/**
 * Attaches to a session that lingers in the instance (spec §10.6), by its id: the session
 * goes on in the returned ExecSession from the output the agent still holds (all of it, or
 * from `stdoutBytes`/`stderrBytes`). Through the API server only the subject that started
 * it may attach.
 */
export async function attachSession(target: ExecTarget, sessionId: string, options: AttachOptions = {}): Promise<ExecSession> {
  if ('apiUrl' in target) return attachThroughApi(target, sessionId, options);
  return attachExecSession(sessionId, options, streamConnect(target));
}

function streamConnect(target: Exclude<ExecTarget, ApiTarget>): Connect {
  return async (waitForAgentSeconds, signal) => {
    const stream = await dialWithRetry(await dialerOf(target), { timeoutSeconds: waitForAgentSeconds, signal });
    return new StreamFrameTransport(stream);
  };
}

/** The dialer a direct target names. */
export async function dialerOf(target: Exclude<ExecTarget, ApiTarget>): Promise<AgentDialer> {
  if ('dialer' in target) return target.dialer;
  if ('registry' in target) return dialerFor(await target.registry.getRunning(target.instance));
  if ('socketPath' in target) return new HybridVsockDialer({ socketPath: target.socketPath, port: target.port });
  return new NativeVsockDialer({ cid: target.cid, port: target.port });
}
