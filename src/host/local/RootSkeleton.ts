/**
 * What every default root of a local instance has, whatever its programs come from: the
 * directories the sandbox mounts over, /tmp, root's and one normal user's homes, and
 * /etc/passwd and /etc/group with root and that user. Created once and kept: it is the
 * instance's disk. Missing pieces are added again; nothing is overwritten.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The normal user of the default roots (`hypeman-exec -u user …`). */
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

export async function ensureRootSkeleton(root: string, directories: readonly string[]): Promise<void> {
  for (const dir of [...directories, 'etc', 'proc', 'dev', 'run', 'root', 'var/tmp']) await mkdir(join(root, dir), { recursive: true });
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
  for (const [name, text] of [['etc/passwd', PASSWD], ['etc/group', GROUP]] as const) {
    if (!existsSync(join(root, name))) await writeFile(join(root, name), text, { mode: 0o644 });
  }
}
