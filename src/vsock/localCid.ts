import { loadAddon } from './addon.js';

/**
 * This machine's own vsock CID (ioctl IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock): 2 on a
 * host, the guest's CID inside a VM; null when the kernel has no vsock or /dev/vsock cannot be
 * opened (it is often root-only; connectVsock's refusal of this CID does not depend on it).
 */
export function localCid(): number | null {
  return loadAddon().localCid();
}
