import type { Duplex } from 'node:stream';
import type { AgentLogger } from '../AgentLog.js';
import type { ListenAddress } from './ListenAddress.js';
import { openNetListener, type Listener } from './NetListener.js';
import { openVsockListener } from './VsockListener.js';

export type { Listener } from './NetListener.js';

export interface ListenOptions {
  /** Seconds a vsock listen is retried while the device is missing (it can appear late in boot). */
  readonly vsockWaitSeconds: number;
  readonly log: AgentLogger;
}

/** Opens one listener of any kind; fails with AgentStartError LISTEN_FAILED. */
export async function openListener(address: ListenAddress, onConnection: (socket: Duplex) => void, options: ListenOptions): Promise<Listener> {
  switch (address.kind) {
    case 'unix':
    case 'tcp':
      return openNetListener(address, onConnection, (error) => options.log.warn({ err: error.message, address: address.kind }, 'accepting a connection failed'));
    case 'vsock':
      return openVsockListener(address, onConnection, options.vsockWaitSeconds, options.log);
  }
}
