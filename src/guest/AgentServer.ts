import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentLogger } from './AgentLog.js';
import { BufferReclaimer } from '../runtime/BufferReclaimer.js';
import { ContainerRoot } from './container/ContainerRoot.js';
import { refuseConnection, type SessionContext } from './session/AgentSession.js';
import { type AgentConnection, ConnectionDispatch } from './session/ConnectionDispatch.js';
import { HelperReportServer } from './command/HelperReports.js';

export interface AgentServerOptions {
  /** The container root commands run in (--root). */
  readonly root: string;
  readonly helperPath: string;
  readonly maxSessions: number;
  readonly defaultCwd: string;
  readonly configuredEnv: Readonly<Record<string, string>>;
  /** A connection without ExecStart after this long gets START_TIMEOUT (spec §9.10). */
  readonly startTimeoutMs: number;
  readonly log: AgentLogger;
}

/** Before SHUTTING_DOWN is sent, running sessions get this long to finish on their own. */
export const SHUTDOWN_GRACE_MS = 1_000;
/** After SHUTTING_DOWN: the hang-up grace (5 s) and a little more for reaping. */
const SHUTDOWN_REAP_MS = 7_000;

/**
 * Serves exec sessions on connections handed to it by the listeners: one AgentSession per
 * connection, independent of each other, up to the session limit (spec §9.10).
 */
export class AgentServer {
  readonly #context: SessionContext;
  /** Opened on the first terminal session: only the exec helper reports over it. */
  #reports: Promise<HelperReportServer> | null = null;
  readonly #maxSessions: number;
  readonly #sessions = new Set<AgentConnection>();
  /** Made on the first session: its V8 hooks are not needed to start listening. */
  #reclaimer: BufferReclaimer | null = null;
  #stopping = false;

  private constructor(options: AgentServerOptions) {
    this.#maxSessions = options.maxSessions;
    this.#context = {
      root: new ContainerRoot(options.root),
      helperPath: options.helperPath,
      reports: () => (this.#reports ??= HelperReportServer.listen()),
      configuredEnv: options.configuredEnv,
      defaultCwd: options.defaultCwd,
      startTimeoutMs: options.startTimeoutMs,
      log: options.log,
    };
  }

  static start(options: AgentServerOptions): AgentServer {
    return new AgentServer(options);
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Takes ownership of a new connection. */
  accept(socket: Duplex): void {
    if (this.#stopping) return refuseConnection(socket, 'SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
    if (this.#sessions.size >= this.#maxSessions) {
      this.#context.log.warn({ limit: this.#maxSessions }, 'session limit reached; refusing a connection');
      return refuseConnection(socket, 'TOO_MANY_SESSIONS', `the agent already runs ${this.#maxSessions} sessions, its limit (--max-sessions); retry later`);
    }
    // An exec session or a copy operation, as its first frame says (ConnectionDispatch).
    const session = new ConnectionDispatch(socket, this.#context);
    this.#sessions.add(session);
    const reclaimer = (this.#reclaimer ??= new BufferReclaimer());
    reclaimer.start();
    void session.done.then(() => {
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) reclaimer.stop();
    });
  }

  /**
   * Stops serving: sessions still running after a short grace get Error SHUTTING_DOWN and
   * their commands are hung up (SIGHUP, SIGKILL 5 s later); resolves once all are reaped.
   */
  async shutdown(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    this.#stopping = true;
    const all = Promise.all([...this.#sessions].map((s) => s.done));
    await Promise.race([all, delay(graceMs)]);
    for (const session of this.#sessions) session.shutdown();
    // Commands are reaped within the hang-up grace; a client that keeps its connection
    // open after the Error does not hold the agent up (the kernel still delivers it).
    await Promise.race([Promise.all([...this.#sessions].map((s) => s.done)), delay(SHUTDOWN_REAP_MS)]);
    await (await this.#reports?.catch(() => null))?.close();
  }
}

/** A delay that does not keep the process alive by itself. */
function delay(ms: number): Promise<void> {
  return sleep(ms, undefined, { ref: false });
}
