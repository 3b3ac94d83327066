import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/** Log bytes held while stderr does not drain (a slow serial console); more are dropped. */
const LOG_BUFFER_LIMIT = 1024 * 1024;
/** How long the agent waits at exit for its last log lines to be written. */
const LOG_FLUSH_MS = 1_000;

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
const LEVEL_VALUES: Record<string, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity };

type LogMethod = (objectOrMessage: object | string, message?: string) => void;

/** The part of pino's Logger the agent uses (pino's own Logger is one). */
export interface AgentLogger {
  child(bindings: Record<string, unknown>): AgentLogger;
  fatal: LogMethod;
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
}

export interface AgentLog {
  readonly log: AgentLogger;
  /** Loads pino and writes what was logged until then; the agent calls it once it listens. */
  load(): Promise<void>;
  /** Flushes for at most a second, then lets go of stderr. Call once, before exiting. */
  close(): Promise<void>;
}

/** What the loggers of one AgentLog share: pino once loaded, the records logged before. */
interface LogState {
  readonly threshold: number;
  pino: Logger | null;
  queue: Array<{ logger: DeferredLogger; level: Level; args: [object | string, string?]; time: number }>;
  /** The time a queued record is written with (it was logged then), else null: now. */
  replayTime: number | null;
}

/**
 * A logger usable from the agent's first line, backed by pino once loaded: records logged
 * before are kept (above the level) and written then, with the time they were logged.
 */
class DeferredLogger implements AgentLogger {
  readonly #parent: DeferredLogger | null;
  readonly #bindings: Record<string, unknown>;
  readonly #state: LogState;
  #real: Logger | null = null;

  constructor(parent: DeferredLogger | null, bindings: Record<string, unknown>, state: LogState) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#state = state;
  }

  child(bindings: Record<string, unknown>): AgentLogger {
    return new DeferredLogger(this, bindings, this.#state);
  }

  fatal: LogMethod = (o, m) => this.write('fatal', [o, m]);
  error: LogMethod = (o, m) => this.write('error', [o, m]);
  warn: LogMethod = (o, m) => this.write('warn', [o, m]);
  info: LogMethod = (o, m) => this.write('info', [o, m]);
  debug: LogMethod = (o, m) => this.write('debug', [o, m]);

  write(level: Level, args: [object | string, string?]): void {
    const real = this.#pino();
    if (real !== null) {
      const log = real[level] as (...a: unknown[]) => void;
      if (args[1] === undefined) log.call(real, args[0]);
      else log.call(real, args[0], args[1]);
    } else if (LEVEL_VALUES[level] >= this.#state.threshold) {
      this.#state.queue.push({ logger: this, level, args, time: Date.now() });
    }
  }

  #pino(): Logger | null {
    if (this.#real !== null || this.#state.pino === null) return this.#real;
    this.#real = this.#parent === null ? this.#state.pino : this.#parent.#pino()!.child(this.#bindings);
    return this.#real;
  }
}

/**
 * pino JSON lines on stderr, written asynchronously. In the guest stderr is the serial
 * console, which can be slower than the agent logs, or stop draining altogether: the
 * buffer is bounded (lines beyond it are dropped, not held), and at exit the agent does
 * not wait on it for ever — pino's own exit hook would retry a full stderr forever.
 *
 * pino itself (about half of the bundle, 5-6 ms of CPU at start) is loaded by load(), which
 * the agent calls once it listens: a VM's agent is reachable that much sooner.
 */
export function createAgentLog(level: string): AgentLog {
  const state: LogState = { threshold: LEVEL_VALUES[level] ?? LEVEL_VALUES.info, pino: null, queue: [], replayTime: null };
  const log = new DeferredLogger(null, {}, state);
  let destination: { destroy(): void } | null = null;
  let loading: Promise<void> | null = null;
  const load = () =>
    (loading ??= import('pino').then(({ pino }) => {
      const stream = pino.destination({ fd: 2, sync: false, maxLength: LOG_BUFFER_LIMIT });
      destination = stream;
      // pino's own timestamp, but a queued record keeps the time it was logged at.
      const timestamp = () => `,"time":${state.replayTime ?? Date.now()}`;
      state.pino = pino({ name: 'hypeman-exec-agent', level, timestamp }, stream);
      for (const record of state.queue.splice(0)) {
        state.replayTime = record.time;
        record.logger.write(record.level, record.args);
      }
      state.replayTime = null;
    }));
  return {
    log,
    load,
    async close() {
      await load();
      const flushed = new Promise<void>((resolve) => state.pino!.flush(() => resolve()));
      await Promise.race([flushed, sleep(LOG_FLUSH_MS, undefined, { ref: false })]);
      // Destroyed, the destination is skipped by pino's exit hook (its flushSync loop).
      destination?.destroy();
    },
  };
}
