/**
 * The kernel modules a stock distribution kernel needs to run /init (Debian's cloud kernel
 * has virtio-pci, virtio-blk, overlayfs and vsock as modules), found in a
 * `lib/modules/VERSION` tree with their dependencies, in the order they must be loaded.
 *
 * Dependencies come from `modules.dep` when the tree has one, else from each module's own
 * `.modinfo` section (`depends=`): Debian's package ships no modules.dep, and depmod may not
 * be installed where the image is built. Modules the kernel has built in (`modules.builtin`)
 * need no file. Compressed modules (.ko.gz, .ko.xz, .ko.zst) are decompressed here, so that
 * busybox's insmod in the guest reads plain ELF files.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { elfSection } from './ElfHeader.js';
import { InitrdError } from './errors.js';

/** A module /init may load, and why. Required ones fail the build when the tree lacks them. */
export interface WantedModule {
  readonly name: string;
  readonly required: boolean;
  readonly why: string;
}

/** What /init needs from a kernel whose drivers are modules (always, whatever the layout). */
export const INIT_KERNEL_MODULES: readonly WantedModule[] = [
  { name: 'virtio_pci', required: true, why: 'virtio devices on PCI (QEMU, Cloud Hypervisor)' },
  { name: 'virtio_blk', required: true, why: 'the disks' },
  { name: 'overlay', required: true, why: 'the container root: the image under a writable layer' },
  { name: 'vsock', required: true, why: 'the agent listens on vsock port 2222' },
  { name: 'vmw_vsock_virtio_transport', required: true, why: 'vsock between the guest and the host (virtio-vsock)' },
  { name: 'virtio_net', required: false, why: 'the network /init configures from config.sh' },
];

/** Added for the runtime-image layout: the file system of the runtime image, and virtio-pmem to attach it with DAX. */
export const RUNTIME_IMAGE_KERNEL_MODULES: readonly WantedModule[] = [
  { name: 'erofs', required: true, why: 'the runtime image (EROFS)' },
  { name: 'virtio_pmem', required: false, why: 'the runtime image as a virtio-pmem device (DAX: no page cache copy)' },
  { name: 'nd_pmem', required: false, why: 'the block device (/dev/pmem0) of a virtio-pmem region' },
];

export interface KernelModule {
  readonly name: string;
  /** Path inside the modules tree, decompressed: `kernel/fs/overlayfs/overlay.ko`. */
  readonly path: string;
  /** The file it comes from. */
  readonly source: string;
  readonly depends: readonly string[];
}

export interface KernelModuleSet {
  /** The kernel release the tree is for (its directory name), as `uname -r` reports it. */
  readonly version: string;
  /** Every module to load, each after the modules it depends on. */
  readonly modules: readonly KernelModule[];
  /** Wanted modules the kernel has built in: nothing to load. */
  readonly builtin: readonly string[];
  /** Optional modules the tree has neither as a file nor built in. */
  readonly missing: readonly string[];
}

/** The file /init reads, in the image's `lib/modules/VERSION/`: one module path per line, in load order. */
export const MODULE_LOAD_LIST = 'load-order';

const MODULE_SUFFIX = /\.ko(\.gz|\.xz|\.zst)?$/;

/** Module names are the same with `-` and `_` (the kernel treats them alike). */
export const moduleName = (name: string) => name.replace(/-/g, '_');

/**
 * Resolves `wanted` and their dependencies in the tree `dir` (a `lib/modules/VERSION`
 * directory), in load order.
 */
export async function resolveKernelModules(dir: string, wanted: readonly WantedModule[]): Promise<KernelModuleSet> {
  if (!existsSync(join(dir, 'modules.order')) && !existsSync(join(dir, 'modules.builtin')) && !existsSync(join(dir, 'kernel'))) {
    throw new InitrdError('KERNEL_MODULES_NOT_FOUND', `${dir} is not a kernel modules tree (no kernel/, modules.order or modules.builtin); pass a lib/modules/VERSION directory, e.g. one unpacked with dpkg-deb -x from a linux-image package`);
  }
  const files = await moduleFiles(dir);
  const builtin = await builtinModules(dir);
  const dependencies = await readModulesDep(dir);
  const loaded = new Map<string, KernelModule>();
  const order: KernelModule[] = [];
  const visiting = new Set<string>();
  const builtinWanted: string[] = [];
  const missing: string[] = [];

  async function visit(name: string, neededBy: string): Promise<void> {
    if (loaded.has(name) || builtin.has(name)) return;
    if (visiting.has(name)) throw new InitrdError('KERNEL_MODULE_INVALID', `the dependencies of ${name} form a cycle (through ${neededBy}); the modules tree is inconsistent`);
    const source = files.get(name);
    if (!source) {
      throw new InitrdError('KERNEL_MODULE_NOT_FOUND', `${name}, needed by ${neededBy}, is neither a file under ${dir} nor in its modules.builtin; use the modules tree of the kernel you boot`);
    }
    visiting.add(name);
    const depends = dependencies?.get(name) ?? (await modinfoDepends(source));
    for (const dependency of depends) await visit(dependency, name);
    visiting.delete(name);
    const module = { name, path: relative(dir, source).replace(MODULE_SUFFIX, '.ko'), source, depends };
    loaded.set(name, module);
    order.push(module);
  }

  for (const module of wanted) {
    const name = moduleName(module.name);
    if (builtin.has(name)) builtinWanted.push(name);
    else if (files.has(name)) await visit(name, `/init (${module.why})`);
    else if (module.required) {
      throw new InitrdError('KERNEL_MODULE_NOT_FOUND', `${name} (${module.why}) is neither a file under ${dir} nor in its modules.builtin; use the modules tree of the kernel you boot, or a kernel with it built in (then build without --kernel-modules)`);
    } else missing.push(name);
  }
  return { version: basename(dir), modules: order, builtin: builtinWanted, missing };
}

