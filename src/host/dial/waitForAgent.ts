import type { Duplex } from 'node:stream';
import type { AgentDialer } from './AgentDialer.js';
import { AgentDialError, AgentWaitTimeoutError, DialAbortedError } from './errors.js';

export interface WaitForAgentOptions {
  /** How long to keep trying; 0 means a single attempt. */
  timeoutSeconds: number;
  signal?: AbortSignal;
  /** First delay between attempts; doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Dials until the agent answers or the deadline passes, for VMs that are still booting
 * (the original's wait_for_agent). Only failures that can go away by waiting are retried:
 * the socket not there yet, nobody listening yet, no answer yet.
 */
export async function dialWithRetry(dialer: AgentDialer, options: WaitForAgentOptions): Promise<Duplex> {
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let delay = options.initialDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 1_000;
  for (;;) {
    try {
      return await dialer.dial(options.signal);
    } catch (err) {
      if (err instanceof DialAbortedError || !(err instanceof AgentDialError) || err.code === 'HANDSHAKE_PROTOCOL') throw err;
      if (options.timeoutSeconds <= 0) throw err;
      const left = deadline - Date.now();
      if (left <= 0) throw new AgentWaitTimeoutError(options.timeoutSeconds, err);
      await sleep(Math.min(delay, left), options.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DialAbortedError());
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new DialAbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
