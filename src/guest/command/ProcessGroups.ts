import { readFileSync } from 'node:fs';

/** Sends `signal` to process group `pgid`; a group that is gone already is not an error. */
export function signalGroup(pgid: number, signal: number): void {
  if (pgid <= 1) return; // never the agent's caller's group 0, nor init's (-1: everything)
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group has exited; EPERM cannot happen for the agent's own children.
  }
}

/**
 * The foreground process group of the terminal that `pid` has as its controlling terminal
 * (field tpgid of /proc/PID/stat), or null when it has none or /proc cannot tell. Node has
 * no tcgetpgrp(3); the helper, the terminal's session leader, lives as long as the session.
 */
export function foregroundProcessGroup(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name in parentheses may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tpgid = Number(fields[5]);
  return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : null;
}
