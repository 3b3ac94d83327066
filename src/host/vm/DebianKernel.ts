/**
 * Debian's cloud kernel, fetched by name with apt and unpacked without installing it: the
 * kernel the VM test boots (its virtio, overlay, vsock and EROFS drivers are modules, which
 * the image ships, see initrd/KernelModules). `apt-get download` and `dpkg-deb -x` need no
 * root and touch nothing outside the cache, which the tests and `npm run bench` share.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VmError } from './errors.js';

const run = promisify(execFile);

/** The metapackage that depends on the current cloud kernel of Debian 12. */
export const DEBIAN_KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';

export interface GuestKernel {
  /** The package it came from, e.g. linux-image-6.1.0-57-cloud-amd64. */
  readonly package: string;
  /** The kernel release (`uname -r`), e.g. 6.1.0-57-cloud-amd64. */
  readonly release: string;
  readonly vmlinuz: string;
  /** Its `lib/modules/RELEASE` tree, for `build:initrd --kernel-modules`. */
  readonly modules: string;
}

/** $HYPEMAN_KERNEL_CACHE, else $XDG_CACHE_HOME/hypeman-exec/kernel, else ~/.cache/hypeman-exec/kernel. */
export function defaultKernelCache(): string {
  if (process.env.HYPEMAN_KERNEL_CACHE) return process.env.HYPEMAN_KERNEL_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hypeman-exec', 'kernel');
}

const COMPLETE = '.complete';

/** The package the metapackage depends on now, by `apt-cache depends`; null without apt or that package. */
export async function currentKernelPackage(metapackage = DEBIAN_KERNEL_METAPACKAGE): Promise<string | null> {
  try {
    const { stdout } = await run('apt-cache', ['depends', metapackage]);
    return /Depends:\s*(linux-image-\S+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The kernel unpacked in `dir`, if it is complete. */
async function unpackedKernel(dir: string, name: string): Promise<GuestKernel | null> {
  if (!existsSync(join(dir, COMPLETE))) return null;
  const boot = (await readdir(join(dir, 'boot')).catch(() => [] as string[])).find((f) => f.startsWith('vmlinuz-'));
  if (!boot) return null;
  const release = boot.slice('vmlinuz-'.length);
  const modules = join(dir, 'lib', 'modules', release);
  return existsSync(modules) ? { package: name, release, vmlinuz: join(dir, 'boot', boot), modules } : null;
}

/** Every complete kernel in the cache, newest package name first. */
export async function cachedKernels(cacheDir = defaultKernelCache()): Promise<GuestKernel[]> {
  const names = (await readdir(cacheDir).catch(() => [] as string[])).filter((n) => n.startsWith('linux-image-'));
  names.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  const kernels: GuestKernel[] = [];
  for (const name of names) {
    const kernel = await unpackedKernel(join(cacheDir, name), name);
    if (kernel) kernels.push(kernel);
  }
  return kernels;
}

/**
 * The current Debian cloud kernel, from the cache or fetched into it. Without apt (or its
 * index), the newest kernel already in the cache is used.
 */
export async function ensureDebianKernel(cacheDir = defaultKernelCache()): Promise<GuestKernel> {
  const name = await currentKernelPackage();
  if (name === null) {
    const [cached] = await cachedKernels(cacheDir);
    if (cached) return cached;
    throw new VmError('KERNEL_UNAVAILABLE', `apt-cache does not know ${DEBIAN_KERNEL_METAPACKAGE} and ${cacheDir} holds no kernel; on Debian 12 run apt-get update, or unpack a linux-image-*-cloud-amd64 package into ${cacheDir}/<package>/ (dpkg-deb -x) and create its ${COMPLETE} file`);
  }
  const dir = join(cacheDir, name);
  const cached = await unpackedKernel(dir, name);
  if (cached) return cached;
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, `.fetch-${name}-`));
  try {
    try {
      await run('apt-get', ['download', '-q', name], { cwd: work });
    } catch (error) {
      throw new VmError('KERNEL_UNAVAILABLE', `apt-get download ${name} failed (${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').pop()}); run apt-get update, or check the network`, { cause: error });
    }
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmError('KERNEL_UNAVAILABLE', `apt-get download ${name} left no .deb in ${work}`);
    const tree = join(work, 'tree');
    await run('dpkg-deb', ['-x', join(work, deb), tree]);
    await writeFile(join(tree, COMPLETE), `${deb}\n`);
    await rename(tree, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process unpacked it first: theirs is as good.
      if (!(await unpackedKernel(dir, name))) throw error;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const kernel = await unpackedKernel(dir, name);
  if (!kernel) throw new VmError('KERNEL_UNAVAILABLE', `${name} unpacked into ${dir} has no boot/vmlinuz-* with its lib/modules tree; it is not a kernel image package`);
  return kernel;
}
