import { getSystemErrorName } from 'node:util';
import { CodedError } from '../wire/errors.js';

export type VsockErrorCode =
  | 'VSOCK_UNAVAILABLE'
  | 'VSOCK_ADDON_MISSING'
  | 'VSOCK_ADDRESS_IN_USE'
  | 'VSOCK_CONNECT_REFUSED'
  | 'VSOCK_CONNECT_TIMEOUT'
  | 'VSOCK_FORBIDDEN_CID'
  | 'VSOCK_IO'
  | 'VSOCK_ABORTED';

export interface VsockErrorDetails {
  /** The errno name behind the failure ("ECONNRESET", "EPIPE", ...), when a syscall failed. */
  readonly errno?: string;
  readonly syscall?: string;
  readonly cause?: unknown;
}

/** Every failure of this layer: a stable `code` for programs, a message that says what to do. */
export class VsockError extends CodedError<VsockErrorCode> {
  readonly errno: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: VsockErrorCode, message: string, details: VsockErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.errno = details.errno;
    this.syscall = details.syscall;
  }
}

/** What the native module throws: an Error whose `code` is an errno name. */
interface SystemError extends Error {
  code?: string;
  syscall?: string;
}

export function errnoName(error: unknown): string | undefined {
  const code = (error as SystemError | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** errno names that mean the kernel has no usable AF_VSOCK at all. */
export const VSOCK_UNAVAILABLE_ERRNOS: ReadonlySet<string> = new Set(['EAFNOSUPPORT', 'EPROTONOSUPPORT', 'ESOCKTNOSUPPORT']);

/** Why an I/O errno happens, for the messages; others show the kernel's text. */
const IO_HINTS: Readonly<Record<string, string>> = {
  ECONNRESET: 'the peer closed the connection abruptly (it exited, or closed with data unread)',
  EPIPE: 'the peer has closed its end, so nothing more can be sent',
  EMFILE: 'this process has no free file descriptors; close some or raise the limit (ulimit -n)',
  ENFILE: 'the system has no free file descriptors',
  ECANCELED: 'the stream was destroyed before the write was sent',
};

/** A failed syscall while `doing` something, as VSOCK_IO with its errno. */
export function ioError(error: unknown, doing: string): VsockError {
  const errno = errnoName(error) ?? 'EIO';
  const detail = IO_HINTS[errno] ?? (error as Error).message;
  return new VsockError('VSOCK_IO', `${doing} failed with ${errno}: ${detail}`, { errno, syscall: (error as SystemError).syscall, cause: error });
}

/** A negative libuv status from the poll handle (-errno on Linux) as the native module's errors look. */
export function pollStatusAsSystemError(status: number): Error {
  const errno = getSystemErrorName(status);
  return Object.assign(new Error(`poll reported ${errno}`), { code: errno, syscall: 'poll' });
}

/** A negative libuv status from the poll handle as VSOCK_IO. */
export function pollStatusError(status: number, doing: string): VsockError {
  return ioError(pollStatusAsSystemError(status), doing);
}
