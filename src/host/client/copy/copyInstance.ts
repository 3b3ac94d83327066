import { ENTRY_KIND_NAMES, EntryKind, FrameType, type StatResultMessage, encodeStat } from '../../../wire/index.js';
import type { DirectTarget } from '../dialTransport.js';
import { SessionAbortedError } from '../errors.js';
import type { ApiTarget } from '../execThroughApi.js';
import type { FrameTransport } from '../FrameTransport.js';
import { WebSocketFrameTransport } from '../WebSocketFrameTransport.js';
import { apiEndpoint } from '../apiEndpoint.js';
import { CopyChannel } from './CopyChannel.js';
import type { CopyResult, CopySink, CopySource } from './CopyStreams.js';
import { LocalTreeSink } from './LocalTreeSink.js';
import { LocalTreeSource } from './LocalTreeSource.js';
import { type ProgressListener, download, upload } from './transfer.js';

/** Where to copy: an instance through the API server, or its agent straight (as execInInstance). */
export type CopyTarget = DirectTarget | ApiTarget;

export interface CopyConnectionOptions {
  /** Keep trying to reach the agent for this many seconds (a booting VM). */
  waitForAgentSeconds?: number;
  /** Aborts the copy (an upload in progress leaves no partial file). */
  signal?: AbortSignal;
  /** Called as entries and bytes go (or come), with the totals when known. */
  onProgress?: ProgressListener;
}

export interface CopyToOptions extends CopyConnectionOptions {
  /** A local file or directory (`dir/.`: its contents), or any CopySource (e.g. TarSource). */
  source: string | CopySource;
  /** Absolute path in the container: a directory the source goes into, or the source's new path. */
  destination: string;
  /** Give the copies the owners of the source (`cp -a`); otherwise the agent's user (root) owns them. */
  archive?: boolean;
  /** Follow symbolic links in a local source (`cp -L`). */
  followLinks?: boolean;
  /** Create missing directories above the destination. */
  parents?: boolean;
}

export interface CopyFromOptions extends CopyConnectionOptions {
  /** Absolute path in the container (`dir/.`: its contents). */
  source: string;
  /** A local path (a directory the source goes into, or its new path), or any CopySink (e.g. TarSink). */
  destination: string | CopySink;
  /** Follow symbolic links in the container's tree (`cp -L`), inside its root. */
  followLinks?: boolean;
  /** Give the local copies the source's owners (`cp -a`), where this process may (root). */
  archive?: boolean;
  /** Count the tree first, so that progress has totals (one more walk in the guest). */
  totals?: boolean;
}

/** What is at a path in an instance (Stat, spec §12.5). */
export interface PathStat {
  exists: boolean;
  kind: 'missing' | 'file' | 'directory' | 'symlink' | 'fifo' | 'char-device' | 'block-device' | 'socket';
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  mtimeNanoseconds: number;
  /** A symlink's target (when not followed); empty otherwise. */
  linkTarget: string;
  /** Devices: the device numbers. */
  major: number;
  minor: number;
}

/** The WebSocket URL of an instance's copy endpoint on an API server (spec §12.10). */
export function copyUrl(apiUrl: string, instance: string, waitForAgentSeconds = 0): string {
  const url = apiEndpoint(apiUrl, `/instances/${encodeURIComponent(instance)}/cp`, 'ws');
  if (waitForAgentSeconds > 0) url.search = `?wait_for_agent=${waitForAgentSeconds}`;
  return url.toString();
}

/** One connection for one operation: the API's copy WebSocket, or the agent's vsock (dialers loaded only then). */
async function connect(target: CopyTarget, options: CopyConnectionOptions): Promise<FrameTransport> {
  const wait = options.waitForAgentSeconds ?? 0;
  let transport: FrameTransport;
  if ('apiUrl' in target) {
    transport = await WebSocketFrameTransport.connect(copyUrl(target.apiUrl, target.instance, wait), {
      token: target.token,
      tokenAsSubprotocol: target.tokenAsSubprotocol,
      handshakeTimeoutMs: target.handshakeTimeoutMs,
      signal: options.signal,
      joinFrames: true,
    });
  } else {
    const { dialTransport } = await import('../dialTransport.js');
    transport = await dialTransport(target, wait, options.signal);
  }
  const signal = options.signal;
  if (signal) {
    const onAbort = () => transport.destroy(new SessionAbortedError(signal.reason));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return transport;
}

/**
 * Copies a local file or tree (or any CopySource) into an instance, as `docker cp` does:
 * into `destination` when it is a directory, else to `destination` itself. Resolves with
 * what the agent wrote; rejects with RemoteCopyError (the agent's, e.g. NO_SPACE with the
 * path), LocalCopyError (a local file), or the connection's errors.
 */
export async function copyToInstance(target: CopyTarget, options: CopyToOptions): Promise<CopyResult> {
  const source = typeof options.source === 'string' ? LocalTreeSource.open(options.source, { followLinks: options.followLinks }) : options.source;
  const transport = await connect(target, options);
  return upload(transport, { path: Buffer.from(options.destination), owners: options.archive ?? false, parents: options.parents ?? false }, source, options.onProgress);
}

/**
 * Copies a file or tree from an instance to a local path (or any CopySink), as `docker cp`
 * does. Every file's SHA-256 is checked before it gets its name; entries are never written
 * through symbolic links, so a hostile container cannot write outside `destination`.
 */
export async function copyFromInstance(target: CopyTarget, options: CopyFromOptions): Promise<CopyResult> {
  const sink = typeof options.destination === 'string' ? new LocalTreeSink(options.destination, { source: options.source, owners: options.archive }) : options.destination;
  const transport = await connect(target, options);
  return download(transport, { path: Buffer.from(options.source), follow: options.followLinks ?? false, hardlinks: true, totals: options.totals ?? false }, sink, options.onProgress);
}

/** What is at `path` in an instance, as its container sees it; `exists: false` when nothing is. */
export async function statInInstance(target: CopyTarget, path: string, options: Omit<CopyConnectionOptions, 'onProgress'> & { followLinks?: boolean } = {}): Promise<PathStat> {
  const transport = await connect(target, options);
  const request = { type: FrameType.Stat, version: 1, path: Buffer.from(path), follow: options.followLinks ?? false } as const;
  let result: StatResultMessage | null = null;
  const channel = new CopyChannel(transport, request, encodeStat(request), (m) => {
    if (m.type === FrameType.StatResult) result = m;
  });
  await channel.ended;
  const r = result! as StatResultMessage;
  return {
    exists: r.kind !== EntryKind.Missing,
    kind: ENTRY_KIND_NAMES[r.kind] as PathStat['kind'],
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    size: r.size ?? 0,
    mtime: new Date(r.mtimeSeconds * 1000 + Math.floor(r.mtimeNanoseconds / 1e6)),
    mtimeNanoseconds: r.mtimeNanoseconds,
    linkTarget: Buffer.from(r.link).toString('utf8'),
    major: r.major,
    minor: r.minor,
  };
}
