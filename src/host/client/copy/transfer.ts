import { createHash, type Hash } from 'node:crypto';
import {
  type CopyFromRequest,
  type CopyToRequest,
  EntryKind,
  FrameType,
  type Message,
  encodeCopyFrom,
  encodeCopyTo,
  encodeCounts,
  encodeEntry,
  encodeEntryEnd,
} from '../../../wire/index.js';
import { LocalCopyError } from '../errors.js';
import type { FrameTransport } from '../FrameTransport.js';
import { type AgentCopyFrame, CopyChannel } from './CopyChannel.js';
import type { CopyProgress, CopyResult, CopySink, CopySource } from './CopyStreams.js';
import { shownPath } from './localPaths.js';

/** Received bytes that may wait for the sink before reading pauses; reading resumes below a quarter. */
const SINK_HIGH_WATER = 8 * 1024 * 1024;

export type ProgressListener = (progress: CopyProgress) => void;

/**
 * An upload (CopyTo, spec §12.3) of `source` over `transport`: every entry, a file's bytes
 * with their SHA-256, UploadEnd; resolves with the agent's CopyResult. A local failure ends
 * the operation (the agent leaves no partial file) and is thrown; so is the agent's Error.
 */
export async function upload(transport: FrameTransport, request: Omit<CopyToRequest, 'name'>, source: CopySource, onProgress?: ProgressListener): Promise<CopyResult> {
  const copyTo = { type: FrameType.CopyTo, version: 1, ...request, name: source.name } as const;
  let result: CopyResult | null = null;
  const channel = new CopyChannel(transport, copyTo, encodeCopyTo(copyTo), (m) => {
    if (m.type === FrameType.CopyResult) result = { entries: m.entries, bytes: m.bytes };
  });
  const progress: CopyProgress = { entries: 0, bytes: 0, totalBytes: source.totalBytes };
  try {
    for await (const entry of source.entries()) {
      if (channel.failure) break;
      const m = { type: FrameType.UploadEntry, ...entry } as const;
      channel.send(m, encodeEntry(FrameType.UploadEntry, m));
      progress.entries++;
      if (entry.kind === EntryKind.File) {
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of entry.data?.() ?? []) {
          if (channel.failure) break;
          hash.update(chunk);
          await channel.sendData(chunk);
          size += chunk.length;
          progress.bytes += chunk.length;
          onProgress?.(progress);
        }
        if (channel.failure) break;
        if (entry.size !== null && size !== entry.size) {
          throw new LocalCopyError('FILE_CHANGED', `${shownPath(entry.path)} changed size while it was read (${entry.size} bytes, then ${size}); retry`, shownPath(entry.path));
        }
        const sha256 = hash.digest();
        channel.send({ type: FrameType.UploadEntryEnd, sha256 }, encodeEntryEnd(FrameType.UploadEntryEnd, sha256));
      }
      onProgress?.(progress);
    }
    if (!channel.failure) {
      channel.send({ type: FrameType.UploadEnd, entries: progress.entries, bytes: progress.bytes }, encodeCounts(FrameType.UploadEnd, progress.entries, progress.bytes));
    }
  } catch (error) {
    channel.fail(error as Error);
  }
  await channel.ended;
  return result!;
}

/**
 * A download (CopyFrom, spec §12.4) of the tree at the request's path into `sink`: each
 * file's bytes are checked against their SHA-256 before the sink is told the file is
 * complete; reading pauses while the sink is behind. Resolves with the entries and bytes
 * received; a failure on either side aborts the sink and is thrown.
 */
export async function download(transport: FrameTransport, request: CopyFromRequest, sink: CopySink, onProgress?: ProgressListener): Promise<CopyResult> {
  const copyFrom = { type: FrameType.CopyFrom, version: 1, ...request } as const;
  const progress: CopyProgress = { entries: 0, bytes: 0 };
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;
  let paused = false;
  let hash: Hash | null = null;
  let channel: CopyChannel | null = null;
  let failure: Error | null = null;
  const failLocally = (error: Error) => {
    failure ??= error;
    channel?.fail(error);
  };
  const task = (run: () => void | Promise<void>, bytes = 0) => {
    waiting += bytes;
    if (!paused && waiting > SINK_HIGH_WATER) {
      paused = true;
      channel?.pauseReading();
    }
    queue = queue.then(async () => {
      if (failure !== null || channel?.failure) return;
      try {
        await run();
      } catch (error) {
        failLocally(error as Error);
      } finally {
        waiting -= bytes;
        if (paused && waiting < SINK_HIGH_WATER / 4) {
          paused = false;
          channel?.resumeReading();
        }
      }
    });
  };
  const onFrame = (m: AgentCopyFrame): void => {
    switch (m.type) {
      case FrameType.DownloadTotals:
        progress.totalEntries = m.entries;
        progress.totalBytes = m.bytes;
        onProgress?.(progress);
        return;
      case FrameType.DownloadEntry: {
        const { type: _type, ...entry } = m;
        progress.entries++;
        if (m.kind === EntryKind.File) hash = createHash('sha256');
        // The entry's arrays are views of the transport's buffers: the sink may keep them.
        task(() => sink.entry({ ...entry, path: Uint8Array.from(entry.path), link: Uint8Array.from(entry.link) }));
        return;
      }
      case FrameType.DownloadData: {
        hash!.update(m.data);
        progress.bytes += m.data.length;
        const data = m.data;
        task(() => sink.data(data), data.length);
        onProgress?.(progress);
        return;
      }
      case FrameType.DownloadEntryEnd: {
        const digest = hash!.digest();
        hash = null;
        if (!digest.equals(m.sha256)) {
          failLocally(new LocalCopyError('CHECKSUM_MISMATCH', `the data that came for a file does not match its SHA-256 (${Buffer.from(m.sha256).toString('hex').slice(0, 16)}… sent, ${digest.toString('hex').slice(0, 16)}… received); nothing was written under its name`));
          return;
        }
        task(() => sink.fileEnd());
        return;
      }
    }
  };
  channel = new CopyChannel(transport, copyFrom as Message, encodeCopyFrom(copyFrom), onFrame);
  try {
    await channel.ended;
  } catch (error) {
    failure ??= error as Error;
  }
  await queue;
  if (failure === null) {
    try {
      await sink.finish();
      return { entries: progress.entries, bytes: progress.bytes };
    } catch (error) {
      failure = error as Error;
    }
  }
  await sink.abort(failure);
  throw failure;
}
