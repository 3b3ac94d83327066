import type { ErrorCodeName, ResumeRequest, SessionSummary } from '../../wire/index.js';
import type { AgentSession, SessionEvents } from './AgentSession.js';

/**
 * The agent's sessions (spec §10): every one while its command runs (they hold the agent's
 * session slots), and by id those that can be listed and resumed. Sessions that ended but
 * are kept for a resume hold no slot; at most `maxEnded` are kept, the oldest forgotten
 * first, so that many short sessions cannot grow the agent.
 */
export class SessionTable implements SessionEvents {
  readonly #all = new Set<AgentSession>();
  readonly #byId = new Map<string, AgentSession>();
  readonly #maxEnded: number;

  constructor(maxEnded: number) {
    this.#maxEnded = maxEnded;
  }

  /** Sessions whose command has not ended. */
  get live(): number {
    let n = 0;
    for (const s of this.#all) if (s.live) n++;
    return n;
  }

  get all(): readonly AgentSession[] {
    return [...this.#all];
  }

  add(session: AgentSession): void {
    this.#all.add(session);
    void session.done.then(() => this.#all.delete(session));
  }

  registered(session: AgentSession): void {
    this.#byId.set(session.idHex, session);
    this.#boundEnded();
  }

  forgotten(session: AgentSession): void {
    this.#byId.delete(session.idHex);
  }

  /** The sessions of `owner` (all when empty), as ListSessions answers (§10.8). */
  list(owner: string): SessionSummary[] {
    return [...this.#byId.values()].filter((s) => owner === '' || s.owner === owner).map((s) => s.summary());
  }

  /** The session a resume names, or why there is none to resume (§10.6). */
  find(resume: ResumeRequest, owner: string): AgentSession | { code: ErrorCodeName; message: string } {
    const id = Buffer.from(resume.sessionId).toString('hex');
    const session = this.#byId.get(id);
    if (session === undefined) {
      return { code: 'SESSION_NOT_FOUND', message: `no session ${id}: it never existed, or it ended and its linger passed` };
    }
    // An observer watches a session whatever its linger (§10.11); only a writer resumes.
    if (!session.lingers && resume.attach?.mode !== 'observe') {
      return { code: 'SESSION_NOT_FOUND', message: `session ${id} does not linger (it was started with linger 0 or in version 1), so it cannot be resumed` };
    }
    return session.refusal(resume, owner) ?? session;
  }

  #boundEnded(): void {
    const ended = [...this.#byId.values()].filter((s) => !s.live);
    for (const s of ended.slice(0, Math.max(0, ended.length - this.#maxEnded))) s.release();
  }
}
