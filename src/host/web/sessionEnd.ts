import { ExitKind, SignalNumber, errorOfCloseCode, type ExitStatus } from './wire.js';

/** How a terminal session ended, as the page shows it. */
export type SessionEnd =
  | { kind: 'exited'; status: ExitStatus }
  /** An Error frame (or a close naming one): the server's or the agent's typed error. */
  | { kind: 'failed'; code: string; message: string }
  /** The connection ended with no exit status: the command's fate is unknown. */
  | { kind: 'disconnected'; message: string };

const SIGNAL_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(SignalNumber).map(([name, n]) => [n, name]));

/** "exited with 3", "killed by SIGKILL", "timed out (exit status 124)". */
export function describeExit(status: ExitStatus): string {
  if (status.kind === ExitKind.TimedOut) return `timed out (exit status ${status.code})`;
  if (status.kind === ExitKind.Signaled) {
    return `killed by ${SIGNAL_NAMES[status.signal] ?? `signal ${status.signal}`}${status.coreDumped ? ' (core dumped)' : ''}`;
  }
  return `exited with ${status.code}`;
}

export function describeEnd(end: SessionEnd): string {
  switch (end.kind) {
    case 'exited':
      return describeExit(end.status);
    case 'failed':
      return `${end.code}: ${end.message}`;
    case 'disconnected':
      return `disconnected: ${end.message}`;
  }
}

/**
 * The end a WebSocket close means when no Exit or Error frame came first (spec §8.1): 4000 + n
 * names Error n, whose frame may have been lost; anything else leaves the command's fate unknown.
 */
export function endOfClose(code: number, reason: string): SessionEnd {
  const error = errorOfCloseCode(code);
  if (error) return { kind: 'failed', code: error.name, message: reason || `the server ended the session with ${error.name}` };
  if (code === 1000) return { kind: 'disconnected', message: 'the server closed the session without an exit status' };
  return {
    kind: 'disconnected',
    message: `the connection to the server was lost (WebSocket close ${code}${reason ? `: ${reason}` : ''}); the command's exit status is unknown`,
  };
}
