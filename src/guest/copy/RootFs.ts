import { closeSync, constants } from 'node:fs';
import { nativeModuleExports } from '../../vsock/addon.js';
import { EntryKind } from '../../wire/index.js';
import { CopyError } from './CopyError.js';

/** openat2(2)'s RESOLVE_* flags. */
export const Resolve = {
  NoSymlinks: 0x04,
  Beneath: 0x08,
  InRoot: 0x10,
} as const;

/** open(2) flags: Node's, and O_PATH, which Node does not export (the value of every Linux architecture the agent runs on). */
export const O = { ...constants, O_PATH: 0o10000000 } as const;

/** src/guest/native/rootfs.c, as the agent's native module exports it. */
interface NativeRootFs {
  fsOpenIn(dirfd: number, path: Uint8Array, flags: number, mode: number, resolve: number): number;
  fsOpenAt(dirfd: number, name: Uint8Array, flags: number, mode: number): number;
  fsStat(dirfd: number, name: Uint8Array | null, follow: boolean, out: Float64Array): void;
  fsReadDir(dirfd: number): Buffer[];
  fsReadLink(dirfd: number, name: Uint8Array | null): Buffer;
  fsFsType(fd: number): number;
  fsMkdir(dirfd: number, name: Uint8Array, mode: number): void;
  fsSymlink(target: Uint8Array, dirfd: number, name: Uint8Array): void;
  fsLink(olddirfd: number, oldname: Uint8Array, newdirfd: number, newname: Uint8Array): void;
  fsMknod(dirfd: number, name: Uint8Array, mode: number, major: number, minor: number): void;
  fsRename(olddirfd: number, oldname: Uint8Array, newdirfd: number, newname: Uint8Array, flags: number): void;
  fsUnlink(dirfd: number, name: Uint8Array, directory: boolean): void;
  fsChown(dirfd: number, name: Uint8Array | null, uid: number, gid: number): void;
  fsChmod(dirfd: number, name: Uint8Array | null, mode: number): void;
  fsUtimes(dirfd: number, name: Uint8Array | null, seconds: number, nanoseconds: number): void;
}

let native: NativeRootFs | undefined;

/** The native calls; CopyError COPY_UNAVAILABLE when the agent's native module lacks them. */
export function rootFsCalls(): NativeRootFs {
  if (native !== undefined) return native;
  let exports: Readonly<Record<string, unknown>>;
  try {
    exports = nativeModuleExports();
  } catch (error) {
    throw new CopyError('COPY_UNAVAILABLE', `the agent cannot copy files: ${(error as Error).message}`);
  }
  if (typeof exports.fsOpenIn !== 'function') {
    throw new CopyError('COPY_UNAVAILABLE', "the agent's native module has no path calls (fsOpenIn…); rebuild it with `npm run build:native`");
  }
  native = exports as unknown as NativeRootFs;
  return native;
}

/** What fstatat(2) says of a file, as a copy needs it. */
export interface FileStat {
  kind: EntryKind;
  /** Permission bits only (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSeconds: number;
  mtimeNanoseconds: number;
  major: number;
  minor: number;
  nlink: number;
  dev: number;
  /** Device and inode, as one key (hard links share it). */
  identity: string;
}

const S_IFMT = 0o170000;
const KIND_OF_TYPE: Readonly<Record<number, EntryKind>> = {
  [0o100000]: EntryKind.File,
  [0o040000]: EntryKind.Directory,
  [0o120000]: EntryKind.Symlink,
  [0o010000]: EntryKind.Fifo,
  [0o020000]: EntryKind.CharDevice,
  [0o060000]: EntryKind.BlockDevice,
  [0o140000]: EntryKind.Socket,
};

/** File type bits (S_IF*) of each entry kind that can be made with mknod. */
export const NODE_TYPE: Readonly<Partial<Record<EntryKind, number>>> = {
  [EntryKind.Fifo]: 0o010000,
  [EntryKind.CharDevice]: 0o020000,
  [EntryKind.BlockDevice]: 0o060000,
};

const statBuffer = new Float64Array(12);

/** fstatat(2) of `name` in `dirfd` (null: `dirfd` itself), not following a final symlink unless `follow`. */
export function statAt(dirfd: number, name: Uint8Array | null, follow = false): FileStat {
  const s = statBuffer;
  rootFsCalls().fsStat(dirfd, name, follow, s);
  return {
    kind: KIND_OF_TYPE[s[0] & S_IFMT] ?? EntryKind.Socket,
    mode: s[0] & 0o7777,
    uid: s[1],
    gid: s[2],
    size: s[3],
    mtimeSeconds: s[4],
    mtimeNanoseconds: s[5],
    major: s[6],
    minor: s[7],
    nlink: s[8],
    dev: s[9],
    identity: `${s[9]}:${s[10]}:${s[11]}`,
  };
}

/** How many times a resolution that raced a rename is tried before FILE_CHANGED. */
const RACE_RETRIES = 8;

/** openat2(2), tried again while the kernel reports a race with a rename or mount (EAGAIN). */
export function openIn(dirfd: number, path: Uint8Array, flags: number, resolve: number, mode = 0): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return rootFsCalls().fsOpenIn(dirfd, path, flags, mode, resolve);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= RACE_RETRIES) throw error;
    }
  }
}

/** Closes a descriptor, ignoring a failure (nothing can be done about it). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed, or EIO on close: the data was checked before
  }
}
