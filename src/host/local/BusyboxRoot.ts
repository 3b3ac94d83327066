/**
 * The default root of a local instance: busybox alone (static: no libc, no loader, no Node),
 * its applet links, /etc/passwd and /etc/group with root and one normal user, and the empty
 * directories the sandbox mounts over. Created once and kept: it is the instance's disk,
 * so files written in it survive restarts. Missing pieces are added again; nothing is
 * overwritten.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** The normal user of the default root (`hypeman-exec -u user …`). */
export const ROOT_USER = { name: 'user', uid: 1000, gid: 1000, home: '/home/user' } as const;

const PASSWD = `root:x:0:0:root:/root:/bin/sh
${ROOT_USER.name}:x:${ROOT_USER.uid}:${ROOT_USER.gid}:${ROOT_USER.name}:${ROOT_USER.home}:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;

const GROUP = `root:x:0:
tty:x:5:
${ROOT_USER.name}:x:${ROOT_USER.gid}:
nogroup:x:65534:
`;

export async function ensureBusyboxRoot(root: string, busybox: string): Promise<void> {
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'dev', 'run', 'root', 'var/tmp']) await mkdir(join(root, dir), { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  const home = join(root, ROOT_USER.home);
  if (!existsSync(home)) {
    await mkdir(home, { recursive: true });
    await chmod(home, 0o755);
    // Owned by the user where we may say so (as root); without privileges it stays ours.
    if (process.getuid?.() === 0) await chown(home, ROOT_USER.uid, ROOT_USER.gid);
  }
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
  for (const [name, text] of [['etc/passwd', PASSWD], ['etc/group', GROUP]] as const) {
    if (!existsSync(join(root, name))) await writeFile(join(root, name), text, { mode: 0o644 });
  }
}
