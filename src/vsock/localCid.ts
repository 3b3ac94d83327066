import { loadAddon } from './addon.js';

/**
 * This machine's own vsock CID (ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock): 2 on a
 * host, the guest's CID inside a VM; null when the kernel has no vsock (or /dev/vsock is not
 * reachable, as in some containers).
 */
export function localCid(): number | null {
  return loadAddon().localCid();
}
