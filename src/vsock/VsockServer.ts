import { loadAddon, type NativeSocket } from './addon.js';
import { assertUint32, VMADDR_CID_ANY, VMADDR_PORT_ANY } from './constants.js';
import { LISTEN_BACKLOG } from './backlog.js';
import { FdServer, listenError } from './FdServer.js';
import type { FdStreamOptions } from './FdStream.js';

export interface VsockListenOptions {
  /** The port to listen on; VMADDR_PORT_ANY for any free one (see `port` afterwards). */
  readonly port: number;
  /** The local CID to bind; VMADDR_CID_ANY (the default) for all of this machine's. */
  readonly cid?: number;
  /** For each accepted connection's FdStream (allowHalfOpen, high-water marks). */
  readonly streamOptions?: FdStreamOptions;
}

/**
 * An AF_VSOCK listener: emits 'connection' with an FdStream per accepted connection. Errors
 * from listen() are VsockError VSOCK_ADDRESS_IN_USE, VSOCK_UNAVAILABLE or VSOCK_IO.
 */
export class VsockServer extends FdServer {
  /** The bound port (the kernel's choice when VMADDR_PORT_ANY was asked for). */
  readonly port: number;
  readonly cid: number;

  private constructor(socket: NativeSocket, cid: number, port: number, streamOptions: FdStreamOptions | undefined) {
    super(socket, streamOptions);
    this.cid = cid;
    this.port = port;
  }

  static async listen(options: VsockListenOptions): Promise<VsockServer> {
    const cid = options.cid ?? VMADDR_CID_ANY;
    assertUint32(options.port, 'port');
    assertUint32(cid, 'cid');
    const addon = loadAddon();
    const address = options.port === VMADDR_PORT_ANY ? 'a free vsock port' : `vsock port ${options.port}`;
    try {
      const { socket, port } = addon.vsockListen(cid, options.port, LISTEN_BACKLOG);
      return new VsockServer(socket, cid, port, options.streamOptions);
    } catch (error) {
      throw listenError(error, cid === VMADDR_CID_ANY ? address : `${address} of CID ${cid}`);
    }
  }
}
