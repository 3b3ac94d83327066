/**
 * The runtime image of the runtime-image layout: the agent's payload (node, its libraries
 * and loader, the bundle, the addons, the helper, busybox for its scripts) as a read-only
 * EROFS file system, attached to the VM as a disk (or a virtio-pmem device) and mounted by
 * /init at the payload directory. Its pages are then page cache the guest kernel may drop and
 * read again (or, through DAX, the host's own pages), where the single-initrd layout keeps
 * the whole payload in RAM as initramfs for the VM's life.
 *
 * EROFS rather than squashfs: both are modules of Debian's cloud kernel, but EROFS can be
 * mounted with DAX from a pmem device, and reads without a decompression step. So the image
 * is uncompressed, and written without inline (tail-packed) data: DAX needs every file's
 * blocks plain, else erofs quietly reads that file through the page cache. Its size is
 * rounded up to 2 MiB, the alignment QEMU and Cloud Hypervisor want of a pmem device.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { CpioEntry } from './CpioWriter.js';
import { InitrdError } from './errors.js';
import { writeImageTree } from './ImageTree.js';

/** Size multiple of the image: a pmem device's alignment. */
export const RUNTIME_IMAGE_ALIGNMENT = 2 * 1024 * 1024;

/** A fixed file system UUID: the same inputs give the same image. */
const RUNTIME_IMAGE_UUID = '6879706d-616e-4578-8563-72756e74696d';

export interface RuntimeImageResult {
  readonly path: string;
  readonly bytes: number;
}

/**
 * Writes `entries` (paths relative to the payload directory) as an EROFS image at `out`,
 * atomically. Needs mkfs.erofs (Debian: erofs-utils).
 */
export async function writeRuntimeImage(entries: readonly CpioEntry[], out: string): Promise<RuntimeImageResult> {
  const stage = await mkdtemp(join(dirname(out), '.runtime-image-'));
  const temporary = `${out}.tmp-${process.pid}`;
  try {
    await writeImageTree(entries, join(stage, 'tree'));
    try {
      await promisify(execFile)('mkfs.erofs', ['--quiet', '-T0', '--all-root', '-Enoinline_data', `-U${RUNTIME_IMAGE_UUID}`, temporary, join(stage, 'tree')]);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new InitrdError('RUNTIME_IMAGE_FAILED', missing
        ? 'mkfs.erofs is not installed; install it (apt-get install erofs-utils) or build the single-initrd layout (without --runtime-image)'
        : `mkfs.erofs failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}`);
    }
    const { size } = await stat(temporary);
    await truncate(temporary, Math.ceil(size / RUNTIME_IMAGE_ALIGNMENT) * RUNTIME_IMAGE_ALIGNMENT);
    await rename(temporary, out);
  } finally {
    await rm(stage, { recursive: true, force: true });
    await rm(temporary, { force: true });
  }
  return { path: out, bytes: (await stat(out)).size };
}
