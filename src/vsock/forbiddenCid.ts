import { loadAddon } from './addon.js';
import { VMADDR_CID_ANY, VMADDR_CID_HOST, VMADDR_CID_HYPERVISOR, VMADDR_CID_LOCAL } from './constants.js';
import { VsockError } from './errors.js';
import { localCid } from './localCid.js';

const GUEST_CID_HINT = 'connect to a guest VM by its own CID (QEMU -device vhost-vsock-pci,guest-cid=N, N >= 3)';

/**
 * The safety rule, checked before any connect(): never dial the hypervisor (0), loopback (1),
 * the host (2), the wildcard, or this machine's own CID. On a machine that is itself a VM,
 * those reach a hypervisor that is not ours. Throws VsockError VSOCK_FORBIDDEN_CID.
 */
export function refuseForbiddenCid(cid: number): void {
  const refuse = (what: string): never => {
    throw new VsockError('VSOCK_FORBIDDEN_CID', `refusing to connect to CID ${cid}: ${what}; ${GUEST_CID_HINT}`);
  };
  if (cid === VMADDR_CID_HYPERVISOR) refuse('it is reserved for the hypervisor');
  if (cid === VMADDR_CID_LOCAL) refuse('it is this machine (vsock loopback)');
  if (cid === VMADDR_CID_HOST) refuse('it is the host');
  if (cid === VMADDR_CID_ANY) refuse('VMADDR_CID_ANY is a wildcard for listening, not an address');
  // localCid() needs /dev/vsock, which is often root-only: the native module also asks the
  // kernel by binding a socket to the CID (only a local CID binds), and refuses when unsure.
  if (cid === localCid() || loadAddon().forbiddenCid(cid)) refuse("it is this machine's own CID");
}
