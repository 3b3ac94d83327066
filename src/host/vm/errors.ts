/**
 * Failures of booting a guest in QEMU (tests, the bench, trying the image by hand). `code`
 * is stable; the message says what to do.
 */
export type VmErrorCode = 'QEMU_NOT_FOUND' | 'KERNEL_UNAVAILABLE' | 'DISK_FAILED';

export class VmError extends Error {
  readonly code: VmErrorCode;

  constructor(code: VmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
