// N sessions open at once: each starts `cat`, all are held until every one has started (or
// failed), then stdin is closed everywhere and each must exit 0.
import { type ExecSession, type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import { type LatencyStats, describeError, latencyStats } from '../stats.js';

export interface ConcurrencyResult {
  sessions: number;
  successes: number;
  failures: number;
  /** Failures by code, e.g. { CONNECTION_LOST: 2 }. */
  failureCodes: Record<string, number>;
  /** The first few failures in full ("CODE: message"). */
  failureSamples: string[];
  /** From the connect call to Started, of the sessions that started. */
  start: LatencyStats;
  /** From the first connect to the last exit. */
  wallMs: number;
}

export async function concurrentSessions(target: ExecTarget, n: number): Promise<ConcurrencyResult> {
  const failureCodes: Record<string, number> = {};
  const failureSamples: string[] = [];
  const fail = (err: unknown) => {
    const text = describeError(err);
    if (failureSamples.length < 3) failureSamples.push(text);
    const code = text.split(':')[0];
    failureCodes[code] = (failureCodes[code] ?? 0) + 1;
  };
  const startMs: number[] = [];
  const t0 = performance.now();
  const opened = await Promise.all(
    Array.from({ length: n }, async (): Promise<ExecSession | undefined> => {
      const began = performance.now();
      try {
        const s = await execInInstance(target, { argv: ['cat'] });
        s.stdout.resume();
        s.stderr.resume();
        s.exit.catch(() => undefined); // judged below, after every session has started
        await s.started;
        startMs.push(performance.now() - began);
        return s;
      } catch (err) {
        fail(err);
        return undefined;
      }
    }),
  );
  let successes = 0;
  await Promise.all(
    opened.map(async (s) => {
      if (!s) return;
      s.closeStdin();
      try {
        const status = await s.exit;
        if (status.code === 0) successes++;
        else fail({ code: `EXIT_${status.code}` });
      } catch (err) {
        fail(err);
      }
    }),
  );
  return { sessions: n, successes, failures: n - successes, failureCodes, failureSamples, start: latencyStats(startMs), wallMs: performance.now() - t0 };
}
