import { type CopyToRequest, ENTRY_KIND_NAMES, EntryKind, pathComponents } from '../../wire/index.js';
import { CopyError, copyErrorOf, shown } from './CopyError.js';
import { absolutePath, joinPath, splitPath } from './containerPath.js';
import { O, Resolve, closeQuietly, openIn, rootFsCalls, statAt } from './RootFs.js';

/** Where an upload's root goes (§12.3). */
export interface Destination {
  /** The directory that holds it, or (name null) the existing directory it merges into. O_PATH. */
  fd: number;
  /** Its name in `fd`; null: the root is a directory merged into `fd` itself. */
  name: Uint8Array | null;
  /** Its container path, for messages. */
  path: Uint8Array;
}

const ROOT_PATH = Uint8Array.of(0x2f);

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Decides where the upload's root, of kind `kind`, lands (§12.3), as `cp` and `docker cp`
 * do: with a name, into `path` when that is a directory (links followed inside the root);
 * otherwise at `path` itself, a file replacing what is there (a symlink there is replaced,
 * never written through), a directory merged into an existing one. A path ending in `/`
 * must be an existing directory.
 */
export function resolveDestination(rootFd: number, request: CopyToRequest, kind: EntryKind): Destination {
  const path = absolutePath(request.path, 'destination path');
  let dir = -1;
  try {
    dir = openIn(rootFd, path, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
  } catch (error) {
    if (!isMissing(error)) throw copyErrorOf(error, path, 'open the destination');
  }
  if (dir >= 0) {
    if (request.name.length > 0) return { fd: dir, name: request.name, path: joinPath(path, request.name) };
    if (kind === EntryKind.Directory) return { fd: dir, name: null, path };
    closeQuietly(dir);
    throw new CopyError('IS_A_DIRECTORY', `cannot copy a ${ENTRY_KIND_NAMES[kind]} onto the directory ${shown(path)}`, path);
  }
  const split = splitPath(path);
  if (split === null) throw new CopyError('PATH_NOT_FOUND', `the destination directory ${shown(path)} does not exist`, path);
  const parent = request.parents ? makeDirectories(rootFd, split.parent) : openParent(rootFd, split.parent);
  try {
    const existing = statAt(parent, split.name);
    if (kind === EntryKind.Directory && existing.kind !== EntryKind.Directory) {
      throw new CopyError('NOT_A_DIRECTORY', `cannot copy a directory onto ${shown(path)}, which is a ${ENTRY_KIND_NAMES[existing.kind]}`, path);
    }
  } catch (error) {
    if (!(error instanceof CopyError) && isMissing(error)) return { fd: parent, name: split.name, path };
    closeQuietly(parent);
    throw copyErrorOf(error, path, 'inspect');
  }
  return { fd: parent, name: split.name, path };
}

function openParent(rootFd: number, parent: Uint8Array): number {
  try {
    return openIn(rootFd, parent, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CopyError('PATH_NOT_FOUND', `the destination's directory ${shown(parent)} does not exist; create it first`, parent);
    }
    throw copyErrorOf(error, parent, 'open the directory');
  }
}

/**
 * `mkdir -p` of a container path (the compatible dialect's destinations): each prefix is
 * resolved inside the root, and a missing component is made in the directory its prefix
 * resolved to, so nothing is made outside the root whatever links the path holds.
 */
export function makeDirectories(rootFd: number, path: Uint8Array): number {
  let current = openIn(rootFd, ROOT_PATH, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
  let prefix: Uint8Array = ROOT_PATH;
  try {
    for (const name of pathComponents(path)) {
      prefix = joinPath(prefix, name);
      let next: number;
      try {
        next = openIn(rootFd, prefix, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        try {
          rootFsCalls().fsMkdir(current, name, 0o755);
        } catch (made) {
          if ((made as NodeJS.ErrnoException).code !== 'EEXIST') throw made;
        }
        next = openIn(rootFd, prefix, O.O_PATH | O.O_DIRECTORY, Resolve.InRoot);
      }
      closeQuietly(current);
      current = next;
    }
    return current;
  } catch (error) {
    closeQuietly(current);
    throw copyErrorOf(error, prefix, 'make the directory');
  }
}
