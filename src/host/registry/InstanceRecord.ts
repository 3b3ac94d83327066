import { InvalidInstanceIdError } from './errors.js';

export const HYPERVISORS = ['cloud-hypervisor', 'firecracker', 'qemu', 'local'] as const;
export type Hypervisor = (typeof HYPERVISORS)[number];

/** How the host reaches the guest's vsock device. */
export type VsockEndpoint =
  /** Cloud Hypervisor, Firecracker and local instances: the hybrid vsock Unix socket. */
  | { socket: string }
  /** QEMU vhost-vsock: the guest's context id. */
  | { cid: number };

/** One instance, as stored in `<data-dir>/guests/<id>/metadata.json`. */
export interface InstanceRecord {
  id: string;
  name: string;
  /** As recorded; see InstanceRegistry for how a dead process changes it. */
  state: string;
  hypervisor: Hypervisor;
  vsock?: VsockEndpoint;
  /** The process that keeps the instance alive (VMM, or a local agent's sandbox). */
  pid?: number;
  createdAt: string;
}

/** Ids and names are file names under the data directory, so they are kept to a safe set. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const MAX_ID_LENGTH = 128;

/** Throws unless `value` can never name anything outside its guest directory. */
export function checkInstanceId(value: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInstanceIdError(String(value), 'it is empty');
  if (value.length > MAX_ID_LENGTH) throw new InvalidInstanceIdError(value, `it is longer than ${MAX_ID_LENGTH} characters`);
  if (!ID_PATTERN.test(value)) {
    throw new InvalidInstanceIdError(value, 'use letters, digits, ".", "_" and "-", starting with a letter or digit (no "/", "..", spaces or control characters)');
  }
  return value;
}
