/**
 * AF_VSOCK stream sockets for Node through a small native module (libuv cannot wrap a vsock
 * fd in net.Socket). Imported by src/guest (listen) and src/host (QEMU dialer); imports
 * neither of them, nor src/wire. See README.md.
 */
export { VMADDR_CID_ANY, VMADDR_CID_HOST, VMADDR_CID_HYPERVISOR, VMADDR_CID_LOCAL, VMADDR_PORT_ANY } from './constants.js';
export { VsockError, type VsockErrorCode } from './errors.js';
export { ADDON_ENV } from './addon.js';
export { localCid } from './localCid.js';
export { FdStream, type FdStreamOptions } from './FdStream.js';
export { FdServer } from './FdServer.js';
export { VsockServer, type VsockListenOptions } from './VsockServer.js';
export { connectVsock, type ConnectVsockOptions } from './connectVsock.js';
export { refuseForbiddenCid } from './forbiddenCid.js';
// Test-only: the same byte path on AF_UNIX sockets.
export { connectUnixFd, fdSocketPair, UnixFdServer } from './unixFd.js';
