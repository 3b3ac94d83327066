// Copy throughput (issue 17 item 5): one large file and a tree of small files, each way,
// with the project's copy through the API server (what `hypeman-exec cp` runs) and through
// the library, beside the exec pipe (`hypeman-exec INSTANCE sh -c 'cat > f'`, `tar x`…) and
// ssh to the bench's own sshd, measured in the same run on the same files. The bench's agent
// runs with the machine's / as its root, so "the instance" is a temp dir. The files are on
// tmpfs where /dev/shm has room: on this machine's ext4 a file's creation alone costs
// 0.5–0.9 ms, varying tenfold from run to run, which would measure the disk, not the ways.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSizes } from '../BenchOptions.js';
import type { BenchStack } from '../BenchStack.js';
import { PATH_LABELS, targetFor } from '../exec/targets.js';
import type { Figure, Figures } from '../report/Report.js';
import { megabytesPerSecond } from '../stats.js';
import type { SshPeer } from '../ssh/SshPeer.js';
import { type Direction, type Ends, TransferError, copyMs, pipeFileMs, pipeTreeMs, sshFileMs, sshTreeMs } from './transfers.js';

/** Bytes of each small file, and how many go in one directory. */
const SMALL_FILE_BYTES = 4096;
const FILES_PER_DIRECTORY = 100;
const MiB = 2 ** 20;

type Kind = 'file' | 'files';
type Way = 'pipe' | 'api' | 'library' | 'ssh';

const WAY_LABELS: Record<Way, (kind: Kind, direction: Direction) => string> = {
  pipe: (kind, direction) => {
    const command = kind === 'file' ? (direction === 'upload' ? "sh -c 'cat > f' < f" : 'cat f > f') : direction === 'upload' ? "tar c | … sh -c 'tar x'" : '… tar c | tar x';
    return `exec pipe: \`hypeman-exec INSTANCE ${command}\` (API server)`;
  },
  api: (_kind, direction) => `${direction === 'upload' ? 'copyToInstance' : 'copyFromInstance'}, ${PATH_LABELS.api}: what \`hypeman-exec cp\` runs`,
  library: (_kind, direction) => `${direction === 'upload' ? 'copyToInstance' : 'copyFromInstance'}, ${PATH_LABELS.library}`,
  ssh: (kind, direction) => {
    const command = kind === 'file' ? (direction === 'upload' ? "ssh peer 'cat > f' < f" : 'ssh peer cat f > f') : direction === 'upload' ? 'tar c | ssh peer tar x' : 'ssh peer tar c | tar x';
    return `ssh: \`${command}\` (OpenSSH on loopback, its default cipher)`;
  },
};

function writeFile(path: string, bytes: number, pattern: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < bytes; at += pattern.length) writeSync(fd, pattern, 0, Math.min(pattern.length, bytes - at));
  } finally {
    closeSync(fd);
  }
}

function makeTree(dir: string, files: number, pattern: Buffer): void {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${String(Math.floor(i / FILES_PER_DIRECTORY)).padStart(4, '0')}`);
    if (i % FILES_PER_DIRECTORY === 0) mkdirSync(sub, { recursive: true });
    // Each file a different slice of the pattern, so no two are alike.
    const at = (i * 7919) % (pattern.length - SMALL_FILE_BYTES);
    writeFile(join(sub, `f${String(i).padStart(5, '0')}`), SMALL_FILE_BYTES, pattern.subarray(at, at + SMALL_FILE_BYTES));
  }
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : e.isFile() ? 1 : 0;
  return n;
}

const TMPFS = '/dev/shm';

/** A temp dir on tmpfs when it has room for `bytes` (and some), else in `fallback`. */
function workDir(bytes: number, fallback: string): { dir: string; filesystem: string } {
  try {
    const fs = statfsSync(TMPFS);
    if (fs.type === 0x01021994 && fs.bavail * fs.bsize > bytes * 1.25) return { dir: mkdtempSync(join(TMPFS, 'hypeman-bench-copy-')), filesystem: `tmpfs (${TMPFS})` };
  } catch {
    // No /dev/shm: the fallback below.
  }
  const dir = join(fallback, 'copy');
  mkdirSync(dir);
  return { dir, filesystem: `the temp dir's (${TMPFS} has no room)` };
}

