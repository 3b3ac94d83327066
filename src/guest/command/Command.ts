import type { HelperReport } from './HelperReports.js';
import type { OutputStream } from '../session/FrameWriter.js';

/** The command's wait status as the helper saw it (core-dump bit included). */
export type WaitStatus = Extract<HelperReport, { kind: 'exited' } | { kind: 'signaled' }>;

/** The helper's report that nothing runs, and why. */
export type HelperFailure = Extract<HelperReport, { kind: 'failed' }>;

/** What a running command tells its session. Calls come in this order: started or failed, then output and exited in any order, then finished. */
export interface CommandObserver {
  /** The command's exec succeeded; `pid` is its process id (and process group id). */
  started(pid: number): void;
  /** Nothing runs: the helper's reason, or the agent's own when there is no report. */
  failed(failure: HelperFailure | Error): void;
  output(stream: OutputStream, chunk: Uint8Array): void;
  /** Every output stream reached end of file, or was closed by closeOutput(). */
  outputEnded(): void;
  /** The command ended; null when its status is unknown (the helper died first). */
  exited(status: WaitStatus | null): void;
  /** Stdin that writeStdin() could not take at once has been written. */
  stdinDrained(): void;
  /** The helper has been reaped and every descriptor of the command closed. */
  finished(): void;
}

/** One command run through the exec helper, with pipes or a terminal. */
export interface Command {
  /** False: the input is backed up; wait for stdinDrained before writing more. */
  writeStdin(data: Uint8Array): boolean;
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  /** A client's Signal frame: to the command's group, or the terminal's foreground group. */
  signal(signal: number): void;
  pauseOutput(): void;
  resumeOutput(): void;
  /** Stops reading the output and closes the agent's ends (spec §9.7). */
  closeOutput(): void;
  /** SIGKILL to the command's process group (timeout, and 5 s after a hang-up). */
  kill(): void;
  /** The client is gone (spec §9.9): close everything, SIGHUP, SIGKILL 5 s later, reap. */
  abandon(): void;
  /** The session is done with the helper: it exits, and finished() follows. */
  release(): void;
}
