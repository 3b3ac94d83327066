import yargs, { type Argv } from 'yargs';
import { type Answer, type ApiOptions, DEFAULT_API_URL, TOKEN_SOURCES, UsageError, withCommonOptions } from './cliCommon.js';
import { CP_COMMAND, type CpOptions, parseCpOptions } from './cp/CpOptions.js';
import type { OverflowPolicy } from '../../wire/index.js';

export { type Answer, type ApiOptions, DEFAULT_API_URL, TOKEN_SOURCES, UsageError };

/** What the user asked for on the command line: run a command. */
export interface CliOptions extends ApiOptions {
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
  /** Seconds the session survives a lost connection (spec §10); 0: it ends with it. */
  lingerSeconds: number;
  overflow: OverflowPolicy;
  /** Start the session, print its id and leave it running for its linger. */
  detach: boolean;
  /** A line to print on stderr before the session (what was asked for and cannot be done). */
  warning?: string;
}

/** `hypeman-exec ls`: list the instances the token may use. */
export interface ListOptions extends ApiOptions {
  list: true;
  json: boolean;
}

/** `hypeman-exec ps <instance>`: the sessions the token's subject has there. */
export interface PsOptions extends ApiOptions {
  ps: true;
  instance: string;
  json: boolean;
}

/** `hypeman-exec attach <instance> <session>`: go on with a session that lingers. */
export interface AttachCliOptions extends ApiOptions {
  attach: true;
  instance: string;
  sessionId: string;
  /** Forward local stdin (otherwise the session's stdin is left as it is). */
  stdin: boolean;
  keepAliveSeconds: number;
  /** --read-only: observe (spec §10.11): output only, local keys go nowhere. */
  readOnly: boolean;
  /** --replay, with --read-only: from what the agent still holds, not the current point. */
  replay: boolean;
  /** --take-over: become the writer; the writer attached now becomes an observer. */
  takeOver: boolean;
}

const DEFAULT_KEEPALIVE_SECONDS = 30;
/** What the CLI asks for by default, so that a dropped connection loses nothing (spec §10). */
export const DEFAULT_LINGER_SECONDS = 30;

/** The word that lists instances instead of naming one (an instance called ls: `hypeman-exec -- ls`). */
export const LIST_COMMAND = 'ls';
/** The word that lists an instance's sessions. */
export const PS_COMMAND = 'ps';
/** The word that attaches to a session. */
export const ATTACH_COMMAND = 'attach';

const EXAMPLES: Array<[string, string]> = [
  ['$0 web-1 whoami', 'run a command and print its output'],
  ['$0 -it web-1 /bin/sh', 'interactive shell with a terminal (like kubectl exec -it)'],
  ['echo hi | $0 web-1 cat', 'pipe local stdin through a remote command'],
  ['$0 web-1 -- ls -l /', 'use -- when the command has options of its own'],
  ['$0 -e LANG=C.UTF-8 -e HOME -w /srv -u app web-1 env', 'environment (a bare NAME copies the local value), workdir and user'],
  ['$0 --timeout 30 --wait-for-agent 60 web-1 make test', 'kill after 30 s (exit 124); wait up to 60 s for a booting VM'],
  [`$0 ${LIST_COMMAND}`, 'the instances your token may use, with their state (like docker ps; --json for scripts)'],
  ['$0 --detach web-1 make test', 'start a command, print its session id, leave it running (for --linger seconds unless attached)'],
  [`$0 ${PS_COMMAND} web-1`, 'your sessions on web-1: id, command, start, state (attached, detached, exited)'],
  [`$0 ${ATTACH_COMMAND} web-1 SESSION`, 'go on with a session: its output from what the agent still holds, your stdin to it'],
  [`$0 ${ATTACH_COMMAND} --read-only web-1 SESSION`, 'watch a session as it runs (yours, or anyone\'s with a token that may observe web-1); keys go nowhere'],
  [`$0 ${ATTACH_COMMAND} --take-over web-1 SESSION`, 'become the session\'s writer; the client typing now is left watching'],
  ['$0 cp ./site web-1:/srv', 'copy a directory into an instance (cp --help: from it, tar streams, -a, -L)'],
];