/** `peer`: the bench's sshd, when there is one (the ssh figures are skipped otherwise). */
export async function measureCopy(sizes: BenchSizes, figures: Figures, stack: BenchStack, peer: SshPeer | undefined, progress: (text: string) => void): Promise<void> {
  const fileBytes = sizes.streamBytes;
  const files = sizes.copyFiles;
  // At most three large files and three trees at a time: both sources and one copy.
  const { dir: root, filesystem } = workDir(3 * (fileBytes + files * SMALL_FILE_BYTES), stack.dir);
  const local = join(root, 'local');
  const instance = join(root, 'instance');
  mkdirSync(local);
  mkdirSync(instance);
  progress(`copy: writing a ${fileBytes / MiB} MiB file and ${files} files of ${SMALL_FILE_BYTES} B on ${filesystem}`);
  const pattern = randomBytes(MiB);
  writeFile(join(local, 'big'), fileBytes, pattern);
  makeTree(join(local, 'tree'), files, pattern);
  writeFile(join(instance, 'big'), fileBytes, pattern);
  makeTree(join(instance, 'tree'), files, pattern);

  const ways: Way[] = peer ? ['pipe', 'api', 'library', 'ssh'] : ['pipe', 'api', 'library'];
  try {
    for (const kind of ['file', 'files'] as const) {
      for (const direction of ['upload', 'download'] as const) {
        const source = kind === 'file' ? 'big' : 'tree';
        const ends: Ends = direction === 'upload' ? { local: join(local, source), remote: join(instance, `${source}.up`) } : { local: join(local, `${source}.down`), remote: join(instance, source) };
        const written = direction === 'upload' ? ends.remote : ends.local;
        const measure = kind === 'file' ? `${direction} a ${fileBytes / MiB} MiB file` : `${direction} ${files} files of ${SMALL_FILE_BYTES / 1024} KiB (${FILES_PER_DIRECTORY} a directory)`;
        progress(`copy: ${measure}`);
        for (const way of ways) {
          progress(`copy: ${way}`);
          const ms = await transferMs(way, kind, direction, ends, stack, peer);
          const got = kind === 'file' ? statSync(written).size : countFiles(written);
          if (got !== (kind === 'file' ? fileBytes : files)) throw new TransferError(`${way} ${measure}: ${got} ${kind === 'file' ? 'bytes' : 'files'} arrived`);
          rmSync(written, { recursive: true, force: true });
          const bytes = kind === 'file' ? fileBytes : files * SMALL_FILE_BYTES;
          const figure: Figure = {
            id: `copy.${kind}.${direction}.${way}`,
            measure,
            path: WAY_LABELS[way](kind, direction),
            unit: kind === 'file' ? 'MB/s' : 'files/s',
            value: kind === 'file' ? megabytesPerSecond(bytes, ms) : files / (ms / 1000),
            detail: { bytes, files: kind === 'file' ? 1 : files, seconds: ms / 1000, filesystem },
          };
          if (way !== 'pipe') figure.floor = `copy.${kind}.${direction}.pipe`;
          figures.add(figure);
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function transferMs(way: Way, kind: Kind, direction: Direction, ends: Ends, stack: BenchStack, peer: SshPeer | undefined): Promise<number> {
  switch (way) {
    case 'pipe':
      return (kind === 'file' ? pipeFileMs : pipeTreeMs)(targetFor(stack, 'api'), direction, ends);
    case 'api':
    case 'library':
      return copyMs(targetFor(stack, way), direction, ends);
    case 'ssh':
      return (kind === 'file' ? sshFileMs : sshTreeMs)(peer!.args, direction, ends);
  }
}
