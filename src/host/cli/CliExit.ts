/** Exit statuses of the CLI's own making (the command's own pass through unchanged). */
export const CliExit = {
  /** The command could not be run, or the session broke: one line on stderr says why. */
  FAILURE: 255,
  /** A second Ctrl-C the command did not end on within HANG_UP_GRACE_MS, or Ctrl-C before the session started. */
  INTERRUPTED: 130,
  /** SIGHUP: the local terminal went away; the command is hung up. */
  HANGUP: 129,
  /** SIGTERM the command did not end on within HANG_UP_GRACE_MS, or SIGTERM before the session started. */
  TERMINATED: 143,
  /** SIGQUIT before the session started. */
  QUIT: 131,
  /** The local stdout was closed (EPIPE): the command is hung up, as a local one gets SIGPIPE. */
  BROKEN_PIPE: 141,
} as const;
