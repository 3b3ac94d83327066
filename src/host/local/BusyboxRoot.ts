/**
 * The default root of a local instance: busybox alone (static: no libc, no loader, no Node),
 * and its applet links, in the skeleton every default root has (RootSkeleton). Created once
 * and kept: it is the instance's disk, so files written in it survive restarts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ensureRootSkeleton } from './RootSkeleton.js';

export async function ensureBusyboxRoot(root: string, busybox: string): Promise<void> {
  await ensureRootSkeleton(root, ['bin', 'sbin', 'usr/bin', 'usr/sbin']);
  const own = join(root, 'bin', 'busybox');
  if (!existsSync(own)) await copyFile(busybox, own);
  await chmod(own, 0o755);
  const { stdout } = await promisify(execFile)(own, ['--list-full']);
  for (const applet of stdout.split('\n')) {
    // linuxrc would sit at the root; the root keeps busybox itself at bin/busybox.
    if (!applet.includes('/') || applet.endsWith('/busybox')) continue;
    const link = join(root, applet);
    if (existsSync(link)) continue;
    await mkdir(dirname(link), { recursive: true });
    await symlink('/bin/busybox', link).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error; // a dangling link of the user's: leave it
    });
  }
}
