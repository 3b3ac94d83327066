import { createReadStream } from 'node:fs';
import type { HttpResponse } from 'uWebSockets.js';
import type { StoredRecording } from './RecordingStore.js';

/** The asciicast media type (asciinema's). */
export const ASCIICAST_TYPE = 'application/x-asciicast';

/**
 * Streams a recording's first `size` bytes (its complete lines: the file may be growing) as
 * the body, at the pace the client reads: a chunk the socket does not take waits for
 * onWritable, and the file is not read further meanwhile.
 */
export function serveRecording(res: HttpResponse, recording: StoredRecording, state: { aborted: boolean }): void {
  const { size } = recording;
  const headers = (): void => {
    res.writeStatus('200 OK');
    res.writeHeader('content-type', ASCIICAST_TYPE);
    res.writeHeader('cache-control', 'no-store');
    res.writeHeader('x-content-type-options', 'nosniff');
    res.writeHeader('content-disposition', `inline; filename="${recording.header.hypeman.session}.cast"`);
  };
  if (size === 0) {
    res.cork(() => {
      headers();
      res.end();
    });
    return;
  }
  const stream = createReadStream(recording.path, { start: 0, end: size - 1, highWaterMark: 64 * 1024 });
  let first = true;
  const abort = () => {
    state.aborted = true;
    stream.destroy();
  };
  res.onAborted(abort);
  stream.on('error', () => {
    if (!state.aborted) res.close();
    abort();
  });
  stream.on('data', (data) => {
    if (state.aborted) return;
    const chunk = data as Buffer;
    // Where this chunk starts in the body: onWritable tells how far the body has gone.
    let chunkStart = 0;
    const tryChunk = (from: number): boolean => {
      let ok = false;
      let done = false;
      res.cork(() => {
        if (first) headers();
        first = false;
        if (from === 0) chunkStart = res.getWriteOffset();
        [ok, done] = res.tryEnd(chunk.subarray(from), size);
      });
      if (done) stream.destroy();
      return ok;
    };
    if (tryChunk(0)) return;
    stream.pause();
    res.onWritable((offset) => {
      const ok = tryChunk(offset - chunkStart);
      if (ok && !stream.destroyed) stream.resume();
      return ok;
    });
  });
}
