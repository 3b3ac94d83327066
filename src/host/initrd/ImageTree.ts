/**
 * Writes the guest image's entries (ImageBuilder.imageEntries) as a directory tree instead of
 * a cpio archive: what the kernel would unpack, without the archive and gzip round trip.
 * Device nodes are left out (the image has only /dev/console, which a sandbox does not use).
 */
import { chmod, copyFile, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CpioEntry } from './CpioWriter.js';

export async function writeImageTree(entries: readonly CpioEntry[], dir: string): Promise<void> {
  const at = (path: string) => join(dir, path);
  await mkdir(dir, { recursive: true });
  // Hard links last: their target may sort after them (.hypeman/bin/busybox → bin/busybox).
  const ordered = [...entries].sort((a, b) => Number(a.type === 'hardlink') - Number(b.type === 'hardlink'));
  for (const entry of ordered) {
    const path = at(entry.path);
    if (entry.type !== 'directory') await mkdir(dirname(path), { recursive: true });
    switch (entry.type) {
      case 'directory':
        await mkdir(path, { recursive: true });
        if (entry.mode !== undefined) await chmod(path, entry.mode);
        break;
      case 'file':
        if ('path' in entry.source) await copyFile(entry.source.path, path);
        else await writeFile(path, entry.source.data);
        await chmod(path, entry.mode ?? 0o644);
        break;
      case 'symlink':
        await symlink(entry.target, path);
        break;
      case 'hardlink':
        await link(at(entry.target), path);
        break;
      case 'char-device':
        break;
    }
  }
}
