import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** A recording file opened for appending, and what it holds already. */
export interface OpenedRecording {
  file: FileHandle;
  /** Bytes in the file (complete lines only). */
  bytes: number;
  /** sha256 of those bytes, to go on with. */
  hash: Hash;
  /** When the file was last written (ms since the epoch); 0 for a new file. */
  mtimeMs: number;
}

const READ_CHUNK = 1024 * 1024;

/**
 * Opens `path` for appending (0600, created if missing). A file already there is read to go on
 * with its sha256, and cut after its last complete line: a server killed in the middle of a
 * write leaves at most one line cut short, which would otherwise sit between valid ones.
 * `known` is what this process last wrote to it: when the size still matches, the file is
 * not read again.
 */
export async function openRecordingFile(path: string, known?: { bytes: number; hash: Hash }): Promise<OpenedRecording> {
  const handle = await open(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.chmod(0o600);
    const stats = await handle.stat();
    if (known && stats.size === known.bytes) return { file: handle, bytes: known.bytes, hash: known.hash, mtimeMs: stats.mtimeMs };
    const hash = createHash('sha256');
    let complete = 0;
    let tail: Buffer[] = [];
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    for (let position = 0; position < stats.size; ) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const view = chunk.subarray(0, bytesRead);
      const newline = view.lastIndexOf(0x0a);
      if (newline < 0) tail.push(Buffer.from(view));
      else {
        for (const t of tail) hash.update(t);
        hash.update(view.subarray(0, newline + 1));
        complete = position + newline + 1;
        tail = [Buffer.from(view.subarray(newline + 1))];
      }
      position += bytesRead;
    }
    if (complete < stats.size) await handle.truncate(complete);
    return { file: handle, bytes: complete, hash, mtimeMs: stats.size > 0 ? stats.mtimeMs : 0 };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}