const EPILOGUE = `Options go before the command, before or after the instance: hypeman-exec -u app web-1 id
and hypeman-exec web-1 -u app id are the same. From the command on, every word is the
command's (hypeman-exec web-1 ls -l runs ls -l); a command whose name starts with - goes
after --.

Exit status: the remote command's own; 128+N when it was killed by signal N; 124 when
--timeout killed it; 255 when the command could not be run (bad options, token rejected, no
such instance, instance not running, API unreachable, agent not answering), with one line
on stderr; 143 (SIGTERM) or 130 (a second Ctrl-C) when the signal, forwarded, did not end
the command within half a second and the session was hung up; 129 on SIGHUP (the session
is hung up at once); 141 when the local stdout was closed (the command is hung up, as a
local one would get SIGPIPE).

Dropped connections: a session survives a lost connection to the API server (a sleeping
laptop, a new network, a restarted server) for --linger seconds (default ${DEFAULT_LINGER_SECONDS}):
the CLI reconnects by itself and nothing is lost or repeated; it says so on stderr only when
that takes more than a second. --linger 0 ends the command with the connection, as before.
--detach starts a session and leaves it running without a connection; ${ATTACH_COMMAND} goes on
with one (a terminal's size is sent again); ${PS_COMMAND} lists yours. A session nobody attaches to
within its linger is hung up. While detached, a command whose output is not read waits when
the agent holds 4 MiB of it (--overflow drop: it runs on and the oldest output is dropped).

Writer and observers: a session has one writer, whose keys, resizes and signals reach the
command and whose terminal size it has. ${ATTACH_COMMAND} attaches as the writer, and is refused
(SESSION_BUSY) while another writer is attached; --take-over takes it, and the writer before
is left watching (and told). ${ATTACH_COMMAND} --read-only watches: the output from now on (--replay:
from what the agent still holds), any number of watchers at once; your keys go nowhere (you
are told once), Ctrl-C leaves. A watcher that cannot keep up is cut (OBSERVER_TOO_SLOW); the
command and its writer never wait for one. Your own sessions may always be watched; others'
need a token whose "observe" claim names the instance (hypeman-exec-server token mints one).

TTY: by default a terminal is used when both stdin and stdout are terminals; -t forces
one, --no-tty (-T) forbids it. With stdin not a terminal, -t alone gives the command a
terminal fed from stdin (ended with ^D at local EOF), while -it warns and runs without one.
In a terminal session keys go to the command as typed (Ctrl-C included) and window size
changes follow. Stdin is forwarded unless --no-stdin; at local EOF the command's stdin is
closed. Ctrl-C, SIGTERM and SIGQUIT are sent to the command as signals; SIGTERM or a
second Ctrl-C also hangs the session up half a second later if the command is still
running, so the CLI always ends; SIGHUP hangs the command up at once.

Environment: HYPEMAN_API_URL (default ${DEFAULT_API_URL}), HYPEMAN_TOKEN (a token comes from
${TOKEN_SOURCES}).`;

/** Options that only make sense for running a command (not for ls), as yargs keys. */
const EXEC_ONLY = ['stdin', 'tty', 'T', 'env', 'workdir', 'user', 'timeout', 'waitForAgent', 'keepalive', 'linger', 'overflow', 'detach'] as const;
/** What attach takes besides --api-url and --token. */
const ATTACH_KEYS: ReadonlySet<string> = new Set(['stdin', 'keepalive', 'readOnly', 'takeOver', 'replay']);
/** Options of attach alone, as yargs keys. */
const ATTACH_ONLY = ['readOnly', 'takeOver', 'replay'] as const;
/** Options that take a value, as typed: a subcommand's options may follow its words. */
const VALUE_OPTIONS = new Set(['-e', '--env', '-w', '--workdir', '-u', '--user', '--timeout', '--wait-for-agent', '--keepalive', '--linger', '--overflow', '--api-url', '--token']);

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

/**
 * A duration option. Declared without a yargs type, so that what was typed reaches this
 * check (yargs turns a bad --timeout of type number into NaN): numbers as typed, anything
 * else, the empty string included, refused.
 */
function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw new UsageError(`${name} takes a number of seconds (0 or more), got ${JSON.stringify(String(value))}`);
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

