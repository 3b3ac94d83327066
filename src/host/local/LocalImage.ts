/**
 * The guest image as a directory, for local instances: the same tree ImageBuilder puts in
 * initrd.cpio.gz (built from the same entries, so the agent that runs locally is the one a VM
 * boots), kept under the data directory and rewritten only when the image's hash changes,
 * like ImageCache does for the archive.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { collectImageInputs, hashImage, imageEntries, planImage, type ImageBuildOptions } from '../initrd/ImageBuilder.js';
import type { ImageLayout } from '../initrd/ImageLayout.js';
import { writeImageTree } from '../initrd/ImageTree.js';

export interface LocalImage {
  /** The unpacked image's root directory. */
  readonly dir: string;
  /** The agent payload (the image's /.hypeman) on this host. */
  readonly payload: string;
  /** The image's static busybox on this host; null when the host has none (see localBusybox). */
  readonly busybox: string | null;
  readonly layout: ImageLayout;
  /** The image hash (ImageBuilder.hashImage): equal to initrd.cpio.gz's for the same inputs. */
  readonly hash: string;
  /** Sum of the files' sizes. */
  readonly fileBytes: number;
  /** False when the tree on disk was already up to date. */
  readonly rebuilt: boolean;
}

const HASH_FILE = 'image.sha256';

/**
 * The busybox a local image is built with: HYPEMAN_BUSYBOX (a path, or empty for none), else
 * `busybox` on PATH, else none — then the instance's root is the host's own userland
 * (HostRoot) and its sandbox runs the host's shell and tools.
 */
export function localBusybox(env: NodeJS.ProcessEnv = process.env): string | null {
  const given = env.HYPEMAN_BUSYBOX;
  if (given !== undefined) return given === '' ? null : given;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'busybox'))) return join(dir, 'busybox');
  }
  return null;
}

/** Makes sure `<cacheDir>/tree` holds the image for the current inputs. */
export async function ensureLocalImage(cacheDir: string, options: ImageBuildOptions = {}): Promise<LocalImage> {
  const inputs = await collectImageInputs({ ...options, busybox: options.busybox !== undefined ? options.busybox : localBusybox() });
  const plan = await planImage(inputs);
  const hash = await hashImage(plan, inputs.gzipLevel);
  const dir = join(cacheDir, 'tree');
  const hashFile = join(cacheDir, HASH_FILE);
  const recorded = await readFile(hashFile, 'utf8').then((s) => s.trim(), () => undefined);
  const rebuilt = recorded !== hash || !existsSync(dir);
  if (rebuilt) {
    // Written beside and swapped in, the hash last: a crash leaves a rebuild, never a stale tree taken for fresh.
    await rm(hashFile, { force: true });
    const fresh = `${dir}.tmp-${process.pid}`;
    const old = `${dir}.old-${process.pid}`;
    await rm(fresh, { recursive: true, force: true });
    await writeImageTree(imageEntries(inputs), fresh);
    if (existsSync(dir)) await rename(dir, old);
    await rename(fresh, dir);
    await rm(old, { recursive: true, force: true });
    await writeFile(hashFile, `${hash}\n`);
  }
  const strip = (path: string) => path.replace(/^\/+/, '');
  return {
    dir,
    payload: join(dir, strip(inputs.layout.payload)),
    busybox: inputs.busybox ? join(dir, strip(inputs.layout.busybox)) : null,
    layout: inputs.layout,
    hash,
    fileBytes: plan.fileBytes,
    rebuilt,
  };
}
