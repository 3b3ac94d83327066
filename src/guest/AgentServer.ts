import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentLogger } from './AgentLog.js';
import { BufferReclaimer } from '../runtime/BufferReclaimer.js';
import { ContainerRoot } from './container/ContainerRoot.js';
import { type CopyRequestMessage, type ExecStartMessage, type ListSessionsMessage, encodeSessionList } from '../wire/index.js';
import { CopySession } from './copy/CopySession.js';
import { AgentConnection, refuseConnection } from './session/AgentConnection.js';
import { AgentSession, type SessionContext } from './session/AgentSession.js';
import { ANSWERED, type ConnectionOperation, type Operations } from './session/firstFrame.js';
import { HelperReportServer } from './command/HelperReports.js';
import { SessionLink } from './session/SessionLink.js';
import { SessionTable } from './session/SessionTable.js';

export interface AgentServerOptions {
  /** The container root commands run in (--root). */
  readonly root: string;
  readonly helperPath: string;
  readonly maxSessions: number;
  readonly defaultCwd: string;
  readonly configuredEnv: Readonly<Record<string, string>>;
  /** A connection without ExecStart after this long gets START_TIMEOUT (spec §9.10). */
  readonly startTimeoutMs: number;
  /** The longest linger a session gets (spec §10.2); 0: none lingers. */
  readonly maxLingerSeconds: number;
  /** Unacknowledged output kept per stream of a lingering session (spec §10.3). */
  readonly lingerBufferBytes: number;
  readonly log: AgentLogger;
}

/** Before SHUTTING_DOWN is sent, running sessions get this long to finish on their own. */
export const SHUTDOWN_GRACE_MS = 1_000;
/** After SHUTTING_DOWN: the hang-up grace (5 s) and a little more for reaping. */
const SHUTDOWN_REAP_MS = 7_000;

/**
 * Serves the connections handed to it by the listeners: each carries what its first frame
 * asks for (an exec session, a resume, a listing, a copy or stat). Sessions are independent
 * of each other and may outlive their connections (spec §10); connections waiting for their
 * first frame, sessions whose command runs and running copies count against the session
 * limit (§9.10, §12.12).
 */
export class AgentServer implements Operations {
  readonly #context: SessionContext;
  /** Opened on the first terminal session: only the exec helper reports over it. */
  #reports: Promise<HelperReportServer> | null = null;
  readonly #maxSessions: number;
  readonly #sessions: SessionTable;
  readonly #connections = new Set<AgentConnection>();
  /** Copy and stat operations until they have let go of every file (spec §12). */
  readonly #copies = new Set<CopySession>();
  /** Made on the first connection: its V8 hooks are not needed to start listening. */
  #reclaimer: BufferReclaimer | null = null;
  #stopping = false;

  private constructor(options: AgentServerOptions) {
    this.#maxSessions = options.maxSessions;
    this.#sessions = new SessionTable(options.maxSessions);
    this.#context = {
      root: new ContainerRoot(options.root),
      helperPath: options.helperPath,
      reports: () => (this.#reports ??= HelperReportServer.listen()),
      configuredEnv: options.configuredEnv,
      defaultCwd: options.defaultCwd,
      startTimeoutMs: options.startTimeoutMs,
      maxLingerSeconds: options.maxLingerSeconds,
      lingerBufferBytes: options.lingerBufferBytes,
      log: options.log,
    };
  }

  static start(options: AgentServerOptions): AgentServer {
    return new AgentServer(options);
  }

  /** Sessions whose command runs, attached or not. */
  get sessionCount(): number {
    return this.#sessions.live;
  }

  /** Takes ownership of a new connection. */
  accept(socket: Duplex): void {
    if (this.#stopping) return refuseConnection(socket, 'SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
    if (this.#slotsTaken() >= this.#maxSessions) {
      this.#context.log.warn({ limit: this.#maxSessions }, 'session limit reached; refusing a connection');
      return refuseConnection(socket, 'TOO_MANY_SESSIONS', `the agent already runs ${this.#maxSessions} sessions, its limit (--max-sessions); retry later`);
    }
    const connection = new AgentConnection(socket, this.#context.log, this, this.#context.startTimeoutMs);
    this.#connections.add(connection);
    const reclaimer = (this.#reclaimer ??= new BufferReclaimer());
    reclaimer.start();
    void connection.done.then(() => {
      this.#connections.delete(connection);
      this.#idle();
    });
  }

  /** Connections that carry nothing yet, and sessions whose command runs. */
  #slotsTaken(): number {
    let pending = 0;
    for (const c of this.#connections) if (c.pending) pending++;
    return pending + this.#sessions.live + this.#copies.size;
  }

  #idle(): void {
    if (this.#connections.size === 0 && this.#sessions.all.length === 0 && this.#copies.size === 0) this.#reclaimer?.stop();
  }

  // ---- what a connection's first frame asks for (Operations) ----

  exec(request: ExecStartMessage, connection: AgentConnection): ConnectionOperation {
    const link = new SessionLink(connection, { version: request.version });
    const session = new AgentSession(request, link, this.#context, this.#sessions);
    this.#sessions.add(session);
    void session.done.then(() => this.#idle());
    return link;
  }

  resume(request: ExecStartMessage, connection: AgentConnection): ConnectionOperation {
    const found = this.#sessions.find(request.resume!, request.owner ?? '');
    if (!(found instanceof AgentSession)) {
      connection.log.info({ code: found.code }, 'resume refused');
      connection.refuse(found.code, found.message);
      return ANSWERED;
    }
    const link = new SessionLink(connection, { version: request.version, resume: true });
    if (request.resume!.attach?.mode === 'observe') found.observe(link, request.resume!);
    else found.resume(link, request.resume!);
    return link;
  }

  list(request: ListSessionsMessage, connection: AgentConnection): ConnectionOperation {
    connection.finish(encodeSessionList(this.#sessions.list(request.owner)));
    return ANSWERED;
  }

  copy(request: CopyRequestMessage, connection: AgentConnection): ConnectionOperation {
    const copy = new CopySession(connection, this.#context);
    this.#copies.add(copy);
    void copy.done.then(() => {
      this.#copies.delete(copy);
      this.#idle();
    });
    copy.begin(request);
    return copy;
  }

  /**
   * Stops serving: sessions still running after a short grace get Error SHUTTING_DOWN and
   * their commands are hung up (SIGHUP, SIGKILL 5 s later), detached ones too; resolves once
   * all are reaped.
   */
  async shutdown(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    this.#stopping = true;
    const everything = () =>
      Promise.all([...this.#sessions.all.map((s) => s.done), ...[...this.#connections].map((c) => c.done), ...[...this.#copies].map((c) => c.done)]);
    await Promise.race([everything(), delay(graceMs)]);
    for (const session of this.#sessions.all) session.shutdown();
    for (const copy of this.#copies) copy.shutdown();
    for (const connection of this.#connections) connection.shutdown();
    // Commands are reaped within the hang-up grace; a client that keeps its connection
    // open after the Error does not hold the agent up (the kernel still delivers it).
    await Promise.race([everything(), delay(SHUTDOWN_REAP_MS)]);
    await (await this.#reports?.catch(() => null))?.close();
  }
}

/** A delay that does not keep the process alive by itself. */
function delay(ms: number): Promise<void> {
  return sleep(ms, undefined, { ref: false });
}
