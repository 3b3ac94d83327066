/**
 * Rebuild the image only when its inputs changed, like the original's hash of agent and init.
 * The staleness hash is the image's own hash (ImageBuilder.hashImage): the uncompressed
 * archive covers the agent bundle, /init, the Node runtime and its libraries, busybox and the
 * native addons, byte for byte. Computing it reads the inputs but skips gzip, the slow part.
 * The hash of the image on disk is kept beside it in `<image>.sha256`.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { collectImageInputs, hashImage, imageResult, planImage, writeImage, type ImageBuildOptions, type ImageBuildResult } from './ImageBuilder.js';

export interface EnsureImageResult extends ImageBuildResult {
  /** False when the image on disk was already up to date. */
  readonly rebuilt: boolean;
}

export const hashFileOf = (image: string) => `${image}.sha256`;

/** Makes sure `out` is the image for the current inputs; builds it only if it is missing or stale. */
export async function ensureImage(out: string, options: ImageBuildOptions = {}): Promise<EnsureImageResult> {
  const started = performance.now();
  const inputs = await collectImageInputs(options);
  const plan = await planImage(inputs);
  const wanted = await hashImage(plan, inputs.gzipLevel);
  const recorded = await readRecordedHash(out);
  if (recorded === wanted && existsSync(out)) {
    const { size } = await stat(out);
    return { ...imageResult(out, inputs, plan, wanted, size, started), rebuilt: false };
  }
  // The old hash goes first and the new one is written after the image, via a rename: a
  // crash in between leaves no hash file, which only causes a rebuild, never a stale image
  // taken for fresh.
  await rm(hashFileOf(out), { force: true });
  const { hash, compressedBytes } = await writeImage(plan, out, inputs.gzipLevel);
  const temporary = `${hashFileOf(out)}.tmp-${process.pid}`;
  await writeFile(temporary, `${hash}\n`);
  await rename(temporary, hashFileOf(out));
  return { ...imageResult(out, inputs, plan, hash, compressedBytes, started), rebuilt: true };
}

async function readRecordedHash(out: string): Promise<string | undefined> {
  try {
    return (await readFile(hashFileOf(out), 'utf8')).trim();
  } catch {
    return undefined;
  }
}
