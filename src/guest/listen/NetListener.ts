import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { LISTEN_BACKLOG } from '../../vsock/backlog.js';
import { AgentStartError } from '../errors.js';
import { formatListenAddress, type ListenAddress } from './ListenAddress.js';

/** An open listener: connections go to the callback given when it was opened. */
export interface Listener {
  /** What it listens on, for the log (the real port when 0 was asked for). */
  readonly address: string;
  /** Stops accepting; connections already accepted are not touched. */
  close(): Promise<void>;
}

function listenOn(server: Server, target: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ ...target, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * True when `path` is a socket nobody accepts on: left behind by an agent that died. The
 * file system is looked at synchronously: at start, a first trip through libuv's thread
 * pool would create its threads before the agent listens.
 */
async function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const probe: Socket = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** `unix:PATH` or `tcp:HOST:PORT` (loopback only, checked when the address was parsed). */
export async function openNetListener(
  address: Extract<ListenAddress, { kind: 'unix' | 'tcp' }>,
  onConnection: (socket: Duplex) => void,
  onAcceptError: (error: Error) => void,
): Promise<Listener> {
  const server = createServer({ pauseOnConnect: false, noDelay: true }, (socket) => onConnection(socket));
  try {
    if (address.kind === 'unix') {
      if (await isStaleSocket(address.path)) unlinkSync(address.path);
      await listenOn(server, { path: address.path });
    } else {
      await listenOn(server, { host: address.host, port: address.port });
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // libuv reports a missing directory of a Unix socket as EACCES.
    const missingDirectory = address.kind === 'unix' && !existsSync(dirname(address.path));
    const hint = missingDirectory
      ? "the socket's directory does not exist; create it first"
      : e.code === 'EADDRINUSE'
        ? 'another process is listening there; stop it or choose another address'
        : e.code === 'EACCES'
          ? 'permission denied; choose a path or port this user may use'
          : 'check the address';
    throw new AgentStartError('LISTEN_FAILED', `cannot listen on ${formatListenAddress(address)}: ${e.message}; ${hint}`);
  }
  // Once listening, an error is a failed accept (EMFILE under load): that client is
  // dropped, the agent and its other sessions go on.
  server.on('error', (error) => onAcceptError(error));
  const bound = server.address();
  const shown = address.kind === 'tcp' && bound !== null && typeof bound === 'object' ? formatListenAddress({ ...address, port: bound.port }) : formatListenAddress(address);
  return {
    address: shown,
    // server.close() stops listening at once; its callback would wait for every session.
    close: async () => {
      server.close();
    },
  };
}
