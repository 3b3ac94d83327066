import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { AgentStartError } from './errors.js';
import type { ListenAddress } from './ListenAddress.js';
import { openNetListener, type Listener } from './NetListener.js';

export type { Listener } from './NetListener.js';

export interface ListenOptions {
  /** Seconds a vsock listen is retried while the device is missing (it can appear late in boot). */
  readonly vsockWaitSeconds: number;
  readonly log: Logger;
}

/** Opens one listener of any kind; fails with AgentStartError LISTEN_FAILED. */
export async function openListener(address: ListenAddress, onConnection: (socket: Duplex) => void, options: ListenOptions): Promise<Listener> {
  switch (address.kind) {
    case 'unix':
    case 'tcp':
      return openNetListener(address, onConnection, (error) => options.log.warn({ err: error.message, address: address.kind }, 'accepting a connection failed'));
    case 'vsock':
      throw new AgentStartError('LISTEN_FAILED', `cannot listen on vsock:${address.port}: this build has no AF_VSOCK support; use --listen unix:PATH or tcp:127.0.0.1:PORT`);
  }
}
