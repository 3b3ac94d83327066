import yargs from 'yargs';
import { type Answer, type ApiOptions, DEFAULT_API_URL, TOKEN_SOURCES, UsageError, withCommonOptions } from '../cliCommon.js';

/** A usage error of `cp`: exit status 1, as every failure of cp (CpExit), and a hint at `cp --help`. */
export class CpUsageError extends UsageError {}

/** The word that copies instead of naming an instance (an instance called cp: `hypeman-exec -- cp …`). */
export const CP_COMMAND = 'cp';

/** One side of a copy: a path in an instance, a local path, or a tar stream on stdin/stdout. */
export type CpEndpoint = { kind: 'instance'; instance: string; path: string } | { kind: 'local'; path: string } | { kind: 'stream' };

/** `hypeman-exec cp [options] SRC DST`. */
export interface CpOptions extends ApiOptions {
  cp: true;
  source: CpEndpoint;
  destination: CpEndpoint;
  /** Keep owners (uid, gid), as `cp -a`. */
  archive: boolean;
  /** Follow symbolic links in the source, as `cp -L`. */
  followLinks: boolean;
  /** No progress bar. */
  quiet: boolean;
  waitForAgentSeconds: number;
}

const USAGE = `Usage: hypeman-exec cp [options] SRC DST

Copy files and directories between this machine and an instance, like docker cp and
kubectl cp: one of SRC and DST is INSTANCE:PATH (an absolute path in the instance), the
other a local path, or - for a tar archive on stdin (SRC) or stdout (DST).`;

const EPILOGUE = `Where the copy lands, as with docker cp: into DST when DST is an existing directory (under
SRC's name), else at DST itself (a file replaces a file there; a directory is made, or merged
into one there). SRC ending in /. copies a directory's contents. DST ending in / must be an
existing directory. With - as SRC, the tar archive's members are extracted into the directory
DST (made if missing); with - as DST, SRC goes to stdout as a tar archive.

Safe by construction: paths in the instance are resolved inside its container root, as the
container sees them; no symbolic link, .. or /proc link reaches outside it, and what a copy
writes below its destination is never written through a symbolic link, on either side. Every
file's SHA-256 is checked by its receiver, and a file appears under its name only complete.
The instance needs no tools (no tar): its agent does the copying.

A progress bar (bytes, rate, time left) is drawn on stderr when it is a terminal and the copy
is a few MiB or more; -q turns it off. Exit status: 0 when everything was copied, 1 with one
line on stderr when anything failed (what and where: no such path, not a directory, permission,
no space left, a path that would leave the root…).

Environment: HYPEMAN_API_URL (default ${DEFAULT_API_URL}), HYPEMAN_TOKEN (a token comes from
${TOKEN_SOURCES}).`;

/** Paths that are local whatever they hold: absolute, explicitly relative, or home-relative (docker cp's rule). */
function obviouslyLocal(arg: string): boolean {
  return arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.startsWith('~') || arg === '.' || arg === '..';
}

/** `INSTANCE:PATH`, `-`, or a local path; a local name with a colon is written `./name:x`. */
export function parseCpEndpoint(arg: string): CpEndpoint {
  if (arg === '-') return { kind: 'stream' };
  const colon = arg.indexOf(':');
  if (obviouslyLocal(arg) || colon <= 0 || arg.slice(0, colon).includes('/')) return { kind: 'local', path: arg };
  return { kind: 'instance', instance: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

function seconds(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw new CpUsageError(`${name} takes a number of seconds (0 or more), got ${JSON.stringify(String(value))}`);
}

/**
 * Parses what follows `cp`; `before` holds the options given before it (--api-url and
 * --token may come first, as for every command).
 */
export async function parseCpOptions(argv: string[], before: Record<string, unknown>, env: NodeJS.ProcessEnv, version: string): Promise<CpOptions | Answer> {
  let help = '';
  const parser = withCommonOptions(
    yargs()
      .scriptName('hypeman-exec')
      .usage(USAGE)
      .parserConfiguration({ 'strip-dashed': true, 'parse-positional-numbers': false })
      .locale('en')
      .option('archive', { alias: 'a', type: 'boolean', description: 'keep owners (uid and gid) as well as modes and times' })
      .option('follow-link', { alias: 'L', type: 'boolean', description: 'follow symbolic links in SRC (in the instance: inside its root)' })
      .option('quiet', { alias: 'q', type: 'boolean', description: 'no progress bar' })
      .option('wait-for-agent', { requiresArg: true, description: 'keep trying to reach the guest agent for this many seconds (a VM that is still booting)' }),
    version,
    (message) => new CpUsageError(`cp: ${message}`),
  )
    .example([
      ['$0 cp ./site web-1:/srv', 'a directory into /srv (as /srv/site)'],
      ['$0 cp web-1:/var/log/app.log .', 'a file from the instance into the current directory'],
      ['$0 cp -a ./data/. web-1:/data', "a directory's contents, owners kept"],
      ['tar c . | $0 cp - web-1:/srv/app', 'a tar stream extracted into /srv/app'],
      ['$0 cp web-1:/etc - | tar t', '/etc as a tar stream on stdout'],
    ])
    .epilogue(EPILOGUE);
  const args = (await parser.parseAsync(argv, {}, (err, _parsed, output) => {
    if (!err && output) help = output;
  })) as Record<string, unknown> & { _: unknown[] };
  if (help) return { exit: 0, output: help };

  const execOnly = ['stdin', 'tty', 'T', 'env', 'workdir', 'user', 'timeout', 'keepalive', 'json'].find((key) => before[key] !== undefined);
  if (execOnly) throw new CpUsageError(`cp takes -a, -L, -q, --wait-for-agent, --api-url and --token; ${execOnly.length === 1 ? '-' : '--'}${execOnly} is for running a command`);
  const words = args._.map(String);
  if (words.length !== 2) throw new CpUsageError(`cp needs a source and a destination, got ${words.length === 0 ? 'nothing' : JSON.stringify(words.join(' '))}; hypeman-exec cp SRC DST, one of them INSTANCE:PATH`);
  const [source, destination] = words.map(parseCpEndpoint);
  const remote = [source, destination].filter((e) => e.kind === 'instance');
  if (remote.length === 0) throw new CpUsageError('one of SRC and DST must be INSTANCE:PATH (a local path with a colon is written ./name:x)');
  if (remote.length === 2) throw new CpUsageError('cannot copy between two instances: one of SRC and DST must be local (or -)');
  for (const e of remote) {
    if (e.kind === 'instance' && !e.path.startsWith('/')) throw new CpUsageError(`${e.instance}:${e.path}: give an absolute path in the instance (${e.instance}:/${e.path})`);
  }
  const apiUrl = String(args.apiUrl ?? before.apiUrl ?? (env.HYPEMAN_API_URL || DEFAULT_API_URL));
  if (!/^(https?|wss?):\/\//.test(apiUrl)) throw new CpUsageError(`--api-url must start with http:// or https://, got ${JSON.stringify(apiUrl)}`);
  return {
    cp: true,
    source,
    destination,
    archive: args.archive === true,
    followLinks: args.followLink === true,
    quiet: args.quiet === true,
    waitForAgentSeconds: seconds('--wait-for-agent', args.waitForAgent ?? before.waitForAgent),
    apiUrl,
    token: String(args.token ?? before.token ?? env.HYPEMAN_TOKEN ?? ''),
  };
}
