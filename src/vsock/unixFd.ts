/**
 * The FdStream byte path on ordinary AF_UNIX sockets, for tests and benchmarks: the same
 * native Socket, FdStream and accept code as vsock, where vsock cannot connect (no loopback
 * transport on the development machines). Errors are VsockErrors like vsock's.
 */
import { rmSync } from 'node:fs';
import { loadAddon, type NativeSocket } from './addon.js';
import { awaitConnected, connectError } from './awaitConnected.js';
import { ioError } from './errors.js';
import { LISTEN_BACKLOG } from './backlog.js';
import { FdServer, listenError } from './FdServer.js';
import { FdStream, type FdStreamOptions } from './FdStream.js';

/** Two connected AF_UNIX stream sockets (socketpair) as FdStreams. */
export function fdSocketPair(options: FdStreamOptions = {}): [FdStream, FdStream] {
  let sockets: [NativeSocket, NativeSocket];
  try {
    sockets = loadAddon().socketPair();
  } catch (error) {
    throw ioError(error, 'creating a socket pair');
  }
  return [new FdStream(sockets[0], options), new FdStream(sockets[1], options)];
}

/** An AF_UNIX listener through FdServer's accept code; close() also removes the socket file. */
export class UnixFdServer extends FdServer {
  readonly path: string;

  private constructor(socket: NativeSocket, path: string, streamOptions: FdStreamOptions) {
    super(socket, streamOptions);
    this.path = path;
  }

  /** Listens on a new socket file at `path` (VSOCK_ADDRESS_IN_USE if the file exists). */
  static async listen(path: string, streamOptions: FdStreamOptions = {}): Promise<UnixFdServer> {
    try {
      return new UnixFdServer(loadAddon().unixListen(path, LISTEN_BACKLOG), path, streamOptions);
    } catch (error) {
      throw listenError(error, `unix socket ${path}`);
    }
  }

  override async close(): Promise<void> {
    const wasListening = this.listening;
    await super.close();
    if (wasListening) rmSync(this.path, { force: true });
  }
}

/** Connects to a Unix socket as an FdStream (VSOCK_CONNECT_REFUSED when nobody listens there). */
export async function connectUnixFd(path: string, streamOptions: FdStreamOptions = {}): Promise<FdStream> {
  const target = `unix socket ${path}`;
  let started;
  try {
    started = loadAddon().unixConnect(path);
  } catch (error) {
    throw connectError(error, target);
  }
  return awaitConnected(started.socket, started.pending, { target, streamOptions });
}
