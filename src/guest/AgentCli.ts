import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SHUTDOWN_GRACE_MS } from './AgentServer.js';
import { AgentStartError } from './errors.js';
import { DEFAULT_LISTEN, parseListenAddress, type ListenAddress } from './listen/ListenAddress.js';

export interface AgentOptions {
  readonly listen: readonly ListenAddress[];
  readonly root: string;
  readonly maxSessions: number;
  readonly defaultCwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logLevel: string;
  readonly spawnHelper: string | undefined;
  /** Seconds to keep retrying a vsock listen while the device is not there yet. */
  readonly vsockWaitSeconds: number;
  /** Seconds a new connection has to deliver its ExecStart (spec §9.10). */
  readonly startTimeoutSeconds: number;
  /** The longest linger a session gets (spec §10.2); 0: no session outlives its connection. */
  readonly maxLingerSeconds: number;
  /** Unacknowledged output kept per stream of a lingering session (spec §10.3). */
  readonly lingerBufferBytes: number;
}

export const DEFAULT_MAX_SESSIONS = 1024;
export const DEFAULT_VSOCK_WAIT_SECONDS = 30;
export const DEFAULT_START_TIMEOUT_SECONDS = 30;
export const DEFAULT_MAX_LINGER_SECONDS = 3600;
export const DEFAULT_LINGER_BUFFER_BYTES = 4 * 1024 * 1024;
/** Bounds of --linger-buffer: a frame's worth at least, and far below the agent's memory. */
const MIN_LINGER_BUFFER = 64 * 1024;
const MAX_LINGER_BUFFER = 256 * 1024 * 1024;
/** The linger's upper bound: a session's timer must stay within a u32 of seconds. */
const MAX_LINGER_SECONDS = 0xffffffff;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const EPILOGUE = `Every connection carries one exec session (spec/PROTOCOL.md). Commands run in the
container root given by --root: without a terminal they are started by the agent itself
(its native module, vsock.node), with one through the static helper hypeman-exec-spawn
(built into build/guest/ by npm install; shipped beside the agent in the guest image).

Logs are JSON lines (pino) on stderr. SIGTERM or SIGINT: stop listening, give running
sessions ${SHUTDOWN_GRACE_MS / 1000} s, then end them with Error SHUTTING_DOWN, hang up their commands and exit 0.`;

function parseEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  if (eq <= 0 || entry.includes('\0')) throw new AgentStartError('INVALID_OPTION', `--env ${JSON.stringify(entry)} must be NAME=value`);
  return [entry.slice(0, eq), entry.slice(eq + 1)];
}

/** The options, as --help lists them: [flag, argument, what it does]. */
const OPTIONS_HELP: readonly (readonly [string, string, string])[] = [
  ['--listen', 'ADDRESS', `where to accept sessions: vsock:PORT (any CID), unix:PATH or tcp:127.0.0.1:PORT (loopback only); repeatable (default ${DEFAULT_LISTEN})`],
  ['--root', 'DIR', "the container's root directory; commands are chrooted into it (default /)"],
  ['--max-sessions', 'N', `sessions served at once; more get TOO_MANY_SESSIONS (default ${DEFAULT_MAX_SESSIONS})`],
  ['--default-cwd', 'DIR', "working directory of a request that names none (the container's; default /)"],
  ['--env', 'NAME=VALUE', "a variable of the container's environment, given to every command under the request's own; repeatable"],
  ['--log-level', 'LEVEL', `${LOG_LEVELS.join(', ')} (default info)`],
  ['--spawn-helper', 'PATH', 'path of hypeman-exec-spawn, which starts terminal sessions (default: beside the agent, or build/guest/ of the checkout)'],
  ['--vsock-wait', 'SECONDS', `how long to keep retrying a vsock listen: the device can appear late in boot (default ${DEFAULT_VSOCK_WAIT_SECONDS})`],
  ['--start-timeout', 'SECONDS', `how long a connection has to send its ExecStart; a silent one gets START_TIMEOUT and is closed, so it cannot hold a session slot (default ${DEFAULT_START_TIMEOUT_SECONDS})`],
  ['--max-linger', 'SECONDS', `the longest a session may outlive its connection, waiting for a resume (spec §10; a request asking more gets this); 0: sessions end with their connection (default ${DEFAULT_MAX_LINGER_SECONDS})`],
  ['--linger-buffer', 'BYTES', `output a lingering session keeps per stream until its client acknowledges it; when full the command waits, or its oldest output is dropped if it asked so (default ${DEFAULT_LINGER_BUFFER_BYTES})`],
  ['-h, --help', '', 'show this help and exit'],
];

