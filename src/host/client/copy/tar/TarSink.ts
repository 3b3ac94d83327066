import type { Writable } from 'node:stream';
import { EntryKind } from '../../../../wire/index.js';
import type { CopyEntry, CopySink } from '../CopyStreams.js';
import { joinBytes, lastName } from '../localPaths.js';
import { RECORD, encodeHeader, padding } from './tarFormat.js';

/**
 * A download written as a tar archive (POSIX pax) to a stream (`hypeman-exec cp
 * INSTANCE:PATH -`), named as `docker cp … -` names it: the root under the source's last
 * name (`.` for `/` or a source ending in `/.`), everything else below it.
 */
export class TarSink implements CopySink {
  readonly #out: Writable;
  readonly #base: Uint8Array;
  #size = 0;
  #written = 0;

  /** `source`: the download's path in the container. */
  constructor(out: Writable, source: string) {
    this.#out = out;
    const contents = source === '/' || source.endsWith('/.');
    this.#base = contents ? Buffer.from('.') : lastName(Buffer.from(source));
  }

  async entry(e: CopyEntry): Promise<void> {
    const name = this.#name(e.path);
    const header = encodeHeader({
      name: e.kind === EntryKind.Directory ? Buffer.concat([name, Buffer.from('/')]) : name,
      kind: e.kind,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.size ?? 0,
      mtimeSeconds: e.mtimeSeconds,
      mtimeNanoseconds: e.mtimeNanoseconds,
      linkname: e.kind === EntryKind.Hardlink ? this.#name(e.link) : e.link,
      major: e.major,
      minor: e.minor,
    });
    this.#size = e.kind === EntryKind.File ? (e.size ?? 0) : 0;
    await this.#write(header);
  }

  async data(chunk: Uint8Array): Promise<void> {
    await this.#write(chunk);
  }

  async fileEnd(): Promise<void> {
    await this.#write(padding(this.#size));
  }

  /** The end blocks, and zeros up to a whole record (as GNU tar writes). */
  async finish(): Promise<void> {
    const end = this.#written + 2 * 512;
    await this.#write(new Uint8Array(2 * 512 + ((RECORD - (end % RECORD)) % RECORD)));
  }

  async abort(): Promise<void> {
    // What was written stays written: a reader sees the archive end early.
  }

  #name(rel: Uint8Array): Uint8Array {
    return rel.length === 0 ? this.#base : joinBytes(this.#base, rel);
  }

  #write(bytes: Uint8Array): Promise<void> {
    this.#written += bytes.length;
    if (bytes.length === 0 || this.#out.write(bytes)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        this.#out.off('drain', done);
        this.#out.off('error', done);
        if (error) reject(error);
        else resolve();
      };
      this.#out.once('drain', done);
      this.#out.once('error', done);
    });
  }
}
