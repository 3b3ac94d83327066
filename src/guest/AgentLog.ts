import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';

/** Log bytes held while stderr does not drain (a slow serial console); more are dropped. */
const LOG_BUFFER_LIMIT = 1024 * 1024;
/** How long the agent waits at exit for its last log lines to be written. */
const LOG_FLUSH_MS = 1_000;

export interface AgentLog {
  readonly log: Logger;
  /** Flushes for at most a second, then lets go of stderr. Call once, before exiting. */
  close(): Promise<void>;
}

/**
 * pino JSON lines on stderr, written asynchronously. In the guest stderr is the serial
 * console, which can be slower than the agent logs, or stop draining altogether: the
 * buffer is bounded (lines beyond it are dropped, not held), and at exit the agent does
 * not wait on it for ever — pino's own exit hook would retry a full stderr forever.
 */
export function createAgentLog(level: string): AgentLog {
  const destination = pino.destination({ fd: 2, sync: false, maxLength: LOG_BUFFER_LIMIT });
  const log = pino({ name: 'hypeman-exec-agent', level }, destination);
  return {
    log,
    async close() {
      const flushed = new Promise<void>((resolve) => log.flush(() => resolve()));
      await Promise.race([flushed, sleep(LOG_FLUSH_MS, undefined, { ref: false })]);
      // Destroyed, the destination is skipped by pino's exit hook (its flushSync loop).
      destination.destroy();
    },
  };
}
