import { packageVersion } from '../version.js';
import { type LocalStreams, parseCliOptions } from './CliOptions.js';
import { CliExit } from './CliExit.js';
import { CpUsageError } from './cp/CpOptions.js';
import { CpExit } from './cp/cpExit.js';

export interface CliHooks {
  /** Called once a session has ended (not after --help, --version or a usage error). */
  afterSession?: () => void;
}

/**
 * The whole CLI short of exiting: parses `argv`, prints help or the version, lists the
 * instances, or runs the session. Resolves with the exit status.
 */
export async function runCli(argv: string[], local: LocalStreams = process, hooks: CliHooks = {}): Promise<number> {
  let parsed;
  try {
    parsed = await parseCliOptions(argv, process.env, { stdinIsTTY: !!local.stdin.isTTY, stdoutIsTTY: !!local.stdout.isTTY }, packageVersion());
  } catch (err) {
    if (err instanceof CpUsageError) {
      local.stderr.write(`hypeman-exec: ${err.message} (see hypeman-exec cp --help)\n`);
      return CpExit.FAILED;
    }
    local.stderr.write(`hypeman-exec: ${(err as Error).message} (see hypeman-exec --help)\n`);
    return CliExit.FAILURE;
  }
  if ('exit' in parsed) {
    local.stdout.write(`${parsed.output}\n`);
    return parsed.exit;
  }
  if ('list' in parsed) {
    const { runList } = await import('./listCommand.js');
    return runList(parsed, local);
  }
  if ('cp' in parsed) {
    const { runCp } = await import('./cp/runCp.js');
    return runCp(parsed, local);
  }
  if ('ps' in parsed) {
    const { runPs } = await import('./psCommand.js');
    return runPs(parsed, local);
  }
  if ('warning' in parsed && parsed.warning !== undefined) local.stderr.write(`hypeman-exec: ${parsed.warning}\n`);
  // Loaded only for a session, so --help and --version do not pay for the client and ws.
  const { runCliSession } = await import('./CliSession.js');
  const status = await runCliSession(parsed, local);
  hooks.afterSession?.();
  return status;
}