/** The load list /init reads (see MODULE_LOAD_LIST). */
export function moduleLoadList(set: KernelModuleSet): string {
  return set.modules.map((m) => `${m.path}\n`).join('');
}

/** A module's ELF bytes, decompressed if it is a .ko.gz, .ko.xz or .ko.zst. */
export async function readModule(source: string): Promise<Buffer> {
  const data = await readFile(source);
  if (source.endsWith('.ko')) return data;
  if (source.endsWith('.gz')) return gunzipSync(data);
  const tool = source.endsWith('.xz') ? { command: 'xz', pkg: 'xz-utils' } : { command: 'zstd', pkg: 'zstd' };
  try {
    const { stdout } = await promisify(execFile)(tool.command, ['-dc', source], { encoding: 'buffer', maxBuffer: 256 << 20 });
    return stdout;
  } catch (error) {
    throw new InitrdError('KERNEL_MODULE_INVALID', `cannot decompress ${source} with ${tool.command} (${(error as Error).message.split('\n')[0]}); install it: apt-get install ${tool.pkg}`);
  }
}

/** The `depends=` entry of a module's .modinfo section. */
export async function modinfoDepends(source: string): Promise<string[]> {
  const info = modinfo(await readModule(source), source);
  return (info.get('depends') ?? '').split(',').filter((d) => d.length > 0).map(moduleName);
}

/** A module's .modinfo: NUL-separated `key=value` strings (a key may repeat; the first is kept). */
export function modinfo(elf: Buffer, source: string): Map<string, string> {
  const section = elfSection(elf, '.modinfo', source);
  if (!section) throw new InitrdError('KERNEL_MODULE_INVALID', `${source} has no .modinfo section: it is not a kernel module`);
  const entries = new Map<string, string>();
  for (const text of section.toString('utf8').split('\0')) {
    const eq = text.indexOf('=');
    if (eq > 0 && !entries.has(text.slice(0, eq))) entries.set(text.slice(0, eq), text.slice(eq + 1));
  }
  return entries;
}

/** Every module file under the tree, by name. */
async function moduleFiles(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !MODULE_SUFFIX.test(entry.name)) continue;
    const name = moduleName(entry.name.replace(MODULE_SUFFIX, ''));
    // A module under `updates/` or `extra/` shadows the one under `kernel/`, as depmod ranks them.
    const path = join(entry.parentPath, entry.name);
    const existing = found.get(name);
    if (!existing || rank(relative(dir, path)) < rank(relative(dir, existing))) found.set(name, path);
  }
  return found;
}

const rank = (path: string) => (path.startsWith('updates/') ? 0 : path.startsWith('extra/') ? 1 : 2);

async function builtinModules(dir: string): Promise<Set<string>> {
  const text = await readFile(join(dir, 'modules.builtin'), 'utf8').catch(() => '');
  return new Set(text.split('\n').filter((l) => l.length > 0).map((l) => moduleName(basename(l).replace(MODULE_SUFFIX, ''))));
}

/** modules.dep, if the tree has one: `kernel/a.ko: kernel/b.ko kernel/c.ko` → name → dependency names. */
async function readModulesDep(dir: string): Promise<Map<string, string[]> | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'modules.dep'), 'utf8');
  } catch {
    return undefined;
  }
  const nameOf = (path: string) => moduleName(basename(path).replace(MODULE_SUFFIX, ''));
  const dependencies = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    dependencies.set(nameOf(line.slice(0, colon)), line.slice(colon + 1).split(/\s+/).filter((p) => p.length > 0).map(nameOf));
  }
  return dependencies;
}
