import { CodedError } from '../../wire/index.js';

/**
 * Failures of booting a guest in QEMU (tests, the bench, trying the image by hand). `code`
 * is stable; the message says what to do.
 */
export type VmErrorCode = 'QEMU_NOT_FOUND' | 'KERNEL_UNAVAILABLE' | 'DISK_FAILED';

export class VmError extends CodedError<VmErrorCode> {}
