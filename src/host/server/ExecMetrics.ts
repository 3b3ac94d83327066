import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How a session ended, as counted in `hypeman_exec_sessions_total{result}`. */
export type SessionResult = 'exited' | 'signaled' | 'timed_out' | 'error' | 'client_closed' | 'rejected';

/** The server's Prometheus metrics, in a registry of their own (GET /metrics). */
export class ExecMetrics {
  readonly registry = new Registry();
  readonly active: Gauge;
  readonly sessions: Counter<'result'>;
  readonly bytes: Counter<'stream'>;
  readonly duration: Histogram;
  readonly copies: Counter<'operation' | 'result'>;
  readonly copyBytes: Counter<'direction'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hypeman_exec_server_' });
    this.active = new Gauge({ name: 'hypeman_exec_sessions_active', help: 'Exec sessions in progress', registers: [this.registry] });
    this.sessions = new Counter({
      name: 'hypeman_exec_sessions_total',
      help: 'Exec sessions ended, by result',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.bytes = new Counter({
      name: 'hypeman_exec_bytes_total',
      help: 'Payload bytes relayed, by stream',
      labelNames: ['stream'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'hypeman_exec_session_duration_seconds',
      help: 'Duration of exec sessions',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers: [this.registry],
    });
    this.copies = new Counter({
      name: 'hypeman_copy_operations_total',
      help: 'Copy and stat operations ended (spec §12), by operation and result',
      labelNames: ['operation', 'result'],
      registers: [this.registry],
    });
    this.copyBytes = new Counter({
      name: 'hypeman_copy_bytes_total',
      help: 'File bytes copied, by direction (to or from the instance)',
      labelNames: ['direction'],
      registers: [this.registry],
    });
  }
}
