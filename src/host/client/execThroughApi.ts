import { type ExecRequest, ExecStartFrame } from '../../wire/index.js';
import { apiEndpoint } from './apiEndpoint.js';
import { ExecSession, type ExecSessionOptions } from './ExecSession.js';
import type { FrameTransport } from './FrameTransport.js';
import { WebSocketFrameTransport } from './WebSocketFrameTransport.js';

/** The API server's framed WebSocket (spec §8.1), for an instance by id or name. */
export interface ApiTarget {
  apiUrl: string;
  instance: string;
  token?: string;
  tokenAsSubprotocol?: boolean;
  handshakeTimeoutMs?: number;
}

export interface ExecOptions extends Partial<ExecRequest>, ExecSessionOptions {
  /** Keep trying to reach the agent for this many seconds (a booting VM). */
  waitForAgentSeconds?: number;
  /** Aborts connecting, and later the session itself (as session.abort()). */
  signal?: AbortSignal;
}

/** The WebSocket URL of an instance's exec endpoint on an API server. */
export function execUrl(apiUrl: string, instance: string, waitForAgentSeconds = 0): string {
  const url = apiEndpoint(apiUrl, `/instances/${encodeURIComponent(instance)}/exec`, 'ws');
  if (waitForAgentSeconds > 0) url.search = `?wait_for_agent=${waitForAgentSeconds}`;
  return url.toString();
}

/**
 * Starts a session over the transport `connect` opens: the request is encoded before any
 * connection exists, so that one the protocol cannot carry is refused first; `signal`
 * aborts connecting and then the session.
 */
export async function startExecSession(
  options: ExecOptions,
  connect: (waitForAgentSeconds: number, signal: AbortSignal | undefined) => Promise<FrameTransport>,
): Promise<ExecSession> {
  const { waitForAgentSeconds = 0, signal, keepAliveMs, ...request } = options;
  const execStart = ExecStartFrame.encode(request);
  const transport = await connect(waitForAgentSeconds, signal);
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

/**
 * execInInstance for an API server target, without the vsock dialers (the CLI loads only
 * this). Rejects with ApiRefusedError or ApiUnreachableError besides the session's errors.
 */
export function execThroughApi(target: ApiTarget, options: ExecOptions = {}): Promise<ExecSession> {
  return startExecSession(options, (waitForAgentSeconds, signal) =>
    WebSocketFrameTransport.connect(execUrl(target.apiUrl, target.instance, waitForAgentSeconds), {
      token: target.token,
      tokenAsSubprotocol: target.tokenAsSubprotocol,
      handshakeTimeoutMs: target.handshakeTimeoutMs,
      signal,
    }),
  );
}
