import { BLOCK, TarFormatError, type TarHeader, applyPax, readHeaderBlock } from './tarFormat.js';

/**
 * The largest pax extended header or GNU long name read (they are held whole, unlike a
 * file's bytes): far more than any path (PATH_MAX is 4096) or set of records needs, and a
 * bound on what a hostile or damaged archive can make this process hold.
 */
export const MAX_EXTENDED_HEADER = 1024 * 1024;

/** Bytes from a stream of chunks, taken exactly as asked. */
class ChunkReader {
  readonly #chunks: AsyncIterator<Uint8Array>;
  #head: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#chunks = chunks[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes, or null at the end of the stream before the first of them. */
  async exactly(n: number): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      const chunk = await this.#next(n - have);
      if (chunk === null) {
        if (have === 0) return null;
        throw new TarFormatError('the tar archive ends in the middle of a block');
      }
      parts.push(chunk);
      have += chunk.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** `n` bytes in the chunks they come in. */
  async *take(n: number): AsyncIterable<Uint8Array> {
    while (n > 0) {
      const chunk = await this.#next(n);
      if (chunk === null) throw new TarFormatError('the tar archive ends inside a file');
      n -= chunk.length;
      yield chunk;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // discarded
    }
  }

  /** Up to `max` bytes, or null at the end. */
  async #next(max: number): Promise<Uint8Array | null> {
    while (this.#head.length === 0) {
      if (this.#done) return null;
      const r = await this.#chunks.next();
      if (r.done) {
        this.#done = true;
        return null;
      }
      this.#head = r.value;
    }
    const out = this.#head.subarray(0, max);
    this.#head = this.#head.subarray(out.length);
    return out;
  }
}

/** One member of an archive; its bytes (a file's) must be read before the next member is asked for. */
export interface TarMember extends TarHeader {
  data(): AsyncIterable<Uint8Array>;
}

/**
 * The members of a tar archive (POSIX pax, ustar, GNU: long names, base-256 numbers), in
 * order, read from a stream as they are asked for: a file's bytes are passed on, never held.
 */
export async function* readTar(chunks: AsyncIterable<Uint8Array>): AsyncIterable<TarMember> {
  const reader = new ChunkReader(chunks);
  let extended: Partial<TarHeader> = {};
  for (;;) {
    const block = await reader.exactly(BLOCK);
    if (block === null) return; // no end blocks: accepted, as GNU tar does
    const h = readHeaderBlock(block);
    if ((h.kind === 'pax' || h.kind === 'gnu-long') && h.size > MAX_EXTENDED_HEADER) {
      throw new TarFormatError(`a tar ${h.kind === 'pax' ? 'pax extended header' : 'GNU long name'} of ${h.size} bytes is larger than the ${MAX_EXTENDED_HEADER} this reader holds: the archive is damaged or not meant for this`);
    }
    switch (h.kind) {
      case 'zero':
        return;
      case 'pax': {
        const records = (await reader.exactly(h.size)) ?? new Uint8Array(0);
        await reader.skip(padded(h.size) - h.size);
        if (!h.global) applyPax(records, extended);
        continue;
      }
      case 'gnu-long': {
        const value = (await reader.exactly(h.size)) ?? new Uint8Array(0);
        await reader.skip(padded(h.size) - h.size);
        const end = value.indexOf(0);
        extended[h.field] = value.slice(0, end < 0 ? value.length : end);
        continue;
      }
      case 'skip':
        await reader.skip(padded(h.size));
        extended = {};
        continue;
      case 'member': {
        const header = { ...h.header, ...extended };
        extended = {};
        const size = header.size;
        let consumed = 0;
        yield {
          ...header,
          data: async function* () {
            for await (const chunk of reader.take(size - consumed)) {
              consumed += chunk.length;
              yield chunk;
            }
          },
        };
        // What the caller left unread of the file, then the padding.
        await reader.skip(padded(size) - consumed);
        continue;
      }
    }
  }
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}
