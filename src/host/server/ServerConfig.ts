import { readFile } from 'node:fs/promises';
import yargs from 'yargs';
import { CodedError, DEFAULT_MAX_PAYLOAD, MAX_DATA_CHUNK } from '../../wire/index.js';
import { DEFAULT_DATA_DIR } from '../registry/InstanceRegistry.js';
import { DEFAULT_RELAY_LIMITS } from './relay/ExecRelay.js';
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from './SessionLimits.js';
import { DEFAULT_RECORD_MAX_BYTES, type RecordingOptions } from './recording/RecordingStore.js';
import { type TokenClaimRules, type TokenKeyConfig } from './TokenVerifier.js';

/** Everything the API server is configured with (flags, each with an environment variable). */
export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  tokenKey: TokenKeyConfig;
  tokenClaims: TokenClaimRules;
  allowedOrigins: string[];
  publicHosts: string[];
  maxFrameSize: number;
  sessionLimits: SessionLimits;
  maxSmallMessages: number;
  shutdownGraceSeconds: number;
  agentKeepAliveSeconds: number;
  agentStartTimeoutSeconds: number;
  logLevel: string;
  /** Session recordings (--record-dir); null: none. */
  recordings: RecordingOptions | null;
}

export class ConfigError extends CodedError<'CONFIG'> {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

const ENV_HELP = `Every option can also be set by environment: HYPEMAN_HOST, PORT or HYPEMAN_PORT,
HYPEMAN_DATA_DIR, HYPEMAN_JWT_SECRET, HYPEMAN_JWT_SECRET_FILE, HYPEMAN_JWT_PUBLIC_KEY,
HYPEMAN_JWT_ALGORITHM, HYPEMAN_JWT_ISSUER, HYPEMAN_JWT_AUDIENCE, HYPEMAN_ALLOWED_ORIGINS
and HYPEMAN_PUBLIC_HOSTS (comma-separated), HYPEMAN_MAX_FRAME_SIZE, HYPEMAN_MAX_SESSIONS,
HYPEMAN_MAX_SESSIONS_PER_SUBJECT, HYPEMAN_MAX_PENDING_PER_SUBJECT,
HYPEMAN_MAX_SESSIONS_PER_INSTANCE, HYPEMAN_MAX_SMALL_MESSAGES, HYPEMAN_SHUTDOWN_GRACE,
HYPEMAN_AGENT_KEEPALIVE, HYPEMAN_AGENT_START_TIMEOUT, HYPEMAN_LOG_LEVEL, HYPEMAN_RECORD_DIR,
HYPEMAN_RECORD_INPUT (1 or true), HYPEMAN_RECORD_MAX_BYTES, HYPEMAN_RECORD_MAX_AGE. Flags win.

Recordings: with --record-dir every session with a terminal is written, as it happens, to
DIR/<session id>.cast (asciicast v3: output, resizes, the exit; typed input only with
--record-input), files 0600 in a 0700 directory. The session's audit line names the file,
its bytes and its sha256; GET /instances/{id}/sessions/{sid}/recording serves it to the
session's owner, and /instances/{id}/sessions/{sid}/player plays it in the browser.

Tokens: HS256 with --jwt-secret (at least 32 bytes; or --jwt-secret-file), or RS256/ES256
with --jwt-public-key FILE (PEM). Every token needs "exp" and "sub" (audited); "iss" and
"aud" are checked when --jwt-issuer and --jwt-audience are set; an "instances" claim (array
of ids or names) limits the instances it may use.`;

/** Parses the server's flags and environment. Returns null after printing --help/--version. */
export async function parseServerConfig(argv: string[], env: NodeJS.ProcessEnv, version: string): Promise<ServerConfig | null> {
  let printed = false;
  const args = await yargs(argv)
    .scriptName('hypeman-exec-server')
    .usage('Usage: $0 [options]\n       $0 token [options]   mint a token (see $0 token --help)\n\nThe hypeman-exec API server: GET /instances/{id}/exec (WebSocket), /instances, /healthz, /metrics, and the browser terminal at / and /instances/{id}/terminal.')
    .option('host', { type: 'string', default: env.HYPEMAN_HOST || '127.0.0.1', description: 'address to listen on' })
    .option('port', { type: 'number', default: Number(env.HYPEMAN_PORT || env.PORT || 8080), description: 'port to listen on' })
    .option('data-dir', { type: 'string', default: env.HYPEMAN_DATA_DIR || DEFAULT_DATA_DIR, description: 'where instance records live (<data-dir>/guests/<id>/)' })
    .option('jwt-secret', { type: 'string', default: env.HYPEMAN_JWT_SECRET, description: 'HS256 secret for bearer tokens' })
    .option('jwt-secret-file', { type: 'string', default: env.HYPEMAN_JWT_SECRET_FILE, description: 'file holding the HS256 secret' })
    .option('jwt-public-key', { type: 'string', default: env.HYPEMAN_JWT_PUBLIC_KEY, description: 'PEM public key file for RS256/ES256 tokens' })
    .option('jwt-algorithm', { choices: ['RS256', 'ES256'] as const, default: (env.HYPEMAN_JWT_ALGORITHM as 'RS256' | 'ES256') || 'RS256', description: 'algorithm of --jwt-public-key' })
    .option('jwt-issuer', { type: 'string', default: env.HYPEMAN_JWT_ISSUER, description: 'tokens must have this "iss" claim' })
    .option('jwt-audience', { type: 'string', default: env.HYPEMAN_JWT_AUDIENCE, description: 'tokens must have this "aud" claim (or list it)' })
    .option('allowed-origins', { type: 'string', default: env.HYPEMAN_ALLOWED_ORIGINS || '', description: 'browser origins allowed besides the server\'s own (comma-separated; * allows any: avoid)' })
    .option('max-frame-size', { type: 'number', default: Number(env.HYPEMAN_MAX_FRAME_SIZE || DEFAULT_MAX_PAYLOAD), description: 'largest frame payload accepted, in bytes (at least 65536)' })
    .option('public-host', { type: 'string', default: env.HYPEMAN_PUBLIC_HOSTS || '', description: 'names clients reach the server by (Host header; comma-separated). IP addresses and localhost always pass; any other name gets 421, which stops DNS rebinding' })
    .option('max-sessions', { type: 'number', default: Number(env.HYPEMAN_MAX_SESSIONS || DEFAULT_SESSION_LIMITS.maxSessions), description: 'exec sessions at once; more get 503 TOO_MANY_SESSIONS' })
    .option('max-sessions-per-subject', { type: 'number', default: Number(env.HYPEMAN_MAX_SESSIONS_PER_SUBJECT || DEFAULT_SESSION_LIMITS.maxSessionsPerSubject), description: 'sessions one token subject may have open; more get 429 SUBJECT_SESSION_LIMIT' })
    .option('max-pending-per-subject', { type: 'number', default: Number(env.HYPEMAN_MAX_PENDING_PER_SUBJECT || DEFAULT_SESSION_LIMITS.maxPendingPerSubject), description: 'sessions of one subject open without their request yet; more get 429 SUBJECT_SESSION_LIMIT' })
    .option('max-sessions-per-instance', { type: 'number', default: Number(env.HYPEMAN_MAX_SESSIONS_PER_INSTANCE || DEFAULT_SESSION_LIMITS.maxSessionsPerInstance), description: 'sessions on one instance (keep below its vsock socket\'s 1023 connections); more get 503 INSTANCE_SESSION_LIMIT' })
    .option('max-small-messages', { type: 'number', default: Number(env.HYPEMAN_MAX_SMALL_MESSAGES || DEFAULT_RELAY_LIMITS.smallMessagesPerSecond), description: 'messages under 1 KiB a client may send per second; a flood ends its session with FLOW_CONTROL; 0: no limit' })
    .option('agent-keepalive', { type: 'number', default: Number(env.HYPEMAN_AGENT_KEEPALIVE || 30), description: 'ping an agent silent this many seconds; end its session (PEER_UNRESPONSIVE) when no answer comes in as long again; 0: never' })
    .option('agent-start-timeout', { type: 'number', default: Number(env.HYPEMAN_AGENT_START_TIMEOUT || DEFAULT_RELAY_LIMITS.agentStartTimeoutMs / 1000), description: 'seconds a reached agent has to start the command; then the session ends with PEER_UNRESPONSIVE' })
    .option('shutdown-grace', { type: 'number', default: Number(env.HYPEMAN_SHUTDOWN_GRACE || 10), description: 'seconds running sessions get to finish on SIGTERM' })
    .option('record-dir', { type: 'string', default: env.HYPEMAN_RECORD_DIR || '', description: 'record every TTY session as an asciicast v3 file DIR/<session id>.cast (made 0700; files 0600)' })
    .option('record-input', { type: 'boolean', default: /^(1|true)$/i.test(env.HYPEMAN_RECORD_INPUT ?? ''), description: 'also record what is typed (asciicast "i" events: passwords too); needs --record-dir' })
    .option('record-max-bytes', { type: 'number', default: Number(env.HYPEMAN_RECORD_MAX_BYTES || DEFAULT_RECORD_MAX_BYTES), description: 'largest recording file; at the limit recording stops with a marker event, and the audit line says stopped: size_limit' })
    .option('record-max-age', { type: 'string', default: env.HYPEMAN_RECORD_MAX_AGE || '0', description: 'remove recordings not written for this long (N seconds, or Ns, Nm, Nh, Nd), at start and every tenth of it (at most hourly); 0: keep them' })
    .option('log-level', { type: 'string', default: env.HYPEMAN_LOG_LEVEL || 'info', description: 'pino log level (logs go to stderr)' })
    .epilogue(ENV_HELP)
    .version(version)
    .help()
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new ConfigError(msg);
    })
    .parseAsync(argv, {}, (err, _a, output) => {
      if (!err && output) {
        process.stdout.write(`${output}\n`);
        printed = true;
      }
    });
  if (printed) return null;

  let tokenKey: TokenKeyConfig;
  if (args.jwtPublicKey) {
    tokenKey = { kind: 'public-key', pem: await readFile(args.jwtPublicKey, 'utf8'), algorithms: [args.jwtAlgorithm] };
  } else if (args.jwtSecretFile) {
    tokenKey = { kind: 'secret', secret: (await readFile(args.jwtSecretFile, 'utf8')).trim() };
  } else if (args.jwtSecret) {
    tokenKey = { kind: 'secret', secret: args.jwtSecret };
  } else {
    throw new ConfigError('no token key: set --jwt-secret (or HYPEMAN_JWT_SECRET), --jwt-secret-file, or --jwt-public-key');
  }
  for (const [name, value, min] of [
    ['--port', args.port, 0],
    // Agents send output in frames of up to MAX_DATA_CHUNK: a smaller limit would fail every
    // session that prints more than that at once.
    ['--max-frame-size', args.maxFrameSize, MAX_DATA_CHUNK],
    ['--max-sessions', args.maxSessions, 1],
    ['--max-sessions-per-subject', args.maxSessionsPerSubject, 1],
    ['--max-pending-per-subject', args.maxPendingPerSubject, 1],
    ['--max-sessions-per-instance', args.maxSessionsPerInstance, 1],
    ['--max-small-messages', args.maxSmallMessages, 0],
    ['--agent-start-timeout', args.agentStartTimeout, 1],
    ['--shutdown-grace', args.shutdownGrace, 0],
    ['--agent-keepalive', args.agentKeepalive, 0],
    ['--record-max-bytes', args.recordMaxBytes, 4096],
  ] as const) {
    if (!Number.isFinite(value) || value < min) throw new ConfigError(`${name} must be a number ≥ ${min}, got ${value}`);
  }
  if (args.recordInput && !args.recordDir) throw new ConfigError('--record-input records into --record-dir: set --record-dir DIR too');
  return {
    host: args.host,
    port: args.port,
    dataDir: args.dataDir,
    tokenKey,
    tokenClaims: {
      ...(args.jwtIssuer ? { issuer: args.jwtIssuer } : {}),
      ...(args.jwtAudience ? { audience: args.jwtAudience } : {}),
    },
    allowedOrigins: commaList(args.allowedOrigins),
    publicHosts: commaList(args.publicHost),
    maxFrameSize: args.maxFrameSize,
    sessionLimits: {
      maxSessions: args.maxSessions,
      maxSessionsPerSubject: args.maxSessionsPerSubject,
      maxPendingPerSubject: args.maxPendingPerSubject,
      maxSessionsPerInstance: args.maxSessionsPerInstance,
    },
    maxSmallMessages: args.maxSmallMessages,
    shutdownGraceSeconds: args.shutdownGrace,
    agentKeepAliveSeconds: args.agentKeepalive,
    agentStartTimeoutSeconds: args.agentStartTimeout,
    logLevel: args.logLevel,
    recordings: args.recordDir
      ? { dir: args.recordDir, recordInput: args.recordInput, maxBytes: args.recordMaxBytes, maxAgeSeconds: parseDuration('--record-max-age', args.recordMaxAge) }
      : null,
  };
}

const DURATION_UNITS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `15m`, `12h`, `30d` in seconds. */
export function parseDuration(name: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(value);
  if (!m) throw new ConfigError(`${name} must be a duration such as 3600, 90m, 12h or 30d, got ${JSON.stringify(value)}`);
  return Number(m[1]) * DURATION_UNITS[m[2]];
}

function commaList(value: string): string[] {
  return value.split(',').map((o) => o.trim()).filter(Boolean);
}
