/**
 * Disk images for a guest, made with `mkfs.ext4 -d` (e2fsprogs): the files are copied in by
 * mkfs itself, so no loop device, no mount and no root are needed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VmError } from './errors.js';

/** Writes an ext4 image of `sizeMiB` at `out`, holding a copy of `from` (a directory) if given. */
export async function makeExt4Image(out: string, sizeMiB: number, from?: string): Promise<void> {
  try {
    await promisify(execFile)('mkfs.ext4', ['-q', '-F', ...(from ? ['-d', from] : []), out, `${sizeMiB}M`]);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new VmError('DISK_FAILED', missing
      ? 'mkfs.ext4 is not installed; install it: apt-get install e2fsprogs'
      : `mkfs.ext4 ${out} failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`, { cause: error });
  }
}