function parser(version: string): Argv {
  return withCommonOptions(
    yargs()
      .scriptName('hypeman-exec')
      .usage(
        `Usage: $0 [options] <instance> [--] [command...]\n   or: $0 ${LIST_COMMAND} [--json]\n   or: $0 ${PS_COMMAND} <instance> [--json]\n   or: $0 ${ATTACH_COMMAND} [--read-only [--replay] | --take-over] [--no-stdin] <instance> <session>\n   or: $0 cp [-a] [-L] [-q] SRC DST\n\n` +
          `Run a command inside a microVM instance, like docker exec or kubectl exec; ${LIST_COMMAND} lists the\ninstances your token may use, ${PS_COMMAND} your sessions on one, ${ATTACH_COMMAND} goes on with one;\ncp copies files to or from an instance (hypeman-exec cp --help).`,
      )
      // The command's own arguments stay strings as typed (`echo 007` prints 007).
      .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true, 'strip-dashed': true, 'parse-positional-numbers': false })
      // yargs's own words (Options:, [boolean]…) in English, as ours are, whatever LANG says.
      .locale('en')
      .option('stdin', { alias: 'i', type: 'boolean', description: 'forward local stdin to the command (on by default; -i is accepted as with docker; --no-stdin closes it at once)' })
      .option('tty', { alias: 't', type: 'boolean', description: 'run the command under a terminal (default: when stdin and stdout are terminals)' })
      .option('T', { type: 'boolean', description: 'never use a terminal (same as --no-tty)' })
      .option('env', { alias: 'e', type: 'string', requiresArg: true, description: 'set NAME=value in the command\'s environment; repeatable; a bare NAME copies the local value' })
      .option('workdir', { alias: 'w', type: 'string', requiresArg: true, description: 'working directory inside the container (absolute; default: the user\'s home or /)' })
      .option('user', { alias: 'u', type: 'string', requiresArg: true, description: 'user: name, uid, name:group or uid:gid (default: root)' })
      .option('timeout', { requiresArg: true, description: 'kill the command after this many seconds (exit status 124); 0, the default: never' })
      .option('wait-for-agent', { requiresArg: true, description: 'keep trying to reach the guest agent for this many seconds (a VM that is still booting; default 0)' })
      .option('keepalive', { requiresArg: true, description: `ping an agent silent for this many seconds (default ${DEFAULT_KEEPALIVE_SECONDS}); give up (255) when no answer comes in as long again, as with a frozen VM; 0: never` })
      .option('linger', { requiresArg: true, description: `seconds the session survives a lost connection, reconnected without losing a byte (default ${DEFAULT_LINGER_SECONDS}; the agent may cap it); 0: the command ends with the connection` })
      .option('overflow', { choices: ['pause', 'drop'], requiresArg: true, description: 'while nobody is attached and 4 MiB of output waits: pause the command (default) or drop its oldest output' })
      .option('detach', { alias: 'd', type: 'boolean', description: `start the session, print its id and leave it running (for --linger seconds unless attached: hypeman-exec ${ATTACH_COMMAND})` })
      .option('json', { type: 'boolean', description: `${LIST_COMMAND} and ${PS_COMMAND}: print JSON, for scripts` })
      .option('read-only', { alias: 'r', type: 'boolean', description: `${ATTACH_COMMAND}: watch the session (output from now on); your keys go nowhere` })
      .option('replay', { type: 'boolean', description: `${ATTACH_COMMAND} --read-only: start from the output the agent still holds, not from now` })
      .option('take-over', { type: 'boolean', description: `${ATTACH_COMMAND}: become the session's writer even if another is attached (it is left watching)` })
      .example(EXAMPLES)
      .epilogue(EPILOGUE),
    version,
    (message) => new UsageError(usageMessage(message)),
  );
}

type Parsed = Awaited<ReturnType<Argv['parseAsync']>> & Record<string, unknown>;

/** Parses `argv`; the help or version text instead when that was asked for. */
async function parse(argv: string[], version: string): Promise<{ args: Parsed } | { answer: Answer }> {
  let helpOutput = '';
  const args = (await parser(version).parseAsync(argv, {}, (err, _parsed, output) => {
    if (!err && output) helpOutput = output;
  })) as Parsed;
  return helpOutput ? { answer: { exit: 0, output: helpOutput } } : { args };
}

const strings = (values: unknown): string[] => (values === undefined ? [] : ([] as unknown[]).concat(values).map(String));

/**
 * Parses `hypeman-exec [options] <instance> [--] [command...]` and `hypeman-exec ls`.
 * Options may also follow the instance, up to the command (`hypeman-exec web-1 -u app id`,
 * as kubectl takes them); from the command on, every word is the command's
 * (`hypeman-exec web-1 ls -l` runs `ls -l`).
 */
