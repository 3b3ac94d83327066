/**
 * config.sh, the config disk's file that /init sources: the container's entrypoint, its
 * environment, volumes and network, as shell assignments of quoted words.
 */
import { InitrdError } from './errors.js';

/** POSIX shell single-quoting: the word comes back as exactly `value`. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** What config.sh on the config disk tells /init. */
export interface GuestConfig {
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** Working directory of the entrypoint inside the container root; default /. */
  readonly workdir?: string;
  /** The entrypoint's whole environment (PATH defaults to the usual directories). */
  readonly env?: Readonly<Record<string, string>>;
  readonly volumes?: readonly { readonly device: string; readonly mountPoint: string; readonly readOnly?: boolean }[];
  readonly network?: { readonly ip: string; readonly prefix?: number; readonly gateway?: string; readonly dns?: readonly string[] };
  readonly hostname?: string;
}

/** Renders config.sh: shell assignments that /init sources. Word lists are quoted words, evaluated by init. */
export function renderGuestConfig(config: GuestConfig): string {
  const invalid = (why: string) => new InitrdError('INVALID_GUEST_CONFIG', `invalid guest config: ${why}`);
  const words = (list: readonly string[]) => list.map(shellQuote).join(' ');
  const lines = ['# config.sh for the hypeman-exec guest /init (generated; sourced by busybox sh)'];
  const assign = (name: string, value: string) => lines.push(`${name}=${shellQuote(value)}`);

  assign('ENTRYPOINT', words(config.entrypoint ?? []));
  assign('CMD', words(config.cmd ?? []));
  const workdir = config.workdir ?? '/';
  if (!workdir.startsWith('/')) throw invalid(`workdir ${JSON.stringify(workdir)} must be an absolute path`);
  assign('WORKDIR', workdir);
  const env = Object.entries(config.env ?? {}).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalid(`environment name ${JSON.stringify(name)} is not a shell variable name`);
    if (value.includes('\0')) throw invalid(`environment value of ${name} contains NUL`);
    return `${name}=${value}`;
  });
  assign('ENV', words(env));
  const volumes = (config.volumes ?? []).map((v) => {
    if (!v.device.startsWith('/') || !v.mountPoint.startsWith('/') || (v.device + v.mountPoint).includes(':')) {
      throw invalid(`volume ${v.device} at ${v.mountPoint}: both must be absolute paths without ':'`);
    }
    return `${v.device}:${v.mountPoint}:${v.readOnly ? 'ro' : 'rw'}`;
  });
  assign('VOLUMES', words(volumes));
  if (config.network) {
    const { ip, prefix, gateway, dns } = config.network;
    const address = /^[0-9a-fA-F.:]+$/;
    if (!address.test(ip) || (gateway !== undefined && !address.test(gateway)) || (dns ?? []).some((d) => !address.test(d))) {
      throw invalid('network addresses must be IP addresses');
    }
    assign('GUEST_IP', ip);
    assign('GUEST_PREFIX', String(prefix ?? 24));
    if (gateway) assign('GUEST_GATEWAY', gateway);
    if (dns?.length) assign('GUEST_DNS', dns.join(' '));
  }
  if (config.hostname !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(config.hostname)) throw invalid(`hostname ${JSON.stringify(config.hostname)} is not a host name`);
    assign('GUEST_HOSTNAME', config.hostname);
  }
  return lines.join('\n') + '\n';
}
