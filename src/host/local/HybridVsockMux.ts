import { unlink } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { CONNECT_COMMAND_BUFFER, INVALID, NEED_MORE, parseConnectCommand } from './ConnectCommand.js';
import { LISTEN_BACKLOG } from '../../vsock/backlog.js';
import { BufferReclaimer } from '../../runtime/BufferReclaimer.js';

/** Cloud Hypervisor's muxer holds at most this many connections (unix/mod.rs MAX_CONNECTIONS). */
export const MUX_MAX_CONNECTIONS = 1023;

/** Host-side ports are handed out in [2^30, 2^31), skipping those in use (muxer.rs). */
const LOCAL_PORT_BASE = 1 << 30;

export interface HybridVsockMuxOptions {
  /** Where the simulated hypervisor socket listens (the VM's `--vsock socket=` path). */
  socketPath: string;
  /** Guest vsock port → Unix socket where the guest-side listener for that port is. */
  ports: ReadonlyMap<number, string> | Record<number, string>;
  /** Connections held at once; more are closed without an answer. Default as the real one. */
  maxConnections?: number;
}

/**
 * A stand-in for the host side of Cloud Hypervisor's hybrid vsock device, for machines that
 * cannot run a VM: everything above this Unix socket runs the code path of a real VM.
 * What a client can observe, and the few places where it differs from the real device, are
 * listed in src/host/README.md ("The simulated hypervisor socket").
 *
 * Like the real muxer: the command is parsed by parseConnectCommand (byte by byte, 32-byte
 * buffer); an invalid command, end of stream before the newline, a port nobody listens on
 * (the guest answers RST) or a full connection table close the socket without an answer;
 * otherwise `OK <local port>\n` is written before any guest byte, bytes the client sent
 * after the newline go to the guest, then bytes are relayed both ways with backpressure and
 * half-closes passed on (as Cloud Hypervisor does since it tracks each direction's shutdown).
 */
export class HybridVsockMux {
  readonly socketPath: string;
  readonly #ports: Map<number, string>;
  readonly #server: Server;
  readonly #maxConnections: number;
  /** Every socket of ours (clients and guest sides), so close() can drop them all. */
  readonly #sockets = new Set<Socket>();
  readonly #localPortsInUse = new Set<number>();
  #lastLocalPort = LOCAL_PORT_BASE - 1;
  /** Gives back relayed buffers' memory while connections run (see src/runtime). */
  readonly #reclaimer = new BufferReclaimer();

  constructor(options: HybridVsockMuxOptions) {
    this.socketPath = options.socketPath;
    this.#ports = options.ports instanceof Map ? new Map(options.ports) : new Map(Object.entries(options.ports).map(([k, v]) => [Number(k), v]));
    this.#maxConnections = options.maxConnections ?? MUX_MAX_CONNECTIONS;
    // Half-open: a client that shuts down its write side can still read the guest's answer.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.#accept(client));
  }

  /** Routes guest `port` to a Unix socket (or stops routing it with null). */
  route(port: number, guestSocketPath: string | null): void {
    if (guestSocketPath === null) this.#ports.delete(port);
    else this.#ports.set(port, guestSocketPath);
  }

  /** Connections past the CONNECT command (connecting to the guest, or relaying). */
  get connections(): number {
    return this.#localPortsInUse.size;
  }

  async listen(): Promise<void> {
    // A stale socket file from a crashed run would make listen fail with EADDRINUSE.
    await unlink(this.socketPath).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ path: this.socketPath, backlog: LISTEN_BACKLOG }, () => {
        this.#server.removeListener('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening, drops every connection and removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => undefined);
  }

  #accept(client: Socket): void {
    this.#track(client);
    client.on('error', () => undefined);
    if (this.#localPortsInUse.size >= this.#maxConnections) {
      client.destroy();
      return;
    }
    const command = new Uint8Array(CONNECT_COMMAND_BUFFER);
    let length = 0;
    const onData = (chunk: Buffer) => {
      for (let i = 0; i < chunk.length; i++) {
        command[length++] = chunk[i];
        const port = parseConnectCommand(command.subarray(0, length));
        if (port === NEED_MORE) continue;
        client.removeListener('data', onData);
        client.removeListener('end', onEnd);
        client.pause();
        if (port === INVALID) client.destroy();
        else this.#connectGuest(client, port, chunk.subarray(i + 1));
        return;
      }
    };
    // End of stream before a whole command: the real muxer drops the connection.
    const onEnd = () => client.destroy();
    client.on('data', onData);
    client.once('end', onEnd);
    client.resume();
  }

  #connectGuest(client: Socket, port: number, early: Buffer): void {
    const target = this.#ports.get(port);
    if (target === undefined || this.#localPortsInUse.size >= this.#maxConnections) {
      client.destroy();
      return;
    }
    const localPort = this.#allocateLocalPort();
    const guest = connect({ path: target, allowHalfOpen: true });
    this.#track(guest);
    guest.once('close', () => {
      this.#localPortsInUse.delete(localPort);
      if (this.#localPortsInUse.size === 0) this.#reclaimer.stop();
    });
    guest.once('error', () => {
      // Nobody listening on that guest port: the guest answers RST, the device closes the host socket.
      client.destroy();
    });
    // A client that leaves while the guest is being reached takes that attempt with it.
    const dropGuest = () => guest.destroy();
    client.once('close', dropGuest);
    guest.once('connect', () => {
      if (client.destroyed) return;
      client.removeListener('close', dropGuest);
      guest.removeAllListeners('error');
      client.write(`OK ${localPort}\n`);
      if (early.length > 0) guest.write(early);
      this.#reclaimer.start();
      relay(client, guest);
      relay(guest, client);
      client.resume();
    });
  }

  #allocateLocalPort(): number {
    do {
      this.#lastLocalPort = ((this.#lastLocalPort + 1) & 0x7fffffff) | LOCAL_PORT_BASE;
    } while (this.#localPortsInUse.has(this.#lastLocalPort));
    this.#localPortsInUse.add(this.#lastLocalPort);
    return this.#lastLocalPort;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}

/** Copies `from` to `to` with backpressure; a half-close is passed on, an error closes both. */
function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  // The client may have half-closed right behind its CONNECT line, before the relay began.
  if (from.readableEnded) to.end();
  else from.once('end', () => to.end());
  from.once('error', () => to.destroy());
  from.once('close', () => {
    // A side that went away without a clean end (reset, destroyed) takes the other with it.
    if (!from.readableEnded) to.destroy();
  });
}
