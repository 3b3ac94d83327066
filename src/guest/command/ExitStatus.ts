import { ExitKind, SignalNumber, TIMEOUT_EXIT_CODE, type ExitStatus } from '../../wire/index.js';
import type { HelperFailure, WaitStatus } from './Command.js';
import { SessionError } from '../errors.js';

/** Exit codes of a command that could not be run (spec §9.5), as a shell reports them. */
export const NOT_FOUND_EXIT_CODE = 127;
export const NOT_EXECUTABLE_EXIT_CODE = 126;

const ENOENT = 2;

/**
 * The Exit frame's record (spec §4.8) for a wait status. A command the timeout killed is
 * kind 2 (timed out); its signal is the agent's SIGKILL if that is what ended it, else 0
 * (it exited on its own before the kill took effect).
 */
export function exitRecord(status: WaitStatus, timedOut: boolean, stdoutBytes: number, stderrBytes: number): ExitStatus {
  const bytes = { stdoutBytes, stderrBytes };
  if (timedOut) {
    const signal = status.kind === 'signaled' && status.signal === SignalNumber.SIGKILL ? SignalNumber.SIGKILL : 0;
    return { kind: ExitKind.TimedOut, code: TIMEOUT_EXIT_CODE, signal, coreDumped: false, ...bytes };
  }
  if (status.kind === 'exited') return { kind: ExitKind.Exited, code: status.code & 0xff, signal: 0, coreDumped: false, ...bytes };
  return { kind: ExitKind.Signaled, code: (128 + status.signal) & 0xff, signal: status.signal, coreDumped: status.coreDumped, ...bytes };
}

/** A command that was not run, reported like a shell: a line on stderr and 127 or 126 (spec §9.5). */
export interface NotRunnable {
  readonly exitCode: number;
  readonly message: string;
}

/**
 * What the client is told when the helper could not run the command: exec failures are
 * the command's own (Started with pid 0, a line on Stderr, Exit 127/126); anything else is
 * an Error frame.
 */
export function classifyFailure(failure: HelperFailure, request: { argv0: string; cwd: string; user: string }): NotRunnable | SessionError {
  const name = request.argv0;
  switch (failure.stage) {
    case 'exec':
      if (failure.errno === ENOENT && !failure.fileExists) {
        return name.includes('/')
          ? { exitCode: NOT_FOUND_EXIT_CODE, message: `${name}: No such file or directory\n` }
          : { exitCode: NOT_FOUND_EXIT_CODE, message: `${name}: command not found\n` };
      }
      if (failure.errno === ENOENT) {
        return { exitCode: NOT_EXECUTABLE_EXIT_CODE, message: `${name}: cannot execute: required file not found (its interpreter or dynamic loader is missing from the container)\n` };
      }
      return { exitCode: NOT_EXECUTABLE_EXIT_CODE, message: `${name}: cannot execute: ${failure.text}\n` };
    case 'cwd':
      return new SessionError(
        'CWD_NOT_FOUND',
        `cannot enter the working directory ${request.cwd}${request.user ? ` as user ${request.user}` : ''}: ${failure.text}; give an existing directory of the container`,
      );
    case 'credentials':
      return new SessionError('SPAWN_FAILED', `cannot switch to user ${request.user || 'root'}: ${failure.text}; the agent must run as root to switch users`);
    case 'chroot':
      return new SessionError('SPAWN_FAILED', `cannot enter the container root: ${failure.text}; the agent must run as root, and --root must name a directory`);
    case 'fork':
      return new SessionError('SPAWN_FAILED', `cannot create the command's process: ${failure.text}; the guest may be out of memory or processes`);
  }
}
