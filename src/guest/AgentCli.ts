import { isAbsolute, resolve } from 'node:path';
import yargs from 'yargs';
import { SHUTDOWN_GRACE_MS } from './AgentServer.js';
import { AgentStartError } from './errors.js';
import { DEFAULT_LISTEN, parseListenAddress, type ListenAddress } from './ListenAddress.js';

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
}

export const DEFAULT_MAX_SESSIONS = 1024;
export const DEFAULT_VSOCK_WAIT_SECONDS = 30;
export const DEFAULT_START_TIMEOUT_SECONDS = 30;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const EPILOGUE = `Every connection carries one exec session (spec/PROTOCOL.md). Commands run in the
container root given by --root, through the static helper hypeman-exec-spawn (built into
build/guest/ by npm install; shipped beside the agent in the guest image).

Logs are JSON lines (pino) on stderr. SIGTERM or SIGINT: stop listening, give running
sessions ${SHUTDOWN_GRACE_MS / 1000} s, then end them with Error SHUTTING_DOWN, hang up their commands and exit 0.`;

function parseEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  if (eq <= 0 || entry.includes('\0')) throw new AgentStartError('INVALID_OPTION', `--env ${JSON.stringify(entry)} must be NAME=value`);
  return [entry.slice(0, eq), entry.slice(eq + 1)];
}

function list(value: unknown): string[] {
  return value === undefined ? [] : ([] as unknown[]).concat(value).map(String);
}

/** Parses the agent's command line; `{exit, output}` for --help. Throws AgentStartError. */
export async function parseAgentOptions(argv: string[]): Promise<AgentOptions | { exit: number; output: string }> {
  let helpOutput = '';
  const parser = yargs(argv)
    .scriptName('hypeman-exec-agent')
    .usage('Usage: $0 [options]\n\nThe hypeman-exec guest agent: runs commands for exec sessions inside a microVM.')
    .option('listen', { type: 'string', requiresArg: true, description: `where to accept sessions: vsock:PORT (any CID), unix:PATH or tcp:127.0.0.1:PORT (loopback only); repeatable (default ${DEFAULT_LISTEN})` })
    .option('root', { type: 'string', default: '/', requiresArg: true, description: "the container's root directory; commands are chrooted into it" })
    .option('max-sessions', { type: 'number', default: DEFAULT_MAX_SESSIONS, requiresArg: true, description: 'sessions served at once; more get TOO_MANY_SESSIONS' })
    .option('default-cwd', { type: 'string', default: '/', requiresArg: true, description: 'working directory of a request that names none (the container\'s)' })
    .option('env', { type: 'string', requiresArg: true, description: "NAME=value of the container's environment, given to every command under the request's own; repeatable" })
    .option('log-level', { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'log level' })
    .option('spawn-helper', { type: 'string', requiresArg: true, description: 'path of hypeman-exec-spawn (default: beside the agent, or build/guest/ of the checkout)' })
    .option('vsock-wait', { type: 'number', default: DEFAULT_VSOCK_WAIT_SECONDS, requiresArg: true, description: 'seconds to keep retrying a vsock listen (the device can appear late in boot)' })
    .option('start-timeout', { type: 'number', default: DEFAULT_START_TIMEOUT_SECONDS, requiresArg: true, description: 'seconds a connection has to send its ExecStart; a silent one gets START_TIMEOUT and is closed, so it cannot hold a session slot' })
    .epilogue(EPILOGUE)
    .help('help')
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new AgentStartError('INVALID_OPTION', `${message}; see --help`);
    });

  const args = await parser.parseAsync(argv, {}, (error, _parsed, output) => {
    if (!error && output) helpOutput = output;
  });
  if (helpOutput) return { exit: 0, output: helpOutput };

  const listen = list(args.listen);
  const maxSessions = Number(args.maxSessions);
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new AgentStartError('INVALID_OPTION', `--max-sessions must be a whole number ≥ 1, got ${args.maxSessions}`);
  const vsockWait = Number(args.vsockWait);
  if (!Number.isFinite(vsockWait) || vsockWait < 0) throw new AgentStartError('INVALID_OPTION', `--vsock-wait must be a number of seconds ≥ 0, got ${args.vsockWait}`);
  const startTimeout = Number(args.startTimeout);
  if (!Number.isFinite(startTimeout) || startTimeout <= 0) throw new AgentStartError('INVALID_OPTION', `--start-timeout must be a number of seconds > 0, got ${args.startTimeout}`);
  const defaultCwd = String(args.defaultCwd);
  if (!isAbsolute(defaultCwd)) throw new AgentStartError('INVALID_OPTION', `--default-cwd must be an absolute path inside the container, got ${JSON.stringify(defaultCwd)}`);
  const env: Record<string, string> = Object.create(null);
  for (const [name, value] of list(args.env).map(parseEnvEntry)) env[name] = value;

  return {
    listen: (listen.length > 0 ? listen : [DEFAULT_LISTEN]).map(parseListenAddress),
    root: resolve(String(args.root)),
    maxSessions,
    defaultCwd,
    env,
    logLevel: String(args.logLevel),
    spawnHelper: args.spawnHelper === undefined ? undefined : String(args.spawnHelper),
    vsockWaitSeconds: vsockWait,
    startTimeoutSeconds: startTimeout,
  };
}
