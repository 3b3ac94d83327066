import { type ExecRequest, ExecStartFrame } from '../../wire/index.js';
import type { AgentDialer } from '../dial/AgentDialer.js';
import { HybridVsockDialer } from '../dial/HybridVsockDialer.js';
import { NativeVsockDialer } from '../dial/NativeVsockDialer.js';
import { dialWithRetry } from '../dial/dialWithRetry.js';
import { dialerFor } from '../dial/dialerFor.js';
import type { InstanceRegistry } from '../registry/InstanceRegistry.js';
import { InvalidApiUrlError } from './errors.js';
import { ExecSession, type ExecSessionOptions } from './ExecSession.js';
import type { FrameTransport } from './FrameTransport.js';
import { StreamFrameTransport } from './StreamFrameTransport.js';
import { WebSocketFrameTransport } from './WebSocketFrameTransport.js';

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
  | { apiUrl: string; instance: string; token?: string; tokenAsSubprotocol?: boolean; handshakeTimeoutMs?: number };

export interface ExecOptions extends Partial<ExecRequest>, ExecSessionOptions {
  /** Keep trying to reach the agent for this many seconds (a booting VM). */
  waitForAgentSeconds?: number;
  /** Aborts connecting, and later the session itself (as session.abort()). */
  signal?: AbortSignal;
}

/** The WebSocket URL of an instance's exec endpoint on an API server. */
export function execUrl(apiUrl: string, instance: string, waitForAgentSeconds = 0): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch (err) {
    throw new InvalidApiUrlError(apiUrl, err);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new InvalidApiUrlError(apiUrl, new Error(`the scheme ${url.protocol} is not http, https, ws or wss`));
  }
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/instances/${encodeURIComponent(instance)}/exec`;
  url.search = waitForAgentSeconds > 0 ? `?wait_for_agent=${waitForAgentSeconds}` : '';
  return url.toString();
}

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
  const { waitForAgentSeconds = 0, signal, keepAliveMs, ...request } = options;
  // Encoded before a connection exists, so that a request the protocol cannot carry is refused first.
  const execStart = ExecStartFrame.encode(request);
  const transport = await connectTransport(target, waitForAgentSeconds, signal);
  const session = new ExecSession(transport, execStart, { keepAliveMs });
  if (signal) {
    const onAbort = () => session.abort(signal.reason);
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      const forget = () => signal.removeEventListener('abort', onAbort);
      session.exit.then(forget, forget);
    }
  }
  return session;
}

async function connectTransport(target: ExecTarget, waitForAgentSeconds: number, signal: AbortSignal | undefined): Promise<FrameTransport> {
  if ('apiUrl' in target) {
    return WebSocketFrameTransport.connect(execUrl(target.apiUrl, target.instance, waitForAgentSeconds), {
      token: target.token,
      tokenAsSubprotocol: target.tokenAsSubprotocol,
      handshakeTimeoutMs: target.handshakeTimeoutMs,
      signal,
    });
  }
  const stream = await dialWithRetry(await dialerOf(target), { timeoutSeconds: waitForAgentSeconds, signal });
  return new StreamFrameTransport(stream);
}

async function dialerOf(target: Exclude<ExecTarget, { apiUrl: string }>): Promise<AgentDialer> {
  if ('dialer' in target) return target.dialer;
  if ('registry' in target) return dialerFor(await target.registry.getRunning(target.instance));
  if ('socketPath' in target) return new HybridVsockDialer({ socketPath: target.socketPath, port: target.port });
  return new NativeVsockDialer({ cid: target.cid, port: target.port });
}
