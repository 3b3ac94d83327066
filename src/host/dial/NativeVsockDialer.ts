import type { Duplex } from 'node:stream';
import { VsockError } from '../../vsock/errors.js';
import { AGENT_VSOCK_PORT } from '../../wire/index.js';
import type { AgentDialer } from './AgentDialer.js';
import { AgentDialError, AgentNotListeningError, DialAbortedError, DialTimeoutError } from './errors.js';

export interface NativeVsockDialerOptions {
  /** The guest's context id (QEMU `vhost-vsock-pci,guest-cid=<n>`). */
  cid: number;
  port?: number;
  connectTimeoutMs?: number;
}

/**
 * Dials a guest port over AF_VSOCK (QEMU vhost-vsock), through the project's native vsock
 * module. That module refuses the host's CIDs and this machine's own. It is loaded on first
 * use, so hosts that only run hybrid-vsock VMs never need the addon.
 */
export class NativeVsockDialer implements AgentDialer {
  readonly target: string;
  readonly #cid: number;
  readonly #port: number;
  readonly #timeoutMs: number;

  constructor(options: NativeVsockDialerOptions) {
    this.#cid = options.cid;
    this.#port = options.port ?? AGENT_VSOCK_PORT;
    this.#timeoutMs = options.connectTimeoutMs ?? 2_000;
    this.target = `vsock cid ${this.#cid} port ${this.#port}`;
  }

  async dial(signal?: AbortSignal): Promise<Duplex> {
    const { connectVsock } = await import('../../vsock/index.js');
    try {
      return await connectVsock({ cid: this.#cid, port: this.#port, timeoutMs: this.#timeoutMs, signal });
    } catch (err) {
      if (!(err instanceof VsockError)) throw err;
      if (err.code === 'VSOCK_CONNECT_REFUSED') throw new AgentNotListeningError(this.#port);
      if (err.code === 'VSOCK_CONNECT_TIMEOUT') throw new DialTimeoutError('connect', this.#timeoutMs, this.target);
      if (err.code === 'VSOCK_ABORTED') throw new DialAbortedError();
      throw new AgentDialError(err.code, `cannot reach ${this.target}: ${err.message}`, { cause: err });
    }
  }
}
