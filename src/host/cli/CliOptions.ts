import yargs from 'yargs';
import { CodedError } from '../../wire/index.js';

/** What the user asked for on the command line. */
export interface CliOptions {
  instance: string;
  /** argv to run; empty means the agent's default shell. */
  command: string[];
  /** Forward local stdin (otherwise the command's stdin is closed at once). */
  stdin: boolean;
  tty: boolean;
  env: Record<string, string>;
  workdir: string;
  user: string;
  timeoutSeconds: number;
  waitForAgentSeconds: number;
  /** Ping a silent agent after this long; give up when not even a Pong comes in as long again. 0: never. */
  keepAliveSeconds: number;
  apiUrl: string;
  token: string;
  /** A line to print on stderr before the session (what was asked for and cannot be done). */
  warning?: string;
}

export const DEFAULT_API_URL = 'http://localhost:8080';

/** A usage error: printed with a hint at --help, exit status 255. */
export class UsageError extends CodedError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

const EXAMPLES: Array<[string, string]> = [
  ['$0 web-1 whoami', 'run a command and print its output'],
  ['$0 -it web-1 /bin/sh', 'interactive shell with a terminal (like kubectl exec -it)'],
  ['echo hi | $0 web-1 cat', 'pipe local stdin through a remote command'],
  ['$0 web-1 -- ls -l /', 'use -- when the command has options of its own'],
  ['$0 -e LANG=C.UTF-8 -e HOME -w /srv -u app web-1 env', 'environment (a bare NAME copies the local value), workdir and user'],
  ['$0 --timeout 30 --wait-for-agent 60 web-1 make test', 'kill after 30 s (exit 124); wait up to 60 s for a booting VM'],
];

const EPILOGUE = `Exit status: the remote command's own; 128+N when it was killed by signal N; 124 when
--timeout killed it; 255 when the command could not be run (bad options, token rejected, no
such instance, instance not running, API unreachable, agent not answering), with one line
on stderr; 143 (SIGTERM) or 130 (a second Ctrl-C) when the signal, forwarded, did not end
the command within half a second and the session was hung up; 129 on SIGHUP (the session
is hung up at once); 141 when the local stdout was closed (the command is hung up, as a
local one would get SIGPIPE).

TTY: by default a terminal is used when both stdin and stdout are terminals; -t forces
one, --no-tty (-T) forbids it. With stdin not a terminal, -t alone gives the command a
terminal fed from stdin (ended with ^D at local EOF), while -it warns and runs without one.
In a terminal session keys go to the command as typed (Ctrl-C included) and window size
changes follow. Stdin is forwarded unless --no-stdin; at local EOF the command's stdin is
closed. Ctrl-C, SIGTERM and SIGQUIT are sent to the command as signals; SIGTERM or a
second Ctrl-C also hangs the session up half a second later if the command is still
running, so the CLI always ends; SIGHUP hangs the command up at once.

Environment: HYPEMAN_API_URL (default ${DEFAULT_API_URL}), HYPEMAN_TOKEN.`;

function parseEnv(entries: string[], local: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    if (name === '' || name.includes('\0')) throw new UsageError(`-e ${JSON.stringify(entry)}: a variable needs a name`);
    if (eq >= 0) env[name] = entry.slice(eq + 1);
    else if (local[name] !== undefined) env[name] = local[name]!;
    // A bare NAME that is unset locally is left out, as docker does.
  }
  return env;
}

