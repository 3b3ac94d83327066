import type { Logger } from 'pino';
import type { ExecRequest } from '../../../wire/index.js';
import type { ExecMetrics, SessionResult } from '../ExecMetrics.js';
import type { DialectName } from './ClientDialect.js';
import type { RecordingSummary } from '../recording/SessionRecording.js';

/** Who runs what where: the audit line's fixed part. */
export interface SessionParties {
  subject: string;
  instance: string;
  remoteAddress: string;
  dialect: DialectName;
}

export interface SessionOutcome {
  exitCode?: number;
  signal?: number;
  error?: string;
  reason?: string;
}

/**
 * What one exec session did, for the metrics and the audit log (who ran what, how it ended,
 * how long, how many bytes): counted while it runs, written once when it ends.
 */
export class SessionRecord {
  stdinBytes = 0;
  stdoutBytes = 0;
  stderrBytes = 0;
  /** The command's pid in the guest, from Started (or Resumed). */
  pid = 0;
  /** The session's id (hex), from Started or Resumed. */
  sessionId: string | undefined;
  /** The request; null for a resume (spec §10.6), which carries none. */
  request: ExecRequest | null = null;
  /** The session a resume attaches to. */
  #resumed: string | undefined;
  readonly #started = process.hrtime.bigint();
  readonly #metrics: ExecMetrics;
  readonly #audit: Logger;
  readonly #parties: SessionParties;
  #ended = false;

  constructor(metrics: ExecMetrics, audit: Logger, parties: SessionParties) {
    this.#metrics = metrics;
    this.#audit = audit;
    this.#parties = parties;
    metrics.active.inc();
  }

  /** Started or Resumed: the command's pid and the session's id. */
  started(pid: number, sessionId: Uint8Array): void {
    this.pid = pid;
    this.sessionId = Buffer.from(sessionId).toString('hex');
  }

  /** A resume (spec §10.6): who attaches to which session, how (§10.11: resume, write, take-over, observe), audited at once. */
  attach(sessionId: string, mode: string): void {
    this.#resumed = sessionId;
    const parties = this.#parties;
    this.#audit.info(
      { audit: 'attach', subject: parties.subject, instance: parties.instance, session: sessionId, mode, remote: parties.remoteAddress, dialect: parties.dialect },
      'exec session attach',
    );
  }

  /**
   * The session ended: counted now; audited now, or, when it was recorded, once the
   * recording's events are written, so that the line's byte count and sha256 are the file's.
   */
  end(result: SessionResult, outcome: SessionOutcome, recording?: Promise<RecordingSummary>): void {
    if (this.#ended) return;
    this.#ended = true;
    const seconds = Number(process.hrtime.bigint() - this.#started) / 1e9;
    const metrics = this.#metrics;
    metrics.active.dec();
    metrics.sessions.inc({ result });
    metrics.duration.observe(seconds);
    metrics.bytes.inc({ stream: 'stdin' }, this.stdinBytes);
    metrics.bytes.inc({ stream: 'stdout' }, this.stdoutBytes);
    metrics.bytes.inc({ stream: 'stderr' }, this.stderrBytes);
    if (recording) {
      recording.then(
        (summary) => this.#auditEnd(result, outcome, seconds, summary),
        (err: Error) => this.#auditEnd(result, outcome, seconds, { error: `the recording failed: ${err.message}` }),
      );
    } else this.#auditEnd(result, outcome, seconds);
  }

  #auditEnd(result: SessionResult, outcome: SessionOutcome, seconds: number, recording?: Partial<RecordingSummary>): void {
    const { request } = this;
    const parties = this.#parties;
    this.#audit.info(
      {
        audit: 'exec',
        subject: parties.subject,
        instance: parties.instance,
        argv: request ? (request.argv.length ? request.argv : ['/bin/sh']) : undefined,
        tty: request?.tty,
        session: this.sessionId ?? this.#resumed,
        resumed: this.#resumed !== undefined || undefined,
        remote: parties.remoteAddress,
        dialect: parties.dialect,
        pid: this.pid || undefined,
        result,
        ...outcome,
        durationMs: Math.round(seconds * 1000),
        bytesIn: this.stdinBytes,
        bytesOut: this.stdoutBytes + this.stderrBytes,
        recording,
      },
      'exec session ended',
    );
  }
}
