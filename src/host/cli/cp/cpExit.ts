/** Exit statuses of `hypeman-exec cp` (as `cp` and `docker cp`): 0, or 1 with one line on stderr. */
export const CpExit = { OK: 0, FAILED: 1, INTERRUPTED: 130, TERMINATED: 143 } as const;
