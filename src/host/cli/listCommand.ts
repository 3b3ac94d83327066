import { listInstances } from '../client/instances.js';
import type { ListOptions, LocalStreams } from './CliOptions.js';
import { printListing } from './listing.js';

const COLUMNS = ['id', 'name', 'state', 'hypervisor'] as const;

/**
 * `hypeman-exec ls`: the instances the token may use (GET /instances), as a table like
 * `docker ps`, or with --json as the API's own JSON. Resolves with the exit status.
 */
export function runList(options: ListOptions, local: LocalStreams): Promise<number> {
  return printListing(options, local, () => listInstances({ apiUrl: options.apiUrl, token: options.token || undefined }), {
    header: COLUMNS.map((c) => c.toUpperCase()),
    row: (i) => COLUMNS.map((c) => i[c]),
  });
}
