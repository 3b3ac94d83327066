/**
 * Finds the shared libraries and the dynamic loader a binary needs, from the binary itself:
 * PT_INTERP names the loader; DT_NEEDED, DT_RPATH and DT_RUNPATH drive the same search the
 * loader does (rpath, runpath, /etc/ld.so.cache, the default directories), applied
 * transitively. No list of library names is written down anywhere.
 */
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ELF_HEADER_BYTES, elfInvalid, parseElfHeader } from './ElfHeader.js';
import { InitrdError } from './errors.js';

export interface ElfInfo {
  readonly path: string;
  readonly elfClass: 32 | 64;
  readonly littleEndian: boolean;
  /** e_machine, e.g. 62 for x86-64. */
  readonly machine: number;
  /** PT_INTERP: the loader an executable asks for; absent for libraries and static binaries. */
  readonly interpreter?: string;
  readonly needed: readonly string[];
  readonly soname?: string;
  readonly rpath: readonly string[];
  readonly runpath: readonly string[];
}

/** A shared object as the image ships it: under `name` (what DT_NEEDED asks for), copied from `realPath`. */
export interface SharedObject {
  readonly name: string;
  /** The path it was found at (often a symlink, e.g. /lib64/ld-linux-x86-64.so.2). */
  readonly foundAt: string;
  /** The regular file behind it, whose bytes are copied. */
  readonly realPath: string;
}

export interface RuntimeDependencies {
  /** The dynamic loader named by the first binary's PT_INTERP. */
  readonly interpreter: SharedObject;
  /** Every other shared object needed by any of the binaries, sorted by name. */
  readonly libraries: readonly SharedObject[];
}

export interface DependencyOptions {
  /** The loader's cache; default /etc/ld.so.cache. A missing cache is not an error. */
  readonly ldSoCache?: string;
  /** Searched after the cache; default: the multiarch and lib64 directories for the machine. */
  readonly defaultDirectories?: readonly string[];
}

const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_LOAD = 1;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** Reads the parts of an ELF file that decide how it is loaded. */
export async function readElfInfo(path: string): Promise<ElfInfo> {
  const file = await open(path, 'r');
  try {
    return await parseElf(file, path);
  } finally {
    await file.close();
  }
}

async function parseElf(file: FileHandle, path: string): Promise<ElfInfo> {
  const invalid = (why: string) => elfInvalid(path, why);
  const { elfClass, littleEndian, machine, phoff, phentsize, phnum, u32, word } = parseElfHeader(await readAt(file, 0, ELF_HEADER_BYTES), path);
  const is64 = elfClass === 64;
  const headers = await readAt(file, phoff, phentsize * phnum);
  if (headers.length < phentsize * phnum) throw invalid('truncated program headers');

  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const h = i * phentsize;
    const type = u32(headers, h);
    const offset = word(headers, h + (is64 ? 8 : 4));
    const vaddr = word(headers, h + (is64 ? 16 : 8));
    const filesz = word(headers, h + (is64 ? 32 : 16));
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_INTERP) interpreter = cString(await readAt(file, offset, filesz), 0);
    if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
  }

  const needed: string[] = [];
  const rpath: string[] = [];
  const runpath: string[] = [];
  let soname: string | undefined;
  if (dynamic) {
    const entrySize = is64 ? 16 : 8;
    const table = await readAt(file, dynamic.offset, dynamic.size);
    const entries: { tag: number; value: number }[] = [];
    for (let o = 0; o + entrySize <= table.length; o += entrySize) {
      const tag = word(table, o);
      if (tag === 0) break;
      entries.push({ tag, value: word(table, o + entrySize / 2) });
    }
    const strtabAddress = entries.find((e) => e.tag === DT_STRTAB)?.value;
    const strtabSize = entries.find((e) => e.tag === DT_STRSZ)?.value;
    if (strtabAddress === undefined || strtabSize === undefined) throw invalid('dynamic section without a string table');
    // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
    const segment = loads.find((l) => strtabAddress >= l.vaddr && strtabAddress < l.vaddr + l.filesz);
    if (!segment) throw invalid('string table outside every loaded segment');
    const strings = await readAt(file, segment.offset + (strtabAddress - segment.vaddr), strtabSize);
    for (const { tag, value } of entries) {
      if (tag === DT_NEEDED) needed.push(cString(strings, value));
      if (tag === DT_SONAME) soname = cString(strings, value);
      if (tag === DT_RPATH) rpath.push(...splitPath(cString(strings, value)));
      if (tag === DT_RUNPATH) runpath.push(...splitPath(cString(strings, value)));
    }
  }
  return { path, elfClass, littleEndian, machine, needed, rpath, runpath, ...(interpreter ? { interpreter } : {}), ...(soname ? { soname } : {}) };
}

/**
 * Resolves the loader of `binaries[0]` and every shared object any of `binaries` needs,
 * transitively (native addons are passed after the executable: they need libraries too).
 */
