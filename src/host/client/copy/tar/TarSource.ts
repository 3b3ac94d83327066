import { EntryKind, pathComponents } from '../../../../wire/index.js';
import type { CopySource, SourceEntry } from '../CopyStreams.js';
import { LocalCopyError } from '../../errors.js';
import { shownPath } from '../localPaths.js';
import { readTar } from './TarReader.js';
import { TarFormatError } from './tarFormat.js';

const SLASH = 0x2f;
const NOTHING = new Uint8Array(0);

/**
 * A member name as an entry path below the destination: leading `/` and `./` dropped (as
 * tar does), empty and `.` components dropped; a `..` component is refused (PATH_ESCAPES),
 * whatever the agent would make of it. The empty path is the archive's root itself.
 */
export function memberPath(name: Uint8Array): Uint8Array {
  const parts = pathComponents(name).filter((p) => !(p.length === 1 && p[0] === 0x2e));
  if (parts.some((p) => p.length === 2 && p[0] === 0x2e && p[1] === 0x2e)) {
    throw new LocalCopyError('PATH_ESCAPES', `the tar member ${shownPath(name)} would land outside the destination (a ".." component); nothing was copied from it`, shownPath(name));
  }
  const out: number[] = [];
  for (const part of parts) {
    if (out.length > 0) out.push(SLASH);
    out.push(...part);
  }
  return Uint8Array.from(out);
}

/**
 * A tar archive read from a stream (`hypeman-exec cp - INSTANCE:DIR`) as an upload: its
 * members go into the destination directory, as `docker cp -` extracts them. The upload's
 * root is that directory (made when missing); a member whose parents are not in the
 * archive gets them made.
 */
export class TarSource implements CopySource {
  readonly name = NOTHING;
  readonly #chunks: AsyncIterable<Uint8Array>;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#chunks = chunks;
  }

  async *entries(): AsyncIterable<SourceEntry> {
    const now = Date.now();
    yield { kind: EntryKind.Directory, mode: 0o755, uid: 0, gid: 0, mtimeSeconds: Math.floor(now / 1000), mtimeNanoseconds: (now % 1000) * 1e6, size: 0, major: 0, minor: 0, path: NOTHING, link: NOTHING };
    try {
      for await (const member of readTar(this.#chunks)) {
        const path = memberPath(member.name);
        if (path.length === 0) continue; // the archive's own "./": the destination stands for it
        const link = member.kind === EntryKind.Hardlink ? memberPath(member.linkname) : member.kind === EntryKind.Symlink ? member.linkname : NOTHING;
        yield {
          kind: member.kind,
          mode: member.mode,
          uid: member.uid,
          gid: member.gid,
          mtimeSeconds: member.mtimeSeconds,
          mtimeNanoseconds: member.mtimeNanoseconds,
          size: member.kind === EntryKind.File ? member.size : 0,
          major: member.major,
          minor: member.minor,
          path,
          link,
          data: member.kind === EntryKind.File ? member.data : undefined,
        };
      }
    } catch (error) {
      if (error instanceof TarFormatError) throw new LocalCopyError('INVALID_REQUEST', `cannot read the tar archive: ${error.message}`);
      throw error;
    }
  }
}
