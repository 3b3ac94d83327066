/**
 * Assembles the guest image: resolves its inputs (the agent bundle, the Node runtime with its
 * libraries and loader, busybox, node-pty, the vsock addon, /init, and the kernel modules of
 * a stock kernel), lays them out as a cpio tree (see ImageLayout) and writes the archive
 * gzip-compressed. Two layouts:
 *
 * - single initrd (the default): everything in initrd.cpio.gz, one file to boot;
 * - runtime image: the initrd keeps busybox, /init and the modules; the agent's payload
 *   (/.hypeman) becomes a read-only EROFS image attached as a disk (RuntimeImage), so the
 *   guest does not hold it in RAM.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { delimiter, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { bundleAgent, findSpawnHelper, findVsockAddon, nodePtyFiles, type PackageFile } from './AgentBundle.js';
import { CpioArchive, type CpioEntry, type CpioPlan } from './CpioWriter.js';
import { readElfInfo, resolveRuntimeDependencies, type RuntimeDependencies } from './ElfDependencies.js';
import { InitrdError } from './errors.js';
import { findProjectRoot } from '../projectRoot.js';
import { imageLayout, launcherScript, type ImageLayout } from './ImageLayout.js';
import { entrypointShim, renderInitScript, RUNTIME_IMAGE_DEVICE } from './InitScript.js';
import { INIT_KERNEL_MODULES, MODULE_LOAD_LIST, moduleLoadList, readModule, resolveKernelModules, RUNTIME_IMAGE_KERNEL_MODULES, type KernelModuleSet, type WantedModule } from './KernelModules.js';
import { writeRuntimeImage } from './RuntimeImage.js';

export interface ImageBuildOptions {
  /** The checkout; default: found upward from this module. */
  readonly projectRoot?: string;
  /** The agent's entry point; default <projectRoot>/src/guest/main.ts. */
  readonly agentEntry?: string;
  /** The Node runtime to ship; default the one running this code. */
  readonly nodeBinary?: string;
  /**
   * A statically linked busybox; default `busybox` on PATH (Debian's busybox-static). null:
   * a tree without busybox, only for a local instance on a host without it (no /init can
   * run from it, so it cannot become an initrd).
   */
  readonly busybox?: string | null;
  /** node-pty's package directory; default resolved from this project. */
  readonly nodePtyDirectory?: string;
  /** The vsock addon; default src/vsock/native/build/Release/*.node if built; null: build without it. */
  readonly vsockAddon?: string | null;
  /** The agent's static exec helper; default build/guest/hypeman-exec-spawn if built; null: build without it. */
  readonly spawnHelper?: string | null;
  /** glibc's loader cache used to resolve libraries; default /etc/ld.so.cache. */
  readonly ldSoCache?: string;
  readonly agentPort?: number;
  /** gzip level 1–9; default 6. */
  readonly gzipLevel?: number;
  /** A kernel's `lib/modules/VERSION` tree: the modules /init needs are shipped and loaded at boot. */
  readonly kernelModules?: string;
  /** More modules (names) to ship and load, e.g. vsock_loopback for tests. */
  readonly extraKernelModules?: readonly string[];
  /** Build the runtime-image layout: the payload goes to this EROFS image instead of the initrd. */
  readonly runtimeImage?: string;
}

/** Everything that goes into the image, resolved: the same inputs give the same image bytes. */
export interface ImageInputs {
  readonly layout: ImageLayout;
  readonly agentBundle: Uint8Array;
  readonly initScript: string;
  readonly entrypointShim: string;
  readonly nodeBinary: string;
  /** null: none (a local image tree only). */
  readonly busybox: string | null;
  readonly applets: readonly { readonly path: string; readonly target: string }[];
  readonly runtime: RuntimeDependencies;
  readonly nodePty: readonly PackageFile[];
  readonly vsockAddon: string | null;
  readonly spawnHelper: string | null;
  readonly gzipLevel: number;
  /** The kernel modules shipped, or null when the kernel is expected to have everything built in. */
  readonly modules: KernelModuleSet | null;
  /** Decompressed bytes of the modules that were compressed (by archive path). */
  readonly moduleData: ReadonlyMap<string, Uint8Array>;
  /** True for the runtime-image layout: the payload is written to its own image. */
  readonly runtimeImage: boolean;
}

