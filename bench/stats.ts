// Latency samples → percentiles (nearest rank), in milliseconds.
export interface LatencyStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
}

export function latencyStats(samples: number[]): LatencyStats {
  if (samples.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, mean: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return {
    n: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    max: sorted[sorted.length - 1],
  };
}

/** Decimal megabytes per second, the unit the targets are stated in. */
export function megabytesPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export interface Samples {
  /** Milliseconds of each run that succeeded. */
  ms: number[];
  /** What went wrong in the runs that failed ("CODE: message"). */
  failures: string[];
}

/** Runs `once` `warmup` times unmeasured, then `runs` times, timing each; failures are kept, not thrown. */
export async function sampleMs(runs: number, warmup: number, once: () => Promise<void>): Promise<Samples> {
  const result: Samples = { ms: [], failures: [] };
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    try {
      await once();
      if (i >= warmup) result.ms.push(performance.now() - t0);
    } catch (err) {
      if (i >= warmup) result.failures.push(describeError(err));
    }
  }
  return result;
}

export function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return `${String(e?.code ?? 'ERROR')}: ${String(e?.message ?? err)}`;
}
