/**
 * Finds and loads the native half of this layer (native/vsock.c), once. Where it is:
 *  1. $HYPEMAN_VSOCK_ADDON, when set (the guest image ships it at /.hypeman/vsock.node);
 *  2. else native/build/Release/vsock.node beside this file, where `npm run build:native`
 *     puts it (from dist/src/vsock/ after tsc, the same path under the project's src/; from
 *     a bundle inside the checkout, the same path under the nearest package.json's directory),
 *     or vsock.node right beside it (a bundle in the image, run without the variable).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VsockError } from './errors.js';

export const ADDON_ENV = 'HYPEMAN_VSOCK_ADDON';
const BUILT_ADDON = join('native', 'build', 'Release', 'vsock.node');

/** One owned socket fd and its libuv poll handle; closes the fd exactly once. */
export interface NativeSocket {
  /** Called with (0 or a negative libuv status, READABLE | WRITABLE) while poll() watches something. */
  onready: ((status: number, events: number) => void) | undefined;
  /** -1 once closed. */
  readonly fd: number;
  /** What to watch from now on: READABLE | WRITABLE, or 0 to stop (an idle socket keeps no reference to itself). */
  poll(events: number): void;
  /** Bytes read into `buffer`; 0 at end of stream; -1 when nothing is ready. Throws errno-coded errors. */
  read(buffer: Buffer): number;
  /** Writes buffers[start..] in one sendmsg; bytes written, or -1 when the socket is full. */
  writev(buffers: readonly Buffer[], start: number): number;
  /** The next pending connection, or null. */
  accept(): NativeSocket | null;
  /** Ends the write side (the peer reads end of stream). */
  shutdown(): void;
  /** Throws the error a nonblocking connect ended with, if any. */
  checkConnected(): void;
  /** Idempotent. */
  close(): void;
}

export interface NativeAddon {
  readonly Socket: new (fd: number) => NativeSocket;
  readonly READABLE: number;
  readonly WRITABLE: number;
  localCid(): number | null;
  /** The native module's own copy of the safety rule: 0, 1, 2, the wildcard, this machine's CID (ioctl, else a bind probe; unsure = forbidden). */
  forbiddenCid(cid: number): boolean;
  vsockListen(cid: number, port: number, backlog: number): { socket: NativeSocket; port: number };
  vsockConnect(cid: number, port: number): { socket: NativeSocket; pending: boolean };
  unixListen(path: string, backlog: number): NativeSocket;
  unixConnect(path: string): { socket: NativeSocket; pending: boolean };
  socketPair(): [NativeSocket, NativeSocket];
}

const FUNCTIONS = ['Socket', 'localCid', 'forbiddenCid', 'vsockListen', 'vsockConnect', 'unixListen', 'unixConnect', 'socketPair'] as const;

let loaded: NativeAddon | undefined;
let exportsOfModule: Readonly<Record<string, unknown>> | undefined;

/** Where the addon is looked for, in order. */
export function addonCandidates(): string[] {
  const fromEnv = process.env[ADDON_ENV];
  if (fromEnv) return [resolve(fromEnv)];
  const here = dirname(fileURLToPath(import.meta.url));
  // Beside this file: the guest image's layout (the bundle and vsock.node in one directory).
  const candidates = [join(here, BUILT_ADDON), join(here, 'vsock.node')];
  const compiled = `${sep}${join('dist', 'src', 'vsock')}`;
  if (here.endsWith(compiled)) candidates.push(join(here.slice(0, -compiled.length), 'src', 'vsock', BUILT_ADDON));
  // A bundle of the agent inside the checkout (the bench's, under dist/): the checkout's build.
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    if (!existsSync(join(dir, 'package.json'))) continue;
    const built = join(dir, 'src', 'vsock', BUILT_ADDON);
    if (!candidates.includes(built)) candidates.push(built);
    break;
  }
  return candidates;
}

/** The native module; throws VsockError VSOCK_ADDON_MISSING when it is not built or will not load. */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const candidates = addonCandidates();
  const path = candidates.find((candidate) => existsSync(candidate));
  const fix = `run \`npm run build:native\` in the project (needs a C compiler), or set ${ADDON_ENV}=/path/to/vsock.node`;
  if (path === undefined) {
    const where = process.env[ADDON_ENV] ? `${ADDON_ENV} names ${candidates[0]}, which does not exist` : `it is not built (looked for ${candidates.join(' and ')})`;
    throw new VsockError('VSOCK_ADDON_MISSING', `the vsock native module is missing: ${where}; ${fix}`);
  }
  let native: Record<string, unknown>;
  try {
    native = createRequire(import.meta.url)(path) as Record<string, unknown>;
  } catch (error) {
    throw new VsockError('VSOCK_ADDON_MISSING', `the vsock native module ${path} does not load (${(error as Error).message}); rebuild it for this Node (ABI ${process.versions.modules}): ${fix}`, { cause: error });
  }
  const absent = FUNCTIONS.filter((name) => typeof native[name] !== 'function');
  if (absent.length > 0) {
    throw new VsockError('VSOCK_ADDON_MISSING', `${path} is not this project's vsock module (it lacks ${absent.join(', ')}); ${fix}`);
  }
  exportsOfModule = native;
  // A plain object of our own: the native exports stay untouched, and tests can stand in for a function.
  loaded = {
    Socket: native.Socket as NativeAddon['Socket'],
    READABLE: native.READABLE as number,
    WRITABLE: native.WRITABLE as number,
    localCid: native.localCid as NativeAddon['localCid'],
    forbiddenCid: native.forbiddenCid as NativeAddon['forbiddenCid'],
    vsockListen: native.vsockListen as NativeAddon['vsockListen'],
    vsockConnect: native.vsockConnect as NativeAddon['vsockConnect'],
    unixListen: native.unixListen as NativeAddon['unixListen'],
    unixConnect: native.unixConnect as NativeAddon['unixConnect'],
    socketPair: native.socketPair as NativeAddon['socketPair'],
  };
  return loaded;
}

/**
 * Everything the native module exports, vsock's functions and the others it carries (the
 * agent's spawner, src/guest/native/spawner.c, whose types live with its caller).
 */
export function nativeModuleExports(): Readonly<Record<string, unknown>> {
  loadAddon();
  return exportsOfModule!;
}