export interface ImageBuildResult {
  readonly path: string;
  /** sha256 of the uncompressed archive and the gzip level: the image's identity. */
  readonly hash: string;
  readonly compressedBytes: number;
  /** Length of the uncompressed cpio archive. */
  readonly archiveBytes: number;
  /** Sum of the files' contents: the unpacked size. */
  readonly fileBytes: number;
  readonly layout: ImageLayout;
  /** The vsock addon shipped, or null when the image was built without it. */
  readonly vsockAddon: string | null;
  /** The exec helper shipped, or null when the image was built without it. */
  readonly spawnHelper: string | null;
  /** The kernel modules shipped (null: none). */
  readonly modules: KernelModuleSet | null;
  /** The runtime-image layout's EROFS image, and the payload's unpacked size in it. */
  readonly runtimeImage: { readonly path: string; readonly bytes: number; readonly fileBytes: number } | null;
  readonly durationMs: number;
}

export async function collectImageInputs(options: ImageBuildOptions = {}): Promise<ImageInputs> {
  const projectRoot = options.projectRoot ?? findProjectRoot();
  const agentEntry = resolve(projectRoot, options.agentEntry ?? join('src', 'guest', 'main.ts'));
  // The real file: its directory is what $ORIGIN means to the loader.
  const nodeBinary = await realpath(options.nodeBinary ?? process.execPath);
  const busybox = options.busybox === null ? null : (options.busybox ?? findOnPath('busybox'));
  const vsockAddon = options.vsockAddon === undefined ? await findVsockAddon(projectRoot) : options.vsockAddon;
  const spawnHelper = options.spawnHelper === undefined ? findSpawnHelper(projectRoot) : options.spawnHelper;
  const gzipLevel = options.gzipLevel ?? 6;

  const [bundle, nodePty, applets] = await Promise.all([
    bundleAgent({ entry: agentEntry, workingDirectory: projectRoot }),
    nodePtyFiles(options.nodePtyDirectory),
    busybox ? busyboxApplets(busybox) : [],
    spawnHelper ? requireStatic(spawnHelper, 'SPAWN_HELPER_NOT_STATIC', 'the exec helper runs in container roots without our libraries: build it with src/guest/native/build.sh (gcc -static)') : undefined,
  ]);
  const nativeAddons = [nodePty.find((f) => f.path.endsWith('.node'))!.source, ...(vsockAddon ? [vsockAddon] : [])];
  const runtime = await resolveRuntimeDependencies([nodeBinary, ...nativeAddons], options.ldSoCache ? { ldSoCache: options.ldSoCache } : {});
  const layout = imageLayout(runtime.interpreter.name);
  const runtimeImage = options.runtimeImage !== undefined;
  const modules = options.kernelModules === undefined ? null : await resolveKernelModules(options.kernelModules, wantedModules(runtimeImage, options.extraKernelModules));
  const moduleData = new Map<string, Uint8Array>();
  for (const module of modules?.modules ?? []) {
    if (!module.source.endsWith('.ko')) moduleData.set(module.path, await readModule(module.source));
  }
  return {
    layout,
    agentBundle: bundle.code,
    initScript: renderInitScript({
      layout,
      projectRoot,
      ...(options.agentPort !== undefined ? { agentPort: options.agentPort } : {}),
      ...(runtimeImage ? { defaults: { HYPEMAN_RUNTIME_DEVICE: RUNTIME_IMAGE_DEVICE } } : {}),
    }),
    entrypointShim: entrypointShim(projectRoot),
    nodeBinary,
    busybox,
    applets,
    runtime,
    nodePty,
    vsockAddon,
    spawnHelper,
    gzipLevel,
    modules,
    moduleData,
    runtimeImage,
  };
}

