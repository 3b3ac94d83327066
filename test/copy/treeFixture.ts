// A tree with every kind of file a copy carries, made with the system's own tools (as root).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A name that is not UTF-8: file names are bytes. */
export const NOT_UTF8 = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);
/** The file whose mtime has nanoseconds that no microsecond clock keeps. */
export const NANOSECOND_FILE = 'plain.txt';

function sh(command: string, cwd: string): void {
  execFileSync('sh', ['-c', command], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * Makes `dir` (which must not exist) with regular files of several modes (setuid, setgid, an
 * empty one, 3 MiB of random bytes), owners other than root, names with spaces, a newline,
 * UTF-8 and bytes that are not UTF-8, a sticky directory, nested directories, relative,
 * absolute and dangling symlinks, a hard link, a fifo, a character and a block device, and
 * mtimes to the microsecond (one to the nanosecond).
 */
export function makeEveryKindOfFile(dir: string): void {
  mkdirSync(join(dir, 'sub/deeper'), { recursive: true });
  mkdirSync(join(dir, 'sticky'));
  writeFileSync(join(dir, 'plain.txt'), 'plain text\n');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'exec.sh'), '#!/bin/sh\necho hi\n');
  writeFileSync(join(dir, 'setuid'), 'setuid\n');
  writeFileSync(join(dir, 'setgid'), 'setgid\n');
  writeFileSync(join(dir, 'owned'), 'owned by 1234:5678\n');
  writeFileSync(join(dir, 'with space.txt'), 'space\n');
  writeFileSync(join(dir, 'new\nline'), 'newline\n');
  writeFileSync(join(dir, 'é漢字.txt'), 'utf-8\n');
  writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), NOT_UTF8]), 'not utf-8\n');
  writeFileSync(join(dir, 'sub/deeper/file'), 'deep\n');
  writeFileSync(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024));
  symlinkSync('plain.txt', join(dir, 'rel-link'));
  symlinkSync('/etc/passwd', join(dir, 'abs-link'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  linkSync(join(dir, 'plain.txt'), join(dir, 'hard'));
  sh('mkfifo -m 620 fifo && mknod -m 666 null c 1 3 && mknod -m 660 loop b 7 0', dir);
  sh('chmod 644 plain.txt with* new* é* bad* sub/deeper/file big.bin && chmod 600 empty && chmod 755 exec.sh && chmod 4755 setuid && chmod 2750 setgid && chmod 640 owned && chmod 1777 sticky && chmod 750 sub', dir);
  chownSync(join(dir, 'owned'), 1234, 5678);
  chownSync(join(dir, 'setgid'), 1234, 5678);
  chownSync(join(dir, 'sub'), 42, 43);
  // mtimes, children before their directories (making an entry changes its directory's).
  let second = 1_700_000_000;
  const stamp = (path: string, fraction = '123456') => sh(`touch -h -d @${second++}.${fraction} ${path}`, dir);
  for (const name of ['empty', 'exec.sh', 'setuid', 'setgid', 'owned', "'with space.txt'", "'new\nline'", 'é漢字.txt', 'bad*', 'big.bin', 'rel-link', 'abs-link', 'dangling', 'fifo', 'null', 'loop', 'sub/deeper/file']) stamp(name);
  stamp(NANOSECOND_FILE, '123456789');
  stamp('sub/deeper');
  stamp('sub');
  stamp('sticky');
}
