import type { ApiOptions, LocalStreams } from './CliOptions.js';
import { CliExit } from './CliExit.js';
import { type FailureContext, describeFailure } from './describeFailure.js';

/**
 * What `ls` and `ps` share: fetch a list from the API, print it as a table (columns padded
 * to their widest cell, like docker ps) or, with --json, as the API's own JSON; a failure
 * is one line on stderr and 255. Resolves with the exit status.
 */
export async function printListing<T>(
  options: ApiOptions & FailureContext & { json: boolean },
  local: LocalStreams,
  fetch: () => Promise<T[]>,
  table: { header: string[]; row: (item: T) => string[] },
): Promise<number> {
  let items: T[];
  try {
    items = await fetch();
  } catch (err) {
    local.stderr.write(`hypeman-exec: ${await describeFailure(err, options)}\n`);
    return CliExit.FAILURE;
  }
  if (options.json) {
    local.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
    return 0;
  }
  const rows = [table.header, ...items.map(table.row)];
  const widths = table.header.map((_, k) => Math.max(...rows.map((row) => row[k].length)));
  // No trailing blanks: the last column is not padded, and an empty last cell (ps's "tty")
  // leaves none after the cell before it.
  const line = (row: string[]) => row.map((cell, k) => (k === row.length - 1 ? cell : cell.padEnd(widths[k] + 3))).join('').trimEnd();
  local.stdout.write(rows.map(line).join('\n') + '\n');
  return 0;
}
