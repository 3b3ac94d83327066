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
    if (answer.type === FrameType.Error) {
      record.end('error', { error: answer.code, reason: answer.message });
      return { ...NOTHING, error: answer.message };
    }
    record.end('ok');
    if (answer.type !== FrameType.StatResult || answer.kind === EntryKind.Missing) return NOTHING;
    return {
      exists: true,
      is_dir: answer.kind === EntryKind.Directory,
      is_file: answer.kind === EntryKind.File,
      is_symlink: answer.kind === EntryKind.Symlink,
      link_target: Buffer.from(answer.link).toString('utf8'),
      // Go's FileMode.Perm(): the permission bits only, as the original reports them.
      mode: answer.mode & 0o777,
      size: answer.size ?? 0,
    };
  } catch (error) {
    record.end('error', { error: (error as CodedError).code ?? 'INTERNAL_ERROR', reason: (error as Error).message });
    throw error;
  } finally {
    clearTimeout(timer);
    agent?.destroy();
  }
}

/** Sends Stat and waits for the agent's one answer: StatResult, or Error. */
function exchange(agent: Duplex, query: StatQuery, signal: AbortSignal, instance: string): Promise<Message> {
  return new Promise((resolve, reject) => {
    const state = new CopySessionState();
    const request = { type: FrameType.Stat, version: 1, path: Buffer.from(query.path), follow: query.followLinks } as const;
    state.clientFrame(request);
    const decoder = new FrameDecoder((frame) => {
      const m = parseFrame(frame);
      if (state.agentFrame(m) && state.ended) resolve(m);
    });
    const gone = () => reject(new ApiError(502, 'AGENT_DISCONNECTED', `the agent of instance ${instance} closed the connection without an answer`));
    signal.addEventListener('abort', () => reject(new ApiError(504, 'PEER_UNRESPONSIVE', `the agent of instance ${instance} did not answer in time; the VM may be frozen or overloaded`)), { once: true });
    agent.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        reject(new ApiError(502, 'AGENT_DISCONNECTED', `the agent broke the protocol: ${(error as ProtocolError).message}`));
      }
    });
    agent.on('end', gone);
    agent.on('close', gone);
    agent.on('error', gone);
    agent.resume();
    agent.write(encodeStat(request));
  });
}