export async function resolveRuntimeDependencies(binaries: readonly string[], options: DependencyOptions = {}): Promise<RuntimeDependencies> {
  const main = await readElfInfo(binaries[0]);
  if (!main.interpreter) {
    throw new InitrdError('ELF_INVALID', `${binaries[0]} has no PT_INTERP (it is not a dynamically linked executable); use a dynamically linked node binary`);
  }
  const cache = await readLdSoCache(options.ldSoCache ?? '/etc/ld.so.cache');
  const defaults = options.defaultDirectories ?? defaultDirectoriesFor(main.machine);
  const interpreterName = basename(main.interpreter);
  const interpreter: SharedObject = { name: interpreterName, foundAt: main.interpreter, realPath: await realpath(main.interpreter) };

  const found = new Map<string, SharedObject>();
  const queue: { info: ElfInfo; origin: string }[] = [];
  for (const binary of binaries) {
    const info = binary === binaries[0] ? main : await readElfInfo(binary);
    queue.push({ info, origin: dirname(binary) });
  }
  while (queue.length > 0) {
    const { info, origin } = queue.shift()!;
    for (const name of info.needed) {
      if (name === interpreterName || found.has(name)) continue;
      const path = await locate(name, info, origin, main, cache, defaults);
      if (!path) {
        throw new InitrdError('ELF_LIBRARY_NOT_FOUND', `${name}, needed by ${info.path}, was not found in its rpath/runpath, ${options.ldSoCache ?? '/etc/ld.so.cache'} or ${defaults.join(':')}; install the package that provides it`);
      }
      const object = { name, foundAt: path, realPath: await realpath(path) };
      if (object.realPath === interpreter.realPath) continue;
      found.set(name, object);
      queue.push({ info: await readElfInfo(object.realPath), origin: dirname(path) });
    }
  }
  const libraries = [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { interpreter, libraries };
}

/** The loader's order: DT_RPATH (only without DT_RUNPATH), DT_RUNPATH, the cache, the defaults. */
async function locate(name: string, requester: ElfInfo, origin: string, main: ElfInfo, cache: LdSoCache, defaults: readonly string[]): Promise<string | undefined> {
  const matches = async (candidate: string) => {
    try {
      const info = await readElfInfo(candidate);
      return info.elfClass === main.elfClass && info.machine === main.machine;
    } catch {
      return false; // absent, unreadable or not ELF: the loader would skip it too
    }
  };
  if (name.includes('/')) return (await matches(name)) ? name : undefined;
  const expand = (dirs: readonly string[]) => dirs.map((d) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin)).filter((d) => !d.includes('$'));
  const searchDirectories = [
    ...(requester.runpath.length === 0 ? expand([...requester.rpath, ...main.rpath]) : []),
    ...expand(requester.runpath),
  ];
  for (const dir of searchDirectories) {
    if (await matches(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  for (const path of cache.get(name) ?? []) {
    if (await matches(path)) return path;
  }
  for (const dir of defaults) {
    if (await matches(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/** Library name → paths, baseline entries first. */
type LdSoCache = ReadonlyMap<string, readonly string[]>;

const CACHE_MAGIC = 'glibc-ld.so.cache1.1';
const OLD_CACHE_MAGIC = 'ld.so-1.7.0';

/**
 * Reads glibc's cache (the "new" format, also when it follows an old-format table).
 * Entries for glibc-hwcaps subdirectories (x86-64-v3 …) are put last: the image must run on
 * whatever CPU the VM has, so the baseline build of a library is the one to ship.
 */
export async function readLdSoCache(path: string): Promise<LdSoCache> {
  let data: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      data = await file.readFile();
    } finally {
      await file.close();
    }
  } catch {
    return new Map();
  }
  let base = 0;
  if (data.toString('latin1', 0, OLD_CACHE_MAGIC.length) === OLD_CACHE_MAGIC) {
    const oldCount = data.readUInt32LE(OLD_CACHE_MAGIC.length + 1);
    base = align(OLD_CACHE_MAGIC.length + 1 + 4 + oldCount * 12, 8);
  }
  if (data.toString('latin1', base, base + CACHE_MAGIC.length) !== CACHE_MAGIC) return new Map();
  const count = data.readUInt32LE(base + 20);
  const baseline = new Map<string, string[]>();
  const hwcaps = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const e = base + 48 + i * 24;
    if (e + 24 > data.length) break;
    const key = cString(data, data.readUInt32LE(e + 4));
    const value = cString(data, data.readUInt32LE(e + 8));
    const hwcap = data.readBigUInt64LE(e + 16);
    const table = hwcap === 0n ? baseline : hwcaps;
    table.set(key, [...(table.get(key) ?? []), value]);
  }
  const merged = new Map<string, string[]>();
  for (const key of new Set([...baseline.keys(), ...hwcaps.keys()])) merged.set(key, [...(baseline.get(key) ?? []), ...(hwcaps.get(key) ?? [])]);
  return merged;
}

function defaultDirectoriesFor(machine: number): string[] {
  const multiarch: Record<number, string> = { 62: 'x86_64-linux-gnu', 183: 'aarch64-linux-gnu', 3: 'i386-linux-gnu', 243: 'riscv64-linux-gnu' };
  const triplet = multiarch[machine];
  return [...(triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : []), '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

function cString(buffer: Buffer, offset: number): string {
  const end = buffer.indexOf(0, offset);
  return buffer.toString('utf8', offset, end < 0 ? buffer.length : end);
}

const splitPath = (value: string) => value.split(':').filter((d) => d.length > 0);
const align = (n: number, to: number) => Math.ceil(n / to) * to;
