/** AF_VSOCK addresses from <linux/vm_sockets.h>. */

/** Listen on every CID of this machine. A wildcard, never a destination. */
export const VMADDR_CID_ANY = 0xffffffff;
/** Bind to any free port; the server reports the one the kernel chose. */
export const VMADDR_PORT_ANY = 0xffffffff;
/** Reserved for the hypervisor. */
export const VMADDR_CID_HYPERVISOR = 0;
/** Local loopback (vsock_loopback), i.e. this machine. */
export const VMADDR_CID_LOCAL = 1;
/** The host, seen from a guest. */
export const VMADDR_CID_HOST = 2;

/** Throws a RangeError unless `value` is an integer the kernel's 32-bit CID and port fields can hold. */
export function assertUint32(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${name} must be an integer from 0 to 4294967295, got ${String(value)}`);
  }
}
