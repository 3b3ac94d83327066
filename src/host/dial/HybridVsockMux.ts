import { unlink } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';

/** The muxer reads the command into a buffer of this size; no newline by then: dropped. */
export const MUX_COMMAND_BUFFER = 32;

/** Cloud Hypervisor and Firecracker hand out host-side ports from 2^30 upwards. */
const FIRST_LOCAL_PORT = 1 << 30;

export interface HybridVsockMuxOptions {
  /** Where the simulated hypervisor socket listens (the VM's `--vsock socket=` path). */
  socketPath: string;
  /** Guest vsock port → Unix socket where the guest-side listener for that port is. */
  ports: ReadonlyMap<number, string> | Record<number, string>;
}

/**
 * A faithful stand-in for the host side of Cloud Hypervisor's / Firecracker's hybrid vsock
 * device, for machines that cannot run a VM. Everything above the Unix socket runs the code
 * path of a real VM.
 *
 * Like the real muxer: a client writes `CONNECT <port>\n` (the keyword in any case, words
 * separated by whitespace); the command must fit 32 bytes; the answer is `OK <local port>\n`
 * with local ports counted up from 2^30, written before any guest byte; bytes the client
 * sent after the newline go to the guest; an invalid command, or a port nobody listens on,
 * closes the connection without an answer. Afterwards bytes are relayed both ways with
 * backpressure and half-closes passed on.
 *
 * Known differences a client could observe: the guest side is a Unix socket, so a guest
 * that resets its connection is seen as a close (the real device also reports a close);
 * connection refusal is immediate, while a real guest answers after a virtqueue round trip.
 */
export class HybridVsockMux {
  readonly socketPath: string;
  readonly #ports: Map<number, string>;
  readonly #server: Server;
  readonly #connections = new Set<Socket>();
  #nextLocalPort = FIRST_LOCAL_PORT;

  constructor(options: HybridVsockMuxOptions) {
    this.socketPath = options.socketPath;
    this.#ports = options.ports instanceof Map ? new Map(options.ports) : new Map(Object.entries(options.ports).map(([k, v]) => [Number(k), v]));
    // Half-open: a client that shuts down its write side can still read the guest's answer.
    this.#server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
  }

  /** Routes guest `port` to a Unix socket (or stops routing it with null). */
  route(port: number, guestSocketPath: string | null): void {
    if (guestSocketPath === null) this.#ports.delete(port);
    else this.#ports.set(port, guestSocketPath);
  }

  /** Connections being relayed or handshaking right now. */
  get connections(): number {
    return this.#connections.size;
  }

  async listen(): Promise<void> {
    // A stale socket file from a crashed run would make listen fail with EADDRINUSE.
    await unlink(this.socketPath).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.socketPath, () => {
        this.#server.removeListener('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening, drops every connection and removes the socket file. */
  async close(): Promise<void> {
    for (const c of this.#connections) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => undefined);
  }

  #accept(client: Socket): void {
    this.#track(client);
    let command = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      command = Buffer.concat([command, chunk]);
      const nl = command.indexOf(0x0a);
      if (nl < 0) {
        if (command.length >= MUX_COMMAND_BUFFER) client.destroy();
        return;
      }
      if (nl + 1 > MUX_COMMAND_BUFFER) {
        client.destroy();
        return;
      }
      client.removeListener('data', onData);
      client.pause();
      const port = parseConnect(command.subarray(0, nl).toString('latin1'));
      const target = port === null ? undefined : this.#ports.get(port);
      if (target === undefined) {
        client.destroy();
        return;
      }
      this.#openGuest(client, target, command.subarray(nl + 1));
    };
    client.on('data', onData);
  }

  #openGuest(client: Socket, target: string, early: Buffer): void {
    const guest = connect({ path: target, allowHalfOpen: true });
    this.#track(guest);
    guest.once('error', () => {
      // Nobody listening on that guest port: the real device closes without an answer.
      client.destroy();
    });
    guest.once('connect', () => {
      if (client.destroyed) {
        guest.destroy();
        return;
      }
      guest.removeAllListeners('error');
      const localPort = this.#nextLocalPort;
      this.#nextLocalPort = this.#nextLocalPort >= 0x7fffffff ? FIRST_LOCAL_PORT : this.#nextLocalPort + 1;
      client.write(`OK ${localPort}\n`);
      if (early.length > 0) guest.write(early);
      relay(client, guest);
      relay(guest, client);
      client.resume();
    });
  }

  #track(socket: Socket): void {
    this.#connections.add(socket);
    socket.once('close', () => this.#connections.delete(socket));
  }
}

/** `CONNECT <port>` as the real muxer reads it: case-insensitive keyword, u32 port. */
function parseConnect(line: string): number | null {
  const words = line.trim().split(/\s+/);
  if (words.length < 2 || words[0].toLowerCase() !== 'connect' || !/^\d+$/.test(words[1])) return null;
  const port = Number(words[1]);
  return port <= 0xffffffff ? port : null;
}

/** Copies `from` to `to` with backpressure; a half-close is passed on, an error closes both. */
function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
  from.once('error', () => to.destroy());
  from.once('close', () => {
    // Once both directions are done (or one side is gone), nothing may linger.
    if (to.writableEnded && from.writableEnded) return;
    if (from.destroyed && !from.readableEnded) to.destroy();
  });
}
