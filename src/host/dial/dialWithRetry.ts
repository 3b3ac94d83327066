import type { Duplex } from 'node:stream';
import type { AgentDialer } from './AgentDialer.js';
import { AgentDialError, AgentWaitTimeoutError, DialAbortedError } from './errors.js';

export interface DialWithRetryOptions {
  /** How long to keep trying; 0 means a single attempt. */
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** First delay between attempts; doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Dials until the agent answers or the deadline passes, for VMs that are still booting
 * (the original's wait_for_agent). Only failures that waiting can cure are retried
 * (`AgentDialError.retryable`: the socket not there yet, nobody listening yet, no answer
 * yet). The deadline also cuts short an attempt in progress, so a long handshake timeout
 * never stretches the wait. Rejects with AGENT_WAIT_TIMEOUT (the last failure as `cause`),
 * DIAL_ABORTED when `signal` aborts, or the first failure that is not retryable.
 */
export async function dialWithRetry(dialer: AgentDialer, options: DialWithRetryOptions): Promise<Duplex> {
  const { timeoutSeconds, signal } = options;
  if (signal?.aborted) throw new DialAbortedError();
  if (!(timeoutSeconds > 0)) return dialer.dial(signal);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutSeconds * 1000);
  const attemptSignal = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  let delay = options.initialDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 1_000;
  let last: AgentDialError | undefined;
  try {
    for (;;) {
      try {
        return await dialer.dial(attemptSignal);
      } catch (err) {
        const cutShort = err instanceof DialAbortedError;
        if (!cutShort && (!(err instanceof AgentDialError) || !err.retryable)) throw err;
        if (!cutShort) last = err as AgentDialError;
        if (signal?.aborted) throw new DialAbortedError();
        if (deadline.signal.aborted) throw new AgentWaitTimeoutError(timeoutSeconds, last);
        if (cutShort) throw err;
      }
      await sleep(delay, attemptSignal).catch(() => {
        throw signal?.aborted ? new DialAbortedError() : new AgentWaitTimeoutError(timeoutSeconds, last);
      });
      delay = Math.min(delay * 2, maxDelay);
    }
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