function wantedModules(runtimeImage: boolean, extra: readonly string[] = []): WantedModule[] {
  return [
    ...INIT_KERNEL_MODULES,
    ...(runtimeImage ? RUNTIME_IMAGE_KERNEL_MODULES : []),
    ...extra.map((name) => ({ name, required: true, why: 'asked for with --kernel-module' })),
  ];
}

/** The image's tree as cpio entries (archive paths are relative: `bin/sh`). */
export function imageEntries(inputs: ImageInputs): CpioEntry[] {
  const { layout } = inputs;
  const at = (path: string) => path.replace(/^\/+/, '');
  const text = (s: string) => ({ data: Buffer.from(s, 'utf8') });
  const entries: CpioEntry[] = [
    { type: 'file', path: at(layout.init), mode: 0o755, source: text(inputs.initScript) },
    ...(inputs.busybox
      ? ([
          { type: 'file', path: at(layout.busybox), mode: 0o755, source: { path: inputs.busybox } },
          { type: 'hardlink', path: at(layout.payloadBusybox), target: at(layout.busybox) },
        ] as const)
      : []),
    ...inputs.applets.map(({ path, target }): CpioEntry => ({ type: 'symlink', path: at(path), target })),
    // The kernel opens /dev/console for init's output before anything is mounted.
    { type: 'char-device', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    ...['proc', 'sys', 'run', 'mnt', 'overlay'].map((path): CpioEntry => ({ type: 'directory', path })),
    { type: 'directory', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: at(layout.node), mode: 0o755, source: { path: inputs.nodeBinary } },
    { type: 'file', path: at(layout.loader), mode: 0o755, source: { path: inputs.runtime.interpreter.realPath } },
    ...inputs.runtime.libraries.map((lib): CpioEntry => ({ type: 'file', path: at(`${layout.libraries}/${lib.name}`), mode: 0o755, source: { path: lib.realPath } })),
    { type: 'file', path: at(layout.agentBundle), mode: 0o644, source: { data: inputs.agentBundle } },
    { type: 'file', path: at(layout.launcher), mode: 0o755, source: text(launcherScript(layout, inputs.busybox !== null)) },
    ...inputs.nodePty.map((f): CpioEntry => ({
      type: 'file',
      path: at(`${layout.nodeModules}/node-pty/${f.path}`),
      mode: f.path.endsWith('.node') ? 0o755 : 0o644,
      source: { path: f.source },
    })),
    ...(inputs.vsockAddon ? [{ type: 'file', path: at(layout.vsockAddon), mode: 0o755, source: { path: inputs.vsockAddon } } as const] : []),
    ...(inputs.spawnHelper ? [{ type: 'file', path: at(layout.spawnHelper), mode: 0o755, source: { path: inputs.spawnHelper } } as const] : []),
    { type: 'file', path: at(layout.entrypointShim), mode: 0o755, source: text(inputs.entrypointShim) },
    ...moduleEntries(inputs),
  ];
  return entries;
}

/** The kernel modules under lib/modules/VERSION/, and the list /init loads them from. */
function moduleEntries(inputs: ImageInputs): CpioEntry[] {
  if (!inputs.modules) return [];
  const dir = `lib/modules/${inputs.modules.version}`;
  return [
    ...inputs.modules.modules.map((m): CpioEntry => {
      const data = inputs.moduleData.get(m.path);
      return { type: 'file', path: `${dir}/${m.path}`, mode: 0o644, source: data ? { data } : { path: m.source } };
    }),
    { type: 'file', path: `${dir}/${MODULE_LOAD_LIST}`, mode: 0o644, source: { data: Buffer.from(moduleLoadList(inputs.modules)) } },
  ];
}

const payloadPrefix = (layout: ImageLayout) => `${layout.payload.replace(/^\/+/, '')}/`;

/**
 * What goes into the initrd: everything, or, in the runtime-image layout, everything but the
 * payload, whose directory stays as the runtime image's mount point.
 */
export function initrdEntries(inputs: ImageInputs): CpioEntry[] {
  const all = imageEntries(inputs);
  if (!inputs.runtimeImage) return all;
  const prefix = payloadPrefix(inputs.layout);
  return [...all.filter((e) => !e.path.startsWith(prefix)), { type: 'directory', path: prefix.slice(0, -1) }];
}

/** The runtime image's tree (paths relative to the payload directory); empty in the single-initrd layout. */
export function runtimeImageEntries(inputs: ImageInputs): CpioEntry[] {
  if (!inputs.runtimeImage) return [];
  const prefix = payloadPrefix(inputs.layout);
  const all = imageEntries(inputs);
  const files = new Map(all.map((e) => [e.path, e]));
  return all.filter((e) => e.path.startsWith(prefix)).map((e): CpioEntry => {
    const path = e.path.slice(prefix.length);
    if (e.type !== 'hardlink') return { ...e, path };
    // A link to a file outside the payload (busybox) becomes a copy of it.
    const target = files.get(e.target);
    if (target?.type !== 'file') throw new InitrdError('CPIO_BAD_HARDLINK', `${e.path} links to ${e.target}, which is not a file of the image`);
    return e.target.startsWith(prefix) ? { ...e, path, target: e.target.slice(prefix.length) } : { ...target, path };
  });
}

/** The plan of the whole image, both parts: its hash is the image's identity in either layout. */
export async function planImage(inputs: ImageInputs): Promise<CpioPlan> {
  return new CpioArchive().addAll(imageEntries(inputs)).plan();
}

/** The initrd's part of the image: `whole` itself in the single-initrd layout. */
export async function planInitrd(inputs: ImageInputs, whole: CpioPlan): Promise<CpioPlan> {
  return inputs.runtimeImage ? new CpioArchive().addAll(initrdEntries(inputs)).plan() : whole;
}

/** The runtime image's files, measured as the initrd's are (for the sizes it reports). */
export async function planRuntimeImage(inputs: ImageInputs): Promise<CpioPlan> {
  return new CpioArchive().addAll(runtimeImageEntries(inputs)).plan();
}

/** sha256 over the uncompressed archive (reproducible, so equal inputs hash equal) and the gzip level. */
export async function hashImage(plan: CpioPlan, gzipLevel: number): Promise<string> {
  const hash = imageHasher(gzipLevel);
  for await (const chunk of plan.chunks()) hash.update(chunk);
  return hash.digest('hex');
}

const imageHasher = (gzipLevel: number) => createHash('sha256').update(`hypeman-initrd gzip=${gzipLevel}\n`);

/**
 * Writes the archive gzip-compressed to `out`, atomically (a temporary file renamed into
 * place), hashing it on the way as hashImage does. Returns the hash and the file's size.
 */
export async function writeImage(plan: CpioPlan, out: string, gzipLevel: number): Promise<{ hash: string; compressedBytes: number }> {
  await mkdir(dirname(out), { recursive: true });
  const temporary = `${out}.tmp-${process.pid}`;
  const hash = imageHasher(gzipLevel);
  async function* hashed() {
    for await (const chunk of plan.chunks()) {
      hash.update(chunk);
      yield chunk;
    }
  }
  try {
    // zlib's gzip header carries no name and mtime 0, so the output is reproducible too.
    await pipeline(Readable.from(hashed()), createGzip({ level: gzipLevel }), createWriteStream(temporary));
    await rename(temporary, out);
  } finally {
    await rm(temporary, { force: true });
  }
  return { hash: hash.digest('hex'), compressedBytes: (await stat(out)).size };
}

export async function buildImage(out: string, options: ImageBuildOptions = {}): Promise<ImageBuildResult> {
  const started = performance.now();
  const inputs = await collectImageInputs(options);
  const plan = await planImage(inputs);
  const written = await writeImageFiles(inputs, plan, out, options.runtimeImage);
  return imageResult(out, options.runtimeImage, written, started);
}

/** What writeImageFiles wrote, as ImageBuildResult reports it. */
export interface WrittenImage {
  readonly inputs: ImageInputs;
  readonly hash: string;
  readonly compressedBytes: number;
  readonly initrd: CpioPlan;
  readonly runtimeImage: { readonly bytes: number; readonly fileBytes: number } | null;
}

/**
 * Writes the initrd to `out` and, in the runtime-image layout, the runtime image to
 * `runtimeImage`. The hash is `plan`'s (the whole image), whichever layout.
 */
export async function writeImageFiles(inputs: ImageInputs, plan: CpioPlan, out: string, runtimeImage: string | undefined): Promise<WrittenImage> {
  if (inputs.busybox === null) throw new InitrdError('BUSYBOX_NOT_FOUND', 'an initrd needs busybox to run /init; install it: apt-get install -y busybox-static');
  if (!inputs.runtimeImage || runtimeImage === undefined) {
    const { hash, compressedBytes } = await writeImage(plan, out, inputs.gzipLevel);
    return { inputs, hash, compressedBytes, initrd: plan, runtimeImage: null };
  }
  const initrd = await planInitrd(inputs, plan);
  const [{ compressedBytes }, image, hash, payload] = await Promise.all([
    writeImage(initrd, out, inputs.gzipLevel),
    writeRuntimeImage(runtimeImageEntries(inputs), runtimeImage),
    hashImage(plan, inputs.gzipLevel),
    planRuntimeImage(inputs),
  ]);
  return { inputs, hash, compressedBytes, initrd, runtimeImage: { bytes: image.bytes, fileBytes: payload.fileBytes } };
}

export function imageResult(out: string, runtimeImagePath: string | undefined, written: WrittenImage, started: number): ImageBuildResult {
  const { inputs, initrd } = written;
  return {
    path: out,
    hash: written.hash,
    compressedBytes: written.compressedBytes,
    archiveBytes: initrd.length,
    fileBytes: initrd.fileBytes,
    layout: inputs.layout,
    vsockAddon: inputs.vsockAddon,
    spawnHelper: inputs.spawnHelper,
    modules: inputs.modules,
    runtimeImage: written.runtimeImage && runtimeImagePath !== undefined ? { path: runtimeImagePath, ...written.runtimeImage } : null,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Applet links from `busybox --list-full`: sbin applets in /sbin, all others in /bin. */
async function busyboxApplets(busybox: string): Promise<{ path: string; target: string }[]> {
  await requireStatic(busybox, 'BUSYBOX_NOT_STATIC', 'the image needs a static one: apt-get install busybox-static');
  const { stdout } = await promisify(execFile)(busybox, ['--list-full']);
  const links = new Map<string, string>(); // applet name → its directory
  for (const line of stdout.split('\n')) {
    const name = line.slice(line.lastIndexOf('/') + 1);
    if (!name || name === 'busybox' || !line.includes('/') || links.has(name)) continue; // linuxrc sits at the root: not wanted
    links.set(name, /(^|\/)sbin\//.test(line) ? '/sbin' : '/bin');
  }
  return [...links].map(([name, dir]) => ({ path: `${dir}/${name}`, target: '/bin/busybox' }));
}

async function requireStatic(path: string, code: 'BUSYBOX_NOT_STATIC' | 'SPAWN_HELPER_NOT_STATIC', advice: string): Promise<void> {
  const elf = await readElfInfo(path);
  if (elf.interpreter || elf.needed.length > 0) throw new InitrdError(code, `${path} is dynamically linked; ${advice}`);
}

function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new InitrdError('BUSYBOX_NOT_FOUND', `${name} is not on PATH; install it: apt-get install -y busybox-static`);
}
