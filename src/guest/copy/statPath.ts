import { EntryKind, type FileMetadata, type StatRequest } from '../../wire/index.js';
import { copyErrorOf } from './CopyError.js';
import { absolutePath, splitPath } from './containerPath.js';
import { O, Resolve, closeQuietly, openIn, rootFsCalls, statAt, type FileStat } from './RootFs.js';

export type StatAnswer = FileMetadata & { link: Uint8Array };

const NOTHING = new Uint8Array(0);
const MISSING: StatAnswer = { kind: EntryKind.Missing, mode: 0, uid: 0, gid: 0, mtimeSeconds: 0, mtimeNanoseconds: 0, size: 0, major: 0, minor: 0, link: NOTHING };

/**
 * Stat (§12.5): what is at `path` in the container root, as the container sees it (links
 * in the path followed inside the root; the last one too with `follow`). Nothing there is
 * an answer (kind Missing), not an error; other failures throw CopyError.
 */
export function statPath(rootFd: number, request: StatRequest): StatAnswer {
  const path = absolutePath(request.path, 'path');
  const split = request.follow ? null : splitPath(path);
  let fd = -1;
  try {
    if (split === null) {
      fd = openIn(rootFd, path, O.O_PATH, Resolve.InRoot);
      return answer(statAt(fd, null), NOTHING);
    }
    fd = openIn(rootFd, split.parent, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
    const found = statAt(fd, split.name);
    return answer(found, found.kind === EntryKind.Symlink ? rootFsCalls().fsReadLink(fd, split.name) : NOTHING);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return MISSING;
    throw copyErrorOf(error, path, 'stat');
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

function answer(s: FileStat, link: Uint8Array): StatAnswer {
  const device = s.kind === EntryKind.CharDevice || s.kind === EntryKind.BlockDevice;
  return {
    kind: s.kind,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    mtimeSeconds: s.mtimeSeconds,
    mtimeNanoseconds: s.mtimeNanoseconds,
    size: s.size,
    major: device ? s.major : 0,
    minor: device ? s.minor : 0,
    link,
  };
}
