import { type DirectTarget, dialTransport } from './dialTransport.js';
import type { ExecSession } from './ExecSession.js';
import { type ApiTarget, type AttachOptions, type ExecOptions, attachExecSession, attachThroughApi, execThroughApi, startExecSession } from './execThroughApi.js';

/** Where to run: straight at a VM's vsock, through an instance registry, or through the API server. */
export type ExecTarget =
  | DirectTarget
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
  return startExecSession(options, (waitForAgentSeconds, signal) => dialTransport(target, waitForAgentSeconds, signal));
}

/**
 * Attaches to a session that lingers in the instance (spec §10.6), by its id: the session
 * goes on in the returned ExecSession from the output the agent still holds (all of it, or
 * from `stdoutBytes`/`stderrBytes`), as its writer (`takeOver` to take it from another
 * writer) or as an observer (`readOnly`, spec §10.11). Through the API server only the
 * subject that started it may write to it; it, or a token whose `observe` claim covers the
 * instance, may observe it.
 */
export async function attachSession(target: ExecTarget, sessionId: string, options: AttachOptions = {}): Promise<ExecSession> {
  if ('apiUrl' in target) return attachThroughApi(target, sessionId, options);
  return attachExecSession(sessionId, options, (waitForAgentSeconds, signal) => dialTransport(target, waitForAgentSeconds, signal));
}
