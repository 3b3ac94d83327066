// The guest image as init would find it in a VM, for the self-contained test and the cold
// start measurement: initrd.cpio.gz built by ImageCache (kept in the temp directory across
// runs, rebuilt only when stale), unpacked with the real cpio, and a container root made of
// busybox alone (no glibc, no loader, no Node).
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureImage } from '../../src/host/initrd/ImageCache.js';
import type { ImageLayout } from '../../src/host/initrd/ImageLayout.js';
import { ensureBusyboxRoot } from '../../src/host/local/BusyboxRoot.js';
import { extractImage } from '../initrd/helpers.js';

export const IMAGE_CACHE = join(tmpdir(), 'hypeman-test-image', 'initrd.cpio.gz');

export interface UnpackedImage {
  readonly layout: ImageLayout;
  /** The unpacked image's /.hypeman. */
  readonly payload: string;
  /** A busybox-only container root. */
  readonly container: string;
  /** A directory for sockets (bind-mounted into the root at /run/hypeman). */
  readonly sockets: string;
  readonly compressedBytes: number;
  readonly fileBytes: number;
}

export async function unpackImage(dir: string): Promise<UnpackedImage> {
  // gzip level 1: the tests care about the contents, not the last percent of size.
  const image = await ensureImage(IMAGE_CACHE, { gzipLevel: 1 });
  const unpacked = join(dir, 'image');
  await extractImage(image.path, unpacked);
  const container = join(dir, 'container');
  await ensureBusyboxRoot(container, join(unpacked, 'bin', 'busybox'));
  const sockets = join(dir, 'sockets');
  mkdirSync(sockets);
  return { layout: image.layout, payload: join(unpacked, '.hypeman'), container, sockets, compressedBytes: image.compressedBytes, fileBytes: image.fileBytes };
}