export async function parseCliOptions(
  argv: string[],
  env: NodeJS.ProcessEnv,
  terminals: Terminals,
  version: string,
): Promise<CliOptions | ListOptions | PsOptions | AttachCliOptions | CpOptions | Answer> {
  const first = await parse(argv, version);
  if ('answer' in first) return first.answer;
  // yargs stops at the first word that is not an option (or after --) and hands back that
  // word and all that follow; whether a -- came first, only argv tells.
  const words = [...strings(first.args._), ...strings(first.args['--'])];
  const explicit = argv[argv.length - words.length - 1] === '--';
  let args = first.args;
  let [target, ...rest] = words;
  // `hypeman-exec cp …` has options and arguments of its own (cp/CpOptions.ts).
  if (target === CP_COMMAND && !explicit) return parseCpOptions(rest, args, env, version);
  // Options after the instance (or after ls), up to the command: parsed again as if they
  // had come before it. The command is from its first word on, or after a --. ps and attach
  // take their options among their words themselves (subcommand): merged here, the options
  // right after the word were lost (attach --no-stdin web-1 ID forwarded stdin).
  const ownOptions = !explicit && (target === PS_COMMAND || target === ATTACH_COMMAND);
  if (!explicit && !ownOptions && target !== undefined && rest.length > 0 && /^-./.test(rest[0]) && rest[0] !== '--') {
    const after = await parse(rest, version).catch((err: Error) => {
      if (!/^Unknown argument/.test(err.message)) throw err;
      throw new UsageError(
        `${rest[0]} after the instance is not an option of hypeman-exec (its options may follow the instance, up to the command); ` +
          `a command whose name starts with - goes after --: hypeman-exec ${target} -- ${rest[0]} …`,
      );
    });
    if ('answer' in after) return after.answer;
    const command = [...strings(after.args._), ...strings(after.args['--'])];
    const dashes = rest[rest.length - command.length - 1] === '--' ? 1 : 0;
    const merged = await parse([...argv.slice(0, argv.length - words.length), ...rest.slice(0, rest.length - command.length - dashes)], version);
    if ('answer' in merged) return merged.answer;
    args = merged.args;
    rest = command;
  } else if (rest[0] === '--') {
    // `hypeman-exec web-1 -- ls -l`: the -- ends the options, the command follows.
    rest = rest.slice(1);
  }

  const apiUrl = String(args.apiUrl ?? (env.HYPEMAN_API_URL || DEFAULT_API_URL));
  if (!/^(https?|wss?):\/\//.test(apiUrl)) throw new UsageError(`--api-url must start with http:// or https://, got ${JSON.stringify(apiUrl)}`);
  const token = String(args.token ?? env.HYPEMAN_TOKEN ?? '');

  if (target === LIST_COMMAND && !explicit) {
    if (rest.length > 0) throw new UsageError(`${LIST_COMMAND} takes no arguments, got ${JSON.stringify(rest.join(' '))}`);
    const execOnly = [...EXEC_ONLY, ...ATTACH_ONLY].find((key) => args[key] !== undefined);
    if (execOnly) throw new UsageError(`${LIST_COMMAND} takes only --json, --api-url and --token; ${optionName(execOnly)} is for running a command`);
    return { list: true, json: args.json === true, apiUrl, token };
  }
  if ((target === PS_COMMAND || target === ATTACH_COMMAND) && !explicit) {
    return subcommand(target, argv.slice(0, argv.length - words.length), rest, version, env);
  }
  if (args.json !== undefined) throw new UsageError(`--json goes with ${LIST_COMMAND}: hypeman-exec ${LIST_COMMAND} --json`);
  const attachOnly = ATTACH_ONLY.find((key) => args[key] !== undefined);
  if (attachOnly) throw new UsageError(`${optionName(attachOnly)} goes with ${ATTACH_COMMAND}: hypeman-exec ${ATTACH_COMMAND} ${optionName(attachOnly)} <instance> <session>`);
  if (target === undefined) throw new UsageError(`which instance? Usage: hypeman-exec [options] <instance> [--] [command...]; hypeman-exec ${LIST_COMMAND} lists them`);

  let tty = (args.tty as boolean | undefined) ?? (terminals.stdinIsTTY && terminals.stdoutIsTTY);
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

  const lingerSeconds = seconds('--linger', args.linger, DEFAULT_LINGER_SECONDS);
  if (!Number.isInteger(lingerSeconds) || lingerSeconds > 0xffffffff) throw new UsageError(`--linger takes a whole number of seconds, got ${JSON.stringify(String(args.linger))}`);
  const detach = args.detach === true;
  if (detach && lingerSeconds === 0) throw new UsageError('--detach needs a linger: a session with --linger 0 ends with its connection');
  // A detached command has nobody's terminal to share: a TTY only when -t asks for one.
  if (detach && args.tty !== true) tty = false;

  return {
    instance: target,
    command: rest,
    lingerSeconds,
    overflow: (args.overflow as OverflowPolicy | undefined) ?? 'pause',
    detach,
    stdin: (args.stdin as boolean | undefined) ?? true,
    tty,
    env: parseEnv(strings(args.env), env),
    workdir: String(args.workdir ?? ''),
    user: String(args.user ?? ''),
    timeoutSeconds: Math.floor(seconds('--timeout', args.timeout, 0)),
    waitForAgentSeconds: seconds('--wait-for-agent', args.waitForAgent, 0),
    keepAliveSeconds: seconds('--keepalive', args.keepalive, DEFAULT_KEEPALIVE_SECONDS),
    apiUrl,
    token,
    warning,
  };
}

/**
 * `ps <instance>` and `attach <instance> <session>`: their words, and options before, among
 * or after them (`hypeman-exec ps web-1 --json`).
 */
async function subcommand(
  name: typeof PS_COMMAND | typeof ATTACH_COMMAND,
  before: string[],
  words: string[],
  version: string,
  env: NodeJS.ProcessEnv,
): Promise<PsOptions | AttachCliOptions | Answer> {
  const options: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === '--') {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (!/^-./.test(word)) positionals.push(word);
    else {
      options.push(word);
      if (VALUE_OPTIONS.has(word) && i + 1 < words.length) options.push(words[++i]);
    }
  }
  const parsed = await parse([...before, ...options], version);
  if ('answer' in parsed) return parsed.answer;
  const args = parsed.args;
  const apiUrl = String(args.apiUrl ?? (env.HYPEMAN_API_URL || DEFAULT_API_URL));
  if (!/^(https?|wss?):\/\//.test(apiUrl)) throw new UsageError(`--api-url must start with http:// or https://, got ${JSON.stringify(apiUrl)}`);
  const token = String(args.token ?? env.HYPEMAN_TOKEN ?? '');
  const allowed = name === PS_COMMAND ? new Set(['json']) : ATTACH_KEYS;
  const stray = [...EXEC_ONLY, ...ATTACH_ONLY, 'json' as const].find((key) => args[key] !== undefined && !allowed.has(key));
  if (stray) throw new UsageError(`${name} takes ${name === PS_COMMAND ? '--json' : '--read-only, --replay, --take-over, --no-stdin, --keepalive'}, --api-url and --token, not ${optionName(stray)}`);
  if (name === PS_COMMAND) {
    if (positionals.length !== 1) throw new UsageError(`usage: hypeman-exec ${PS_COMMAND} <instance> [--json]`);
    return { ps: true, instance: positionals[0], json: args.json === true, apiUrl, token };
  }
  if (positionals.length !== 2) throw new UsageError(`usage: hypeman-exec ${ATTACH_COMMAND} <instance> <session> (the session id comes from --detach or hypeman-exec ${PS_COMMAND} <instance>)`);
  const [instance, sessionId] = positionals;
  if (!/^[0-9a-f]{32}$/i.test(sessionId)) throw new UsageError(`${JSON.stringify(sessionId)} is not a session id (32 hex digits, as hypeman-exec ${PS_COMMAND} ${instance} shows them)`);
  const readOnly = args.readOnly === true;
  const takeOver = args.takeOver === true;
  if (readOnly && takeOver) throw new UsageError('--read-only watches and --take-over writes: give one of them');
  if (args.replay === true && !readOnly) throw new UsageError('--replay goes with --read-only (a writer always goes on from what the agent still holds)');
  return {
    attach: true,
    instance,
    sessionId: sessionId.toLowerCase(),
    stdin: (args.stdin as boolean | undefined) ?? true,
    keepAliveSeconds: seconds('--keepalive', args.keepalive, DEFAULT_KEEPALIVE_SECONDS),
    readOnly,
    replay: args.replay === true,
    takeOver,
    apiUrl,
    token,
  };
}

/** yargs's message, with the option as typed where it names one without its dashes. */
function usageMessage(message: string): string {
  const missing = /^Not enough arguments following: (\S+)$/.exec(message);
  if (!missing) return message;
  return `${missing[1].length === 1 ? '-' : '--'}${missing[1]} needs a value`;
}

function optionName(key: (typeof EXEC_ONLY)[number] | (typeof ATTACH_ONLY)[number] | 'json'): string {
  return key === 'T' ? '-T' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