function nonNegative(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number of seconds ≥ 0, got ${JSON.stringify(value)}`);
  return n;
}

/** The local side of a CLI run: the process's own streams. */
export interface LocalStreams {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface Terminals {
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
}

/**
 * Parses `hypeman-exec [options] <instance> [--] [command...]`. Options after the
 * instance belong to the command (`hypeman-exec web-1 ls -l` runs `ls -l`).
 */
export async function parseCliOptions(
  argv: string[],
  env: NodeJS.ProcessEnv,
  terminals: Terminals,
  version: string,
): Promise<CliOptions | { exit: number; output: string }> {
  let helpOutput = '';
  const parser = yargs(argv)
    .scriptName('hypeman-exec')
    .usage('Usage: $0 [options] <instance> [--] [command...]\n\nRun a command inside a microVM instance, like docker exec or kubectl exec.')
    // The command's own arguments stay strings as typed (`echo 007` prints 007).
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'strip-dashed': true, 'parse-positional-numbers': false })
    .option('stdin', { alias: 'i', type: 'boolean', description: 'forward local stdin to the command (on by default; -i is accepted as with docker; --no-stdin closes it at once)' })
    .option('tty', { alias: 't', type: 'boolean', description: 'run the command under a terminal (default: when stdin and stdout are terminals)' })
    .option('T', { type: 'boolean', description: 'never use a terminal (same as --no-tty)' })
    .option('env', { alias: 'e', type: 'string', requiresArg: true, description: 'set NAME=value in the command\'s environment; repeatable; a bare NAME copies the local value' })
    .option('workdir', { alias: 'w', type: 'string', description: 'working directory inside the container (absolute; default: the user\'s home or /)' })
    .option('user', { alias: 'u', type: 'string', description: 'user: name, uid, name:group or uid:gid (default: root)' })
    .option('timeout', { type: 'number', default: 0, description: 'kill the command after this many seconds (exit status 124); 0: never' })
    .option('wait-for-agent', { type: 'number', default: 0, description: 'keep trying to reach the guest agent for this many seconds (a VM that is still booting)' })
    .option('keepalive', { type: 'number', default: 30, description: 'ping an agent silent for this many seconds; give up (255) when no answer comes in as long again, as with a frozen VM; 0: never' })
    // Defaults from the environment are applied after parsing, so --help never prints a token.
    .option('api-url', { type: 'string', requiresArg: true, description: `API server URL (env HYPEMAN_API_URL; default ${DEFAULT_API_URL})` })
    .option('token', { type: 'string', requiresArg: true, description: 'JWT bearer token (env HYPEMAN_TOKEN)' })
    .example(EXAMPLES)
    .epilogue(EPILOGUE)
    .version(version)
    .alias('version', 'V')
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });

  const args = await parser.parseAsync(argv, {}, (err, _parsed, output) => {
    if (!err && output) helpOutput = output;
  });
  if (helpOutput) return { exit: 0, output: helpOutput };

  const positional = (args._ as Array<string | number>).map(String);
  const afterDashes = ((args as unknown as { '--'?: Array<string | number> })['--'] ?? []).map(String);
  const [instance, ...rest] = [...positional, ...afterDashes];
  if (!instance) throw new UsageError('which instance? Usage: hypeman-exec [options] <instance> [--] [command...]');
  // `hypeman-exec web-1 -- ls`: option parsing stopped at web-1, so the -- is still there.
  const command = rest[0] === '--' ? rest.slice(1) : rest;
  const envEntries = args.env === undefined ? [] : ([] as unknown[]).concat(args.env).map(String);

  let tty = args.tty ?? (terminals.stdinIsTTY && terminals.stdoutIsTTY);
  if (args.T) tty = false;
  let warning: string | undefined;
  // -it asks for an interactive terminal. Without one on stdin (a script, a pipe, CI) the
  // command runs on pipes, as with kubectl and ssh: exact end of input, stderr apart.
  // Refusing, as docker does, would break scripts that work with those. -t alone still
  // gives the command a terminal fed from the pipe.
  if (tty && args.tty === true && args.stdin === true && !terminals.stdinIsTTY) {
    tty = false;
    warning = 'stdin is not a terminal: running without a TTY, as -i alone (-t without -i keeps one for piped input)';
  }
  const apiUrl = String(args.apiUrl ?? (env.HYPEMAN_API_URL || DEFAULT_API_URL));
  if (!/^(https?|wss?):\/\//.test(apiUrl)) throw new UsageError(`--api-url must start with http:// or https://, got ${JSON.stringify(apiUrl)}`);

  return {
    instance,
    command,
    stdin: args.stdin ?? true,
    tty,
    env: parseEnv(envEntries, env),
    workdir: String(args.workdir ?? ''),
    user: String(args.user ?? ''),
    timeoutSeconds: Math.floor(nonNegative('--timeout', args.timeout)),
    waitForAgentSeconds: nonNegative('--wait-for-agent', args.waitForAgent),
    keepAliveSeconds: nonNegative('--keepalive', args.keepalive),
    apiUrl,
    token: String(args.token ?? env.HYPEMAN_TOKEN ?? ''),
    warning,
  };
}
