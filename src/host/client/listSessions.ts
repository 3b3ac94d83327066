import { FrameDecoder, FrameType, ProtocolError, type SessionSummary, encodeListSessions, parseFrame } from '../../wire/index.js';
import { dialWithRetry } from '../dial/dialWithRetry.js';
import { ClientProtocolError, ConnectionLostError, RemoteExecError } from './errors.js';
import { dialerOf } from './dialTransport.js';
import type { ExecTarget } from './execInInstance.js';
import { listApiSessions } from './instances.js';

/**
 * The sessions an agent keeps (spec §10.8): through the API server, the token subject's
 * own (GET /instances/{id}/sessions); straight at a VM's agent, every session, or those of
 * `owner`. Each: id, pid, argv, owner, tty, startedAt, state (attached, detached, exited),
 * exitCode, lingerSeconds, detachedAt.
 */
export async function listSessions(target: ExecTarget, options: { owner?: string; timeoutMs?: number } = {}): Promise<SessionSummary[]> {
  if ('apiUrl' in target) return listApiSessions({ apiUrl: target.apiUrl, token: target.token, timeoutMs: options.timeoutMs }, target.instance);
  const stream = await dialWithRetry(await dialerOf(target), { timeoutSeconds: 0 });
  try {
    return await new Promise<SessionSummary[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectionLostError('the agent did not answer ListSessions')), options.timeoutMs ?? 10_000);
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      const decoder = new FrameDecoder((frame) => {
        const m = parseFrame(frame);
        if (m.type === FrameType.SessionList) settle(() => resolve(m.sessions));
        else if (m.type === FrameType.Error) settle(() => reject(new RemoteExecError(m.code, m.wireCode, m.message, m.supportedVersions)));
        else settle(() => reject(new ClientProtocolError(`the agent answered ListSessions with frame type 0x${frame.type.toString(16)}`)));
      });
      stream.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk);
        } catch (err) {
          settle(() => reject(err instanceof ProtocolError ? new ClientProtocolError(`the agent broke the protocol: ${err.message}`, err) : err));
        }
      });
      stream.on('error', (err) => settle(() => reject(new ConnectionLostError(err.message, err))));
      stream.on('close', () => settle(() => reject(new ConnectionLostError('the agent closed the connection without a SessionList'))));
      stream.write(encodeListSessions(options.owner ?? ''));
      stream.resume();
    });
  } finally {
    stream.destroy();
  }
}
