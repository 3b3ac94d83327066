import type { Duplex } from 'node:stream';
import {
  CodedError,
  CopySessionState,
  EntryKind,
  FrameDecoder,
  FrameType,
  type Message,
  ProtocolError,
  encodeStat,
  parseFrame,
} from '../../wire/index.js';
import { readSharedChunks } from '../dial/SharedReads.js';
import { ApiError, BadRequestError } from './errors.js';
import { parseWaitForAgent } from './ExecRequestParams.js';
import type { CopyRecord } from './relay/copy/CopyRecord.js';

/** `GET /instances/{id}/stat?path=&follow_links=` (spec §12.10.3). */
export interface StatQuery {
  path: string;
  followLinks: boolean;
  waitForAgentSeconds: number;
}

/** The original platform's PathInfo, as its clients read it. */
export interface PathInfo {
  exists: boolean;
  is_dir: boolean;
  is_file: boolean;
  is_symlink: boolean;
  link_target: string;
  mode: number;
  size: number;
  error?: string;
}

export function parseStatQuery(query: URLSearchParams): StatQuery {
  const path = query.get('path');
  if (!path) throw new BadRequestError('path is required: GET /instances/{id}/stat?path=/absolute/path');
  if (path.includes('\0')) throw new BadRequestError('path must not contain NUL');
  const follow = query.get('follow_links') ?? 'false';
  if (!['true', 'false', '1', '0', ''].includes(follow)) throw new BadRequestError(`follow_links must be true or false, got ${JSON.stringify(follow)}`);
  return { path, followLinks: follow === 'true' || follow === '1', waitForAgentSeconds: parseWaitForAgent(query.get('wait_for_agent') ?? undefined) };
}

const NOTHING: PathInfo = { exists: false, is_dir: false, is_file: false, is_symlink: false, link_target: '', mode: 0, size: 0 };

export interface StatOptions {
  query: StatQuery;
  connectAgent(waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex>;
  /** How long the agent may take to answer once reached. */
  timeoutMs: number;
  instance: string;
  record: CopyRecord;
}

/**
 * One Stat operation (§12.5) through the instance's agent, answered as the original's
 * PathInfo: a path that is not there is `exists: false`; a failure to look (a component
 * not a directory, permission) is `exists: false` with its `error`, as the original says it.
 * Failing to reach or hear the agent is an ApiError (502 or 504).
 */
export async function statInstancePath(options: StatOptions): Promise<PathInfo> {
  const { record, query } = options;
  record.operation = 'stat';
  record.path = query.path;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs + query.waitForAgentSeconds * 1000);
  let agent: Duplex | null = null;
  try {
    try {
      agent = await options.connectAgent(query.waitForAgentSeconds, abort.signal);
    } catch (error) {
      if (error instanceof CodedError && error.code === 'INSTANCE_NOT_RUNNING') throw new ApiError(409, 'INSTANCE_NOT_RUNNING', error.message);
      throw new ApiError(502, 'AGENT_UNREACHABLE', `cannot reach the agent of instance ${options.instance}: ${(error as Error).message}`);
    }
    const answer = await exchange(agent, query, abort.signal, options.instance);
    if (answer.error !== undefined) record.end('error', { error: answer.code, reason: answer.error });
    else record.end('ok');
    return answer.info;
  } catch (error) {
    record.end('error', { error: (error as CodedError).code ?? 'INTERNAL_ERROR', reason: (error as Error).message });
    throw error;
  } finally {
    clearTimeout(timer);
    agent?.destroy();
  }
}

/** PathInfo of the agent's answer: StatResult, or an Error (the original says `exists: false` and the error). */
function pathInfoOf(m: Message): { info: PathInfo; error?: string; code?: string } {
  if (m.type === FrameType.Error) return { info: { ...NOTHING, error: m.message }, error: m.message, code: m.code };
  if (m.type !== FrameType.StatResult || m.kind === EntryKind.Missing) return { info: NOTHING };
  return {
    info: {
      exists: true,
      is_dir: m.kind === EntryKind.Directory,
      is_file: m.kind === EntryKind.File,
      is_symlink: m.kind === EntryKind.Symlink,
      link_target: Buffer.from(m.link).toString('utf8'),
      // Go's FileMode.Perm(): the permission bits only, as the original reports them.
      mode: m.mode & 0o777,
      size: m.size ?? 0,
    },
  };
}

/** Sends Stat and waits for the agent's one answer: StatResult, or Error. */
function exchange(agent: Duplex, query: StatQuery, signal: AbortSignal, instance: string): Promise<ReturnType<typeof pathInfoOf>> {
  return new Promise((resolve, reject) => {
    const state = new CopySessionState();
    const request = { type: FrameType.Stat, version: 1, path: Buffer.from(query.path), follow: query.followLinks } as const;
    state.clientFrame(request);
    // Read at once: the frame may be a view of the shared read buffer (SharedReads).
    const decoder = new FrameDecoder((frame) => {
      const m = parseFrame(frame);
      if (state.agentFrame(m) && state.ended) resolve(pathInfoOf(m));
    });
    const gone = () => reject(new ApiError(502, 'AGENT_DISCONNECTED', `the agent of instance ${instance} closed the connection without an answer`));
    signal.addEventListener('abort', () => reject(new ApiError(504, 'PEER_UNRESPONSIVE', `the agent of instance ${instance} did not answer in time; the VM may be frozen or overloaded`)), { once: true });
    const onChunk = (chunk: Uint8Array) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        reject(new ApiError(502, 'AGENT_DISCONNECTED', `the agent broke the protocol: ${(error as ProtocolError).message}`));
      }
    };
    if (!readSharedChunks(agent, onChunk)) agent.on('data', onChunk);
    agent.on('end', gone);
    agent.on('close', gone);
    agent.on('error', gone);
    agent.resume();
    agent.write(encodeStat(request));
  });
}
