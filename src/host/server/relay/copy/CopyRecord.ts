import type { Logger } from 'pino';
import type { CopyOperation } from '../../../../wire/index.js';
import type { ExecMetrics } from '../../ExecMetrics.js';
import type { SessionParties } from '../SessionRecord.js';

/** How a copy operation ended, as its audit line and metrics say. */
export type CopyResultName = 'ok' | 'error' | 'client_closed';

/**
 * What one copy or stat operation did, for the audit log (one line per operation: who,
 * which direction, which path, how many files and bytes, the result) and the metrics:
 * counted while it runs, written once when it ends.
 */
export class CopyRecord {
  operation: CopyOperation | null = null;
  path = '';
  entries = 0;
  bytes = 0;
  readonly #started = process.hrtime.bigint();
  readonly #metrics: ExecMetrics;
  readonly #audit: Logger;
  readonly #parties: SessionParties;
  #ended = false;

  constructor(metrics: ExecMetrics, audit: Logger, parties: SessionParties) {
    this.#metrics = metrics;
    this.#audit = audit;
    this.#parties = parties;
  }

  end(result: CopyResultName, outcome: { error?: string; reason?: string } = {}): void {
    if (this.#ended) return;
    this.#ended = true;
    const seconds = Number(process.hrtime.bigint() - this.#started) / 1e9;
    const operation = this.operation ?? 'none';
    const direction = this.operation === 'copy-to' ? 'to' : this.operation === 'copy-from' ? 'from' : undefined;
    this.#metrics.copies.inc({ operation, result });
    if (direction) this.#metrics.copyBytes.inc({ direction }, this.bytes);
    const parties = this.#parties;
    this.#audit.info(
      {
        audit: this.operation === 'stat' ? 'stat' : 'copy',
        subject: parties.subject,
        instance: parties.instance,
        direction,
        path: this.path || undefined,
        files: this.operation === 'stat' ? undefined : this.entries,
        bytes: this.operation === 'stat' ? undefined : this.bytes,
        result,
        ...outcome,
        remote: parties.remoteAddress,
        dialect: parties.dialect,
        durationMs: Math.round(seconds * 1000),
      },
      this.operation === 'stat' ? 'stat ended' : 'copy ended',
    );
  }
}
