import type { SessionSummary } from '../../wire/index.js';
import { listApiSessions } from '../client/instances.js';
import type { LocalStreams, PsOptions } from './CliOptions.js';
import { printListing } from './listing.js';

/** Longest command shown in the table; --json has all of it. */
const COMMAND_WIDTH = 40;

/**
 * `hypeman-exec ps <instance>`: the token subject's sessions on an instance (GET
 * /instances/{id}/sessions, spec §10.8), as a table or with --json as the API's own JSON.
 * Resolves with the exit status.
 */
export function runPs(options: PsOptions, local: LocalStreams, now = Date.now()): Promise<number> {
  return printListing(options, local, () => listApiSessions({ apiUrl: options.apiUrl, token: options.token || undefined }, options.instance), {
    header: ['SESSION', 'COMMAND', 'OWNER', 'STARTED', 'STATE', ''],
    row: (s) => [s.id, command(s), s.owner, `${ago(now - s.startedAt)} ago`, state(s, now), s.tty ? 'tty' : ''],
  });
}

function command(s: SessionSummary): string {
  const text = s.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return text.length > COMMAND_WIDTH ? `${text.slice(0, COMMAND_WIDTH - 1)}…` : text;
}

/** attached; detached (hung up in Ns unless attached); exited N (kept Ns); and how many watch (spec §10.11). */
function state(s: SessionSummary, now: number): string {
  const left = s.detachedAt === undefined ? undefined : Math.max(0, Math.ceil(s.lingerSeconds - (now - s.detachedAt) / 1000));
  if (s.state === 'exited') return `exited ${s.exitCode ?? '?'}${left === undefined ? '' : ` (kept ${left}s)`}`;
  const watching = s.observers ? `, ${s.observers} watching` : '';
  if (s.state === 'detached') return `detached (ends in ${left}s unless attached)${watching}`;
  return `attached${watching}`;
}

function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}
