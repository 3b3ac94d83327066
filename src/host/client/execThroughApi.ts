import { type ExecRequest, ExecStartFrame, InvalidRequestError } from '../../wire/index.js';
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

/** Opens a transport to the agent, waiting for it up to `waitForAgentSeconds` (0: one attempt). */
export type Connect = (waitForAgentSeconds: number, signal: AbortSignal | undefined) => Promise<FrameTransport>;

/**
 * Starts a session over the transport `connect` opens: the request is encoded before any
 * connection exists, so that one the protocol cannot carry is refused first; `signal`
 * aborts connecting and then the session. A lingering session reconnects with `connect`.
 */
export async function startExecSession(options: ExecOptions, connect: Connect): Promise<ExecSession> {
  const { waitForAgentSeconds = 0, signal, keepAliveMs, ...request } = options;
  return openSession(ExecStartFrame.encode(request), { waitForAgentSeconds, signal, keepAliveMs }, connect);
}

/** What attaching to a session takes besides its id (spec §10.6). */
export interface AttachOptions extends ExecSessionOptions {
  waitForAgentSeconds?: number;
  signal?: AbortSignal;
  /** Output already received: the session goes on from here (default 0: all the agent still holds). */
  stdoutBytes?: number;
  stderrBytes?: number;
  /**
   * Observe (spec §10.11): output only, from the current point unless `replay`; what this
   * client sends is dropped (it is told once, a 'notice' event). Through the API server, the
   * owner's subject, or one whose token's `observe` claim covers the instance, may observe.
   */
  readOnly?: boolean;
  /** With `readOnly`: start from the offsets (all the agent still holds), not the current point. */
  replay?: boolean;
  /**
   * Take the session over as its writer: the writer attached now becomes an observer (told
   * by a 'notice' event). Without it, attaching while another writer is attached is refused
   * with SESSION_BUSY.
   */
  takeOver?: boolean;
}

/**
 * Attaches to a session that lingers (spec §10.6), by its id (hex, as `session.id` and the
 * session list give it): a new ExecSession that starts with Resumed, the output the agent
 * still holds from the given offsets, then live output; stdin writes go to the command, as
 * its writer (refused SESSION_BUSY while another writer is attached, unless `takeOver`), or
 * nowhere (`readOnly`, spec §10.11). Rejects (through `started` and `exit`) with
 * SESSION_NOT_FOUND, SESSION_FORBIDDEN, SESSION_BUSY…
 */
export async function attachExecSession(sessionId: string, options: AttachOptions, connect: Connect): Promise<ExecSession> {
  if (!/^[0-9a-fA-F]{32}$/.test(sessionId)) throw new InvalidRequestError(`a session id is 32 hex digits, got ${JSON.stringify(sessionId)}`);
  const { waitForAgentSeconds = 0, signal, keepAliveMs, stdoutBytes = 0, stderrBytes = 0, readOnly = false, replay = false, takeOver = false } = options;
  if (readOnly && takeOver) throw new InvalidRequestError('an attach is read-only or takes the session over, not both');
  const attach = readOnly ? { mode: 'observe' as const, live: !replay, anyOwner: false } : { mode: takeOver ? ('take-over' as const) : ('write' as const), live: false, anyOwner: false };
  const frame = ExecStartFrame.encode({ resume: { sessionId: Uint8Array.from(Buffer.from(sessionId, 'hex')), stdoutBytes, stderrBytes, attach } });
  return openSession(frame, { waitForAgentSeconds, signal, keepAliveMs }, connect);
}

async function openSession(
  execStart: ExecStartFrame,
  { waitForAgentSeconds, signal, keepAliveMs }: { waitForAgentSeconds: number; signal: AbortSignal | undefined; keepAliveMs: number | undefined },
  connect: Connect,
): Promise<ExecSession> {
  const transport = await connect(waitForAgentSeconds, signal);
  const reconnect = (stop: AbortSignal) => connect(0, signal ? AbortSignal.any([stop, signal]) : stop);
  const session = new ExecSession(transport, execStart, { keepAliveMs, reconnect });
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

function apiConnect(target: ApiTarget): Connect {
  return (waitForAgentSeconds, signal) =>
    WebSocketFrameTransport.connect(execUrl(target.apiUrl, target.instance, waitForAgentSeconds), {
      token: target.token,
      tokenAsSubprotocol: target.tokenAsSubprotocol,
      handshakeTimeoutMs: target.handshakeTimeoutMs,
      signal,
    });
}

/**
 * execInInstance for an API server target, without the vsock dialers (the CLI loads only
 * this). Rejects with ApiRefusedError or ApiUnreachableError besides the session's errors.
 */
export function execThroughApi(target: ApiTarget, options: ExecOptions = {}): Promise<ExecSession> {
  return startExecSession(options, apiConnect(target));
}

/** attachSession for an API server target, without the vsock dialers (the CLI's attach). */
export function attachThroughApi(target: ApiTarget, sessionId: string, options: AttachOptions = {}): Promise<ExecSession> {
  return attachExecSession(sessionId, options, apiConnect(target));
}
