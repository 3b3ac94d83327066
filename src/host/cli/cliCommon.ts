import type { Argv } from 'yargs';
import { CodedError } from '../../wire/index.js';

// What every command of the CLI shares (hypeman-exec, ls, cp): kept apart so that each
// command's parser can import it without importing the others.

/** Where the CLI reaches the API server, with what. */
export interface ApiOptions {
  apiUrl: string;
  token: string;
}

/** Where npm start listens; an IP, not localhost, so that no name is looked up and no IPv6 ::1 tried first. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';
/** Where tokens come from, for --help and the messages that ask for one. */
export const TOKEN_SOURCES = 'hypeman-exec-server token --sub NAME on the server\'s host, or .hypeman/dev-token in the checkout with npm start';

/** A usage error: printed with a hint at --help, exit status 255. */
export class UsageError extends CodedError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** What to print and exit with instead of running anything (--help, --version). */
export interface Answer {
  exit: number;
  output: string;
}

/**
 * What every command's parser shares, added after its own options: --api-url and --token
 * (their defaults from the environment are applied after parsing, so --help never prints a
 * token), --version/-V, --help/-h, the width, strict options, and yargs's failures thrown as
 * `usageError(message)` instead of ending the process.
 */
export function withCommonOptions(parser: Argv, version: string, usageError: (message: string) => Error): Argv {
  return parser
    .option('api-url', { type: 'string', requiresArg: true, description: `API server URL (env HYPEMAN_API_URL; default ${DEFAULT_API_URL})` })
    .option('token', { type: 'string', requiresArg: true, description: 'JWT bearer token (env HYPEMAN_TOKEN)' })
    .version(version)
    .alias('version', 'V')
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs-parser reports an option without its value as an Error of its own.
      if (err && !/^Not enough arguments following/.test(err.message)) throw err;
      throw usageError(err?.message ?? msg);
    });
}
