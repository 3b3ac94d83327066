/**
 * /init, PID 1 of the guest, is the shell file init.sh beside this module (checked by
 * shellcheck in the tests); the image ships it as it is, with only its block of parameters
 * rendered here for the image's layout: where the payload and the agent are, the agent's
 * port, and the defaults of the parameters a kernel command line may override (the VM's
 * devices and mount points). entrypoint.sh, the shim /init starts the entrypoint through,
 * ships unchanged. Both are read from the checkout, as the agent's sources are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../projectRoot.js';
import { InitrdError } from './errors.js';
import { shellQuote } from './GuestConfig.js';
import type { ImageLayout } from './ImageLayout.js';

export const DEFAULT_AGENT_PORT = 2222;

/** Where the two scripts live in the checkout. */
export const INIT_SCRIPT_SOURCE = 'src/host/initrd/init.sh';
export const ENTRYPOINT_SHIM_SOURCE = 'src/host/initrd/entrypoint.sh';

/** The parameters of /init a kernel command line may set, and their defaults (the VM's devices and mount points). */
export const INIT_PARAMETERS = {
  HYPEMAN_ROOTFS_DEVICE: '/dev/vda',
  HYPEMAN_WRITABLE_DEVICE: '/dev/vdb',
  HYPEMAN_CONFIG_DEVICE: '/dev/vdc',
  HYPEMAN_RUNTIME_DEVICE: 'none',
  HYPEMAN_RUNTIME_OPTIONS: 'ro',
  HYPEMAN_LOWER: '/overlay/lower',
  HYPEMAN_WRITABLE: '/overlay/rw',
  HYPEMAN_NEWROOT: '/overlay/newroot',
  HYPEMAN_CONFIG: '/overlay/config',
  HYPEMAN_CONSOLE: '/dev/console',
  HYPEMAN_NET_IFACE: 'eth0',
  HYPEMAN_DEVICE_WAIT: '5',
  HYPEMAN_AGENT: '1',
  HYPEMAN_AGENT_BACKOFF_MAX: '30',
  HYPEMAN_DRY_RUN: '0',
} as const;

export type InitParameter = keyof typeof INIT_PARAMETERS;

/** The runtime image's device in the runtime-image layout: the disk after the three of the container. */
export const RUNTIME_IMAGE_DEVICE = '/dev/vdd';

export interface InitScriptOptions {
  readonly layout: ImageLayout;
  readonly agentPort?: number;
  /** Defaults that differ from INIT_PARAMETERS (the runtime-image layout sets HYPEMAN_RUNTIME_DEVICE). */
  readonly defaults?: Partial<Record<InitParameter, string>>;
  /** The checkout to read init.sh from; default: found upward from this module. */
  readonly projectRoot?: string;
}

const BEGIN = '# >>> parameters: rendered by the image builder >>>\n';
const END = '# <<< parameters <<<\n';

/** The block of parameters, as init.sh holds it for `options`. */
export function renderInitParameters(options: InitScriptOptions): string {
  const { layout } = options;
  const port = options.agentPort ?? DEFAULT_AGENT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 0xffffffff) {
    throw new InitrdError('INVALID_GUEST_CONFIG', `agent port ${port} is not a vsock port number; use an integer such as 2222`);
  }
  const fixed = {
    HYPEMAN_PAYLOAD: layout.payload,
    HYPEMAN_AGENT_LAUNCHER: layout.launcher,
    HYPEMAN_AGENT_PORT: String(port),
    HYPEMAN_VSOCK_ADDON_PATH: layout.vsockAddon,
    HYPEMAN_ENTRYPOINT_SHIM: layout.entrypointShim,
  };
  const defaults = { ...INIT_PARAMETERS, ...options.defaults };
  return [
    ...Object.entries(fixed).map(([name, value]) => `${name}=${shellQuote(value)}\n`),
    // ${NAME:=value} is expanded by the shell: a value's quotes must survive inside double quotes.
    ...Object.entries(defaults).map(([name, value]) => `: "\${${name}:=${value.replace(/["\\$`]/g, '\\$&')}}"\n`),
  ].join('');
}

/** init.sh with its parameters rendered for `options`. */
export function renderInitScript(options: InitScriptOptions): string {
  const source = readScript(INIT_SCRIPT_SOURCE, options.projectRoot);
  const begin = source.indexOf(BEGIN);
  const end = source.indexOf(END);
  if (begin < 0 || end < begin || source.indexOf(BEGIN, begin + 1) >= 0) {
    throw new InitrdError('INIT_SCRIPT_INVALID', `${INIT_SCRIPT_SOURCE} must hold one block of parameters between "${BEGIN.trim()}" and "${END.trim()}"; restore it from git`);
  }
  return source.slice(0, begin + BEGIN.length) + renderInitParameters(options) + source.slice(end);
}

/** entrypoint.sh, as the payload carries it. */
export function entrypointShim(projectRoot?: string): string {
  return readScript(ENTRYPOINT_SHIM_SOURCE, projectRoot);
}

function readScript(path: string, projectRoot = findProjectRoot()): string {
  try {
    return readFileSync(join(projectRoot, path), 'utf8');
  } catch (error) {
    throw new InitrdError('INIT_SCRIPT_INVALID', `cannot read ${path} in ${projectRoot} (${(error as Error).message}); the image is built from a checkout`);
  }
}
