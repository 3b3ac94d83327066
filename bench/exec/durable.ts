// Durable sessions (issue 14): what resumability costs a stream, and how long output stops
// when the connection is cut.
import { once } from 'node:events';
import { type ExecTarget, type ResumedEvent, execInInstance } from '../../src/host/client/index.js';
import { CuttingProxy } from '../../test/net/CuttingProxy.js';
import type { NodeProcess } from '../NodeProcess.js';
import { type Samples, describeError, megabytesPerSecond } from '../stats.js';
import { stdinMs, stdoutMs } from './throughput.js';

/** The linger the measured sessions ask for: as the CLI does by default. */
const LINGER_SECONDS = 30;

export interface CostPairs {
  /** Median MB/s without and with resumability. */
  plain: number;
  lingering: number;
  /** Each pair's lingering ÷ plain, in the order run. */
  ratios: number[];
  /** Median CPU milliseconds per GiB, this process and the components together, without and with. */
  plainCpuMsPerGiB: number;
  lingeringCpuMsPerGiB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
}

/**
 * `pairs` runs of the same stream without and with a linger, alternating (which goes
 * first alternates too), so that the machine's load weighs on both alike.
 */
export async function resumabilityCost(target: ExecTarget, direction: 'stdout' | 'stdin', bytes: number, pairs: number, components: NodeProcess[]): Promise<CostPairs> {
  const run = direction === 'stdout' ? stdoutMs : stdinMs;
  const cpuMs = () => {
    const own = process.cpuUsage();
    return components.reduce((sum, c) => sum + c.cpuMs(), 0) + (own.user + own.system) / 1000;
  };
  const plain: number[] = [];
  const lingering: number[] = [];
  const plainCpu: number[] = [];
  const lingeringCpu: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? [0, LINGER_SECONDS] : [LINGER_SECONDS, 0];
    for (const lingerSeconds of order) {
      const cpu0 = cpuMs();
      const mbps = megabytesPerSecond(bytes, await run(target, bytes, { lingerSeconds }));
      (lingerSeconds ? lingeringCpu : plainCpu).push(((cpuMs() - cpu0) * 2 ** 30) / bytes);
      (lingerSeconds ? lingering : plain).push(mbps);
    }
  }
  return {
    plain: median(plain),
    lingering: median(lingering),
    ratios: plain.map((p, i) => lingering[i] / p),
    plainCpuMsPerGiB: median(plainCpu),
    lingeringCpuMsPerGiB: median(lingeringCpu),
  };
}

/**
 * Milliseconds from cutting a session's connection (a TCP proxy in front of the API server
 * resets it) to its output arriving again: the library notices, reconnects, resumes, and
 * the agent sends what it held. The command writes a line every 10 ms.
 */
export async function reconnectMs(apiPort: number, target: Omit<Extract<ExecTarget, { apiUrl: string }>, 'apiUrl'>, cuts: number): Promise<Samples> {
  const proxy = await CuttingProxy.start(apiPort);
  const result: Samples = { ms: [], failures: [] };
  try {
    const s = await execInInstance({ ...target, apiUrl: proxy.url }, { argv: ['sh', '-c', 'while :; do echo tick; sleep 0.01; done'], lingerSeconds: LINGER_SECONDS });
    s.stderr.resume();
    s.stdout.resume();
    await once(s.stdout, 'data');
    for (let i = 0; i < cuts; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const t0 = performance.now();
      try {
        const resumed = once(s, 'resumed') as Promise<[ResumedEvent]>;
        proxy.cut('reset');
        await resumed;
        await once(s.stdout, 'data');
        result.ms.push(performance.now() - t0);
      } catch (err) {
        result.failures.push(describeError(err));
      }
    }
    s.close();
    await s.exit.catch(() => undefined);
  } finally {
    await proxy.close();
  }
  return result;
}