const HELP_COLUMNS = 100;

/** Splits `text` into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

export function agentUsage(): string {
  const rows = OPTIONS_HELP.map(([flag, arg]) => `  ${flag}${arg ? ` ${arg}` : ''}`);
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  const lines = OPTIONS_HELP.map(([, , what], i) => `${rows[i].padEnd(width)}${wrap(what, HELP_COLUMNS - width).join(`\n${' '.repeat(width)}`)}`);
  return `Usage: hypeman-exec-agent [options]

The hypeman-exec guest agent: runs commands for exec sessions inside a microVM.

Options:
${lines.join('\n')}

${EPILOGUE}`;
}

/**
 * Parses the agent's command line; `{exit, output}` for --help. Throws AgentStartError.
 * node:util's parseArgs, not yargs: the agent starts in every VM, and yargs (with the
 * terminal-width code it loads) was a third of its start-up time.
 */
export async function parseAgentOptions(argv: string[]): Promise<AgentOptions | { exit: number; output: string }> {
  let args;
  try {
    ({ values: args } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        root: { type: 'string', default: '/' },
        'max-sessions': { type: 'string', default: String(DEFAULT_MAX_SESSIONS) },
        'default-cwd': { type: 'string', default: '/' },
        env: { type: 'string', multiple: true },
        'log-level': { type: 'string', default: 'info' },
        'spawn-helper': { type: 'string' },
        'vsock-wait': { type: 'string', default: String(DEFAULT_VSOCK_WAIT_SECONDS) },
        'start-timeout': { type: 'string', default: String(DEFAULT_START_TIMEOUT_SECONDS) },
        'max-linger': { type: 'string', default: String(DEFAULT_MAX_LINGER_SECONDS) },
        'linger-buffer': { type: 'string', default: String(DEFAULT_LINGER_BUFFER_BYTES) },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new AgentStartError('INVALID_OPTION', `${(error as Error).message}; see --help`);
  }
  if (args.help) return { exit: 0, output: agentUsage() };

  const maxSessions = Number(args['max-sessions']);
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new AgentStartError('INVALID_OPTION', `--max-sessions must be a whole number ≥ 1, got ${args['max-sessions']}`);
  const vsockWait = Number(args['vsock-wait']);
  if (!Number.isFinite(vsockWait) || vsockWait < 0) throw new AgentStartError('INVALID_OPTION', `--vsock-wait must be a number of seconds ≥ 0, got ${args['vsock-wait']}`);
  const startTimeout = Number(args['start-timeout']);
  if (!Number.isFinite(startTimeout) || startTimeout <= 0) throw new AgentStartError('INVALID_OPTION', `--start-timeout must be a number of seconds > 0, got ${args['start-timeout']}`);
  const maxLinger = Number(args['max-linger']);
  if (!Number.isInteger(maxLinger) || maxLinger < 0 || maxLinger > MAX_LINGER_SECONDS) {
    throw new AgentStartError('INVALID_OPTION', `--max-linger must be a whole number of seconds from 0 to ${MAX_LINGER_SECONDS}, got ${args['max-linger']}`);
  }
  const lingerBuffer = Number(args['linger-buffer']);
  if (!Number.isInteger(lingerBuffer) || lingerBuffer < MIN_LINGER_BUFFER || lingerBuffer > MAX_LINGER_BUFFER) {
    throw new AgentStartError('INVALID_OPTION', `--linger-buffer must be a whole number of bytes from ${MIN_LINGER_BUFFER} to ${MAX_LINGER_BUFFER}, got ${args['linger-buffer']}`);
  }
  const defaultCwd = args['default-cwd'];
  if (!isAbsolute(defaultCwd)) throw new AgentStartError('INVALID_OPTION', `--default-cwd must be an absolute path inside the container, got ${JSON.stringify(defaultCwd)}`);
  const logLevel = args['log-level'];
  if (!LOG_LEVELS.includes(logLevel)) throw new AgentStartError('INVALID_OPTION', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const env: Record<string, string> = Object.create(null);
  for (const [name, value] of (args.env ?? []).map(parseEnvEntry)) env[name] = value;
  const listen = args.listen ?? [];

  return {
    listen: (listen.length > 0 ? listen : [DEFAULT_LISTEN]).map(parseListenAddress),
    root: resolve(args.root),
    maxSessions,
    defaultCwd,
    env,
    logLevel,
    spawnHelper: args['spawn-helper'],
    vsockWaitSeconds: vsockWait,
    startTimeoutSeconds: startTimeout,
    maxLingerSeconds: maxLinger,
    lingerBufferBytes: lingerBuffer,
  };
}
