import { BlockList, isIP } from 'node:net';
import { AGENT_VSOCK_PORT } from '../../wire/index.js';
import { AgentStartError } from '../errors.js';

/** Where the agent accepts connections: `--listen vsock:PORT | unix:PATH | tcp:HOST:PORT`. */
export type ListenAddress =
  | { readonly kind: 'vsock'; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export const DEFAULT_LISTEN = `vsock:${AGENT_VSOCK_PORT}`;

export function formatListenAddress(address: ListenAddress): string {
  switch (address.kind) {
    case 'vsock':
      return `vsock:${address.port}`;
    case 'unix':
      return `unix:${address.path}`;
    case 'tcp':
      return `tcp:${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  }
}

function parsePort(text: string, what: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) > max) {
    throw new AgentStartError('INVALID_OPTION', `${what} port ${JSON.stringify(text)} must be a number from 0 to ${max}`);
  }
  return Number(text);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8 and ::1: the only TCP addresses the agent may listen on. */
function isLoopback(host: string): boolean {
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

export function parseListenAddress(text: string): ListenAddress {
  const colon = text.indexOf(':');
  const scheme = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  switch (scheme) {
    case 'vsock':
      // Any CID: the guest listens on all of its own addresses.
      return { kind: 'vsock', port: parsePort(rest, 'vsock', 0xffffffff) };
    case 'unix':
      if (rest === '') throw new AgentStartError('INVALID_OPTION', 'unix: needs a socket path, e.g. --listen unix:/run/hypeman-exec.sock');
      return { kind: 'unix', path: rest };
    case 'tcp': {
      const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(rest);
      if (!m) throw new AgentStartError('INVALID_OPTION', `tcp address ${JSON.stringify(rest)} must be HOST:PORT, e.g. --listen tcp:127.0.0.1:2222`);
      const host = m[1] ?? m[2];
      if (!isLoopback(host)) {
        throw new AgentStartError(
          'INVALID_OPTION',
          `refusing to listen on ${host}: the agent runs commands as root for anyone who connects, so TCP is for loopback only (127.0.0.1 or ::1); use vsock in a VM`,
        );
      }
      return { kind: 'tcp', host, port: parsePort(m[3], 'tcp', 0xffff) };
    }
    default:
      throw new AgentStartError('INVALID_OPTION', `listen address ${JSON.stringify(text)} must start with vsock:, unix: or tcp:`);
  }
}
