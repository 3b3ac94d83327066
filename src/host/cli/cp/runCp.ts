import { copyFromInstance, copyToInstance } from '../../client/copy/copyInstance.js';
import type { CopyProgress } from '../../client/copy/CopyStreams.js';
import { TarSink } from '../../client/copy/tar/TarSink.js';
import { TarSource } from '../../client/copy/tar/TarSource.js';
import type { ApiTarget } from '../../client/execThroughApi.js';
import type { LocalStreams } from '../CliOptions.js';
import { describeFailure } from '../describeFailure.js';
import type { CpOptions } from './CpOptions.js';
import { CpExit } from './cpExit.js';
import { RemoteCopyError } from '../../client/errors.js';
import { ProgressBar } from './ProgressBar.js';

/**
 * `hypeman-exec cp SRC DST` through the API server: resolves with the exit status, 0 once
 * everything was copied, 1 with one line on stderr when anything failed. Ctrl-C or SIGTERM
 * stop the copy cleanly (no partial file is left under a final name, here or there).
 */
export async function runCp(options: CpOptions, local: LocalStreams): Promise<number> {
  const { source, destination } = options;
  const remote = source.kind === 'instance' ? source : destination.kind === 'instance' ? destination : null;
  if (remote === null || remote.kind !== 'instance') return CpExit.FAILED; // parseCpOptions guarantees one
  const target: ApiTarget = { apiUrl: options.apiUrl, instance: remote.instance, token: options.token || undefined };
  const bar = !options.quiet && local.stderr.isTTY ? new ProgressBar(local.stderr) : null;
  const onProgress = bar ? (p: CopyProgress) => bar.update(p) : undefined;
  const abort = new AbortController();
  let signalled: NodeJS.Signals | null = null;
  const stop = (signal: NodeJS.Signals) => {
    signalled = signal;
    abort.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const common = { waitForAgentSeconds: options.waitForAgentSeconds, signal: abort.signal, onProgress };
    if (source.kind === 'instance') {
      await copyFromInstance(target, {
        ...common,
        source: source.path,
        destination: destination.kind === 'stream' ? new TarSink(local.stdout, source.path) : (destination as { path: string }).path,
        followLinks: options.followLinks,
        archive: options.archive,
        // Totals cost one more walk in the guest: only for a bar.
        totals: bar !== null,
      });
    } else {
      await copyToInstance(target, {
        ...common,
        source: source.kind === 'stream' ? new TarSource(local.stdin) : source.path,
        destination: remote.path,
        archive: options.archive,
        followLinks: options.followLinks,
      });
    }
    bar?.done();
    return CpExit.OK;
  } catch (error) {
    bar?.done();
    if (signalled !== null) {
      local.stderr.write(`hypeman-exec: cp interrupted (${signalled}); nothing was left half-written\n`);
      return signalled === 'SIGINT' ? CpExit.INTERRUPTED : CpExit.TERMINATED;
    }
    // The agent names paths as the container sees them: say which instance's they are.
    const where = error instanceof RemoteCopyError ? `in instance ${remote.instance}: ` : '';
    local.stderr.write(`hypeman-exec: ${where}${await describeFailure(error, { apiUrl: options.apiUrl, token: options.token, instance: remote.instance })}\n`);
    return CpExit.FAILED;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
