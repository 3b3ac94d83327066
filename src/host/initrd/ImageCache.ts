/**
 * Rebuild the image only when its inputs changed, like the original's hash of agent and init.
 * The staleness hash is the image's own hash (ImageBuilder.hashImage): the uncompressed
 * archive covers the agent bundle, /init, the Node runtime and its libraries, busybox and the
 * native addons, byte for byte. Computing it reads the inputs but skips gzip, the slow part.
 * The hash of the image on disk is kept beside it in `<image>.sha256`; in the runtime-image
 * layout it covers the runtime image too (both are rebuilt together).
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { collectImageInputs, hashImage, imageResult, planImage, planInitrd, planRuntimeImage, writeImageFiles, type ImageBuildOptions, type ImageBuildResult } from './ImageBuilder.js';

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
  const runtimeImage = options.runtimeImage;
  if (recorded === wanted && existsSync(out) && (runtimeImage === undefined || existsSync(runtimeImage))) {
    const { size } = await stat(out);
    const initrd = await planInitrd(inputs, plan);
    const image = runtimeImage === undefined ? null : { bytes: (await stat(runtimeImage)).size, fileBytes: (await planRuntimeImage(inputs)).fileBytes };
    return { ...imageResult(out, runtimeImage, { inputs, hash: wanted, compressedBytes: size, initrd, runtimeImage: image }, started), rebuilt: false };
  }
  // The old hash goes first and the new one is written after the image, via a rename: a
  // crash in between leaves no hash file, which only causes a rebuild, never a stale image
  // taken for fresh.
  await rm(hashFileOf(out), { force: true });
  const written = await writeImageFiles(inputs, plan, out, runtimeImage);
  const temporary = `${hashFileOf(out)}.tmp-${process.pid}`;
  await writeFile(temporary, `${written.hash}\n`);
  await rename(temporary, hashFileOf(out));
  return { ...imageResult(out, runtimeImage, written, started), rebuilt: true };
}

async function readRecordedHash(out: string): Promise<string | undefined> {
  try {
    return (await readFile(hashFileOf(out), 'utf8')).trim();
  } catch {
    return undefined;
  }
}
