import { CodedError } from '../../wire/index.js';

/**
 * Failures of the guest image builder. `code` is stable (tests and callers match on it);
 * the message says what to do about it.
 */
export type InitrdErrorCode =
  | 'CPIO_INVALID_PATH'
  | 'CPIO_DUPLICATE_PATH'
  | 'CPIO_MISSING_PARENT'
  | 'CPIO_BAD_HARDLINK'
  | 'CPIO_FILE_TOO_LARGE'
  | 'CPIO_SOURCE_CHANGED'
  | 'ELF_INVALID'
  | 'ELF_LIBRARY_NOT_FOUND'
  | 'AGENT_ENTRY_MISSING'
  | 'AGENT_BUNDLE_FAILED'
  | 'BUSYBOX_NOT_FOUND'
  | 'BUSYBOX_NOT_STATIC'
  | 'NODE_PTY_NOT_FOUND'
  | 'VSOCK_ADDON_NOT_FOUND'
  | 'SPAWN_HELPER_NOT_STATIC'
  | 'INVALID_GUEST_CONFIG'
  | 'KERNEL_MODULES_NOT_FOUND'
  | 'KERNEL_MODULE_NOT_FOUND'
  | 'KERNEL_MODULE_INVALID'
  | 'RUNTIME_IMAGE_FAILED'
  | 'INIT_SCRIPT_INVALID';

export class InitrdError extends CodedError<InitrdErrorCode> {}
