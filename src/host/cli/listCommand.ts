import { listInstances } from '../client/instances.js';
import type { ListOptions, LocalStreams } from './CliOptions.js';
import { CliExit } from './CliExit.js';
import { describeFailure } from './describeFailure.js';

const COLUMNS = ['id', 'name', 'state', 'hypervisor'] as const;

/**
 * `hypeman-exec ls`: the instances the token may use (GET /instances), as a table like
 * `docker ps`, or with --json as the API's own JSON. Resolves with the exit status.
 */
export async function runList(options: ListOptions, local: LocalStreams): Promise<number> {
  let instances;
  try {
    instances = await listInstances({ apiUrl: options.apiUrl, token: options.token || undefined });
  } catch (err) {
    local.stderr.write(`hypeman-exec: ${await describeFailure(err, options)}\n`);
    return CliExit.FAILURE;
  }
  if (options.json) {
    local.stdout.write(`${JSON.stringify(instances, null, 2)}\n`);
    return 0;
  }
  const rows = [COLUMNS.map((c) => c.toUpperCase()), ...instances.map((i) => COLUMNS.map((c) => i[c]))];
  const widths = COLUMNS.map((_, k) => Math.max(...rows.map((row) => row[k].length)));
  local.stdout.write(rows.map((row) => row.map((cell, k) => (k === row.length - 1 ? cell : cell.padEnd(widths[k] + 3))).join('')).join('\n') + '\n');
  return 0;
}
