import type { Duplex } from 'node:stream';
import { FrameDecoder, FrameType, type SessionSummary, encodeListSessions, parseFrame } from '../../wire/index.js';
import { readSharedChunks } from '../dial/SharedReads.js';
import { AgentUnreachableApiError } from './errors.js';

/** How long the agent has to answer ListSessions. */
export const LIST_TIMEOUT_MS = 10_000;

/**
 * `GET /instances/{id}/sessions` (spec §8.4, §10.8): one connection to the instance's agent
 * carrying ListSessions with the token's subject as the owner, so that a subject sees only
 * its own sessions; the SessionList, checked, is the answer. Failures are ApiErrors: 502 the
 * agent cannot be reached or broke off, 501 it speaks version 1 only, 504 it did not answer.
 */
export async function listAgentSessions(
  instance: string,
  owner: string,
  connect: (signal: AbortSignal) => Promise<Duplex>,
  timeoutMs: number = LIST_TIMEOUT_MS,
): Promise<SessionSummary[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let agent: Duplex | undefined;
  try {
    agent = await connect(abort.signal).catch((err: Error) => {
      throw new AgentUnreachableApiError(instance, `cannot be reached: ${err.message}`);
    });
    return await new Promise<SessionSummary[]>((resolve, reject) => {
      const stream = agent!;
      const fail = (detail: string, status?: number, code?: string) => reject(new AgentUnreachableApiError(instance, detail, status, code));
      abort.signal.addEventListener('abort', () => fail(`did not answer within ${timeoutMs / 1000} s`, 504, 'PEER_UNRESPONSIVE'));
      const decoder = new FrameDecoder((frame) => {
        const m = parseFrame(frame);
        if (m.type === FrameType.SessionList) resolve(m.sessions.filter((s) => s.owner === owner));
        else if (m.type === FrameType.Error && (m.code === 'UNKNOWN_FRAME_TYPE' || m.code === 'UNSUPPORTED_VERSION')) {
          fail('speaks protocol version 1 only: it keeps no sessions to list (its image needs a newer agent)', 501, 'UNSUPPORTED_VERSION');
        } else if (m.type === FrameType.Error) fail(`refused: ${m.message} (${m.code})`);
        else fail(`answered ListSessions with frame type 0x${frame.type.toString(16)}`);
      });
      const onChunk = (chunk: Uint8Array) => {
        try {
          decoder.push(chunk);
        } catch (err) {
          fail(`broke the protocol: ${(err as Error).message}`);
        }
      };
      if (!readSharedChunks(stream, onChunk)) stream.on('data', onChunk);
      stream.on('error', (err) => fail(`closed the connection: ${err.message}`));
      stream.on('close', () => fail('closed the connection without an answer'));
      stream.write(encodeListSessions(owner));
      stream.resume();
    });
  } finally {
    clearTimeout(timer);
    agent?.destroy();
  }
}
