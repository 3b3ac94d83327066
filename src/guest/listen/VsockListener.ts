import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentLogger } from '../AgentLog.js';
import { VsockError, type VsockErrorCode } from '../../vsock/errors.js';
import { AgentStartError } from '../errors.js';
import type { ListenAddress } from './ListenAddress.js';
import type { Listener } from './NetListener.js';

/** Between listen attempts while the vsock device is not there yet. */
const RETRY_MS = 500;

/** Errors worth waiting out: the transport or device appears late in boot; a dying agent still holds the port. */
const RETRYABLE: ReadonlySet<VsockErrorCode> = new Set(['VSOCK_UNAVAILABLE', 'VSOCK_IO', 'VSOCK_ADDRESS_IN_USE']);

/**
 * `vsock:PORT` on every CID of this machine, through src/vsock (loaded on first use, so an
 * agent that only listens on unix or tcp never needs the native addon). A listen that fails
 * for a reason that can go away is retried for `waitSeconds`, as the original agent did.
 */
export async function openVsockListener(
  address: Extract<ListenAddress, { kind: 'vsock' }>,
  onConnection: (socket: Duplex) => void,
  waitSeconds: number,
  log: AgentLogger,
): Promise<Listener> {
  const deadline = Date.now() + waitSeconds * 1000;
  let vsock: typeof import('../../vsock/index.js');
  try {
    vsock = await import('../../vsock/index.js');
  } catch (error) {
    throw new AgentStartError('LISTEN_FAILED', `cannot listen on vsock:${address.port}: the vsock module does not load (${(error as Error).message})`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const server = await vsock.VsockServer.listen({ port: address.port });
      server.on('connection', (stream) => onConnection(stream));
      // A failed accept (EMFILE…): the server retries by itself; the agent goes on.
      server.on('error', (error) => log.warn({ err: error.message, code: error.code }, 'accepting a vsock connection failed'));
      return { address: `vsock:${server.port}`, close: () => server.close() };
    } catch (error) {
      if (!(error instanceof VsockError)) throw error;
      const { code, message } = error;
      if (!RETRYABLE.has(code) || Date.now() + RETRY_MS > deadline) {
        const waited = attempt > 1 ? ` (tried for ${waitSeconds} s; --vsock-wait sets how long)` : '';
        throw new AgentStartError('LISTEN_FAILED', `${message}${waited}`);
      }
      if (attempt === 1) log.warn({ code, err: message, waitSeconds }, 'vsock not ready; retrying');
      await sleep(RETRY_MS);
    }
  }
}
