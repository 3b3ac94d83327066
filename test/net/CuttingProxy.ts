// A TCP proxy of the tests' own on loopback, in front of a server, that cuts every
// connection through it when told or when the bytes it relayed pass given points: what a
// dropped Wi-Fi, a sleeping laptop or a restarted proxy do to a WebSocket.
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export class CuttingProxy {
  readonly #server: Server;
  readonly #targetPort: number;
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Bytes relayed, both ways together. */
  relayed = 0;
  /** Connections cut so far. */
  cuts = 0;
  #cutPoints: number[] = [];

  private constructor(server: Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
  }

  /** Listens on an ephemeral loopback port and relays to `targetPort` on loopback. */
  static async start(targetPort: number): Promise<CuttingProxy> {
    const server = createServer();
    const proxy = new CuttingProxy(server, targetPort);
    server.on('connection', (client) => proxy.#relay(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Cuts everything open each time `relayed` passes one of `points` (bytes, ascending). */
  cutAt(points: number[]): void {
    this.#cutPoints = [...points].sort((a, b) => a - b);
  }

  /**
   * Cuts every connection open now, both sides, without a goodbye: a TCP reset (the
   * default, a crashed middlebox) or a plain close (a proxy that restarts).
   */
  cut(how: 'reset' | 'close' = 'reset'): void {
    for (const pair of this.#pairs) {
      for (const socket of pair) {
        if (how === 'reset' && !socket.destroyed) socket.resetAndDestroy();
        else socket.destroy();
      }
    }
    this.#pairs.clear();
    this.cuts++;
  }

  async close(): Promise<void> {
    this.cut('close');
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(client: Socket): void {
    const upstream = connect(this.#targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (chunk: Buffer) => {
        if (!to.write(chunk)) from.pause();
        this.#count(chunk.length);
      });
      to.on('drain', () => from.resume());
      from.on('error', end);
      from.on('close', end);
    }
  }

  #count(bytes: number): void {
    this.relayed += bytes;
    if (this.#cutPoints.length > 0 && this.relayed >= this.#cutPoints[0]) {
      while (this.#cutPoints.length > 0 && this.relayed >= this.#cutPoints[0]) this.#cutPoints.shift();
      // Out of the read callback: the cut must not run inside the socket's own data event.
      setImmediate(() => this.cut(Math.random() < 0.5 ? 'reset' : 'close'));
    }
  }
}
