import { ApiError } from './errors.js';

/** How many sessions the server runs at once, in all, per subject and per instance. */
export interface SessionLimits {
  maxSessions: number;
  /** A subject (a token's `sub`) may not take the whole server or one instance for itself. */
  maxSessionsPerSubject: number;
  /**
   * Sessions on one instance that have sent their request (and so hold an agent connection):
   * below the 1,023 connections a hypervisor's hybrid vsock socket holds, so that this server
   * never fills it (a full socket refuses new connections as if no agent listened). Sessions
   * still waiting for their request hold no agent connection and do not count here, so idle
   * upgrades cannot lock others out of an instance.
   */
  maxSessionsPerInstance: number;
  /**
   * Sessions of a subject that are open but have not sent their request yet (they hold no
   * agent connection, and end after 10 s without one).
   */
  maxPendingPerSubject: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 10_000,
  maxSessionsPerSubject: 1_000,
  maxSessionsPerInstance: 1_000,
  maxPendingPerSubject: 1_000,
};

/** A session as the limits see it. */
export interface CountedSession {
  readonly subject: string;
  readonly instance: string;
  /** False until the request (ExecStart) has arrived. */
  readonly requested: boolean;
}

/**
 * The sessions open now, by subject and by instance, and the check made before each upgrade.
 * Refusals are HTTP answers with their own codes (spec §8.3), never an agent error.
 */
export class SessionCounts<S extends CountedSession> {
  readonly limits: SessionLimits;
  readonly #all = new Set<S>();
  readonly #bySubject = new Map<string, Set<S>>();
  /** Sessions with their request, by instance. */
  readonly #requestedByInstance = new Map<string, number>();
  readonly #admitted = new Set<S>();

  constructor(limits: Partial<SessionLimits> = {}) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
  }

  get size(): number {
    return this.#all.size;
  }

  [Symbol.iterator](): IterableIterator<S> {
    return this.#all.values();
  }

  /** Throws the ApiError for the first limit a new session of `subject` on `instance` would break. */
  checkRoomFor(subject: string, instance: string): void {
    const { maxSessions, maxSessionsPerSubject, maxSessionsPerInstance, maxPendingPerSubject } = this.limits;
    if (this.#all.size >= maxSessions) {
      throw new ApiError(503, 'TOO_MANY_SESSIONS', `the server runs its maximum of ${maxSessions} sessions; retry later`);
    }
    const mine = this.#bySubject.get(subject);
    if (mine && mine.size >= maxSessionsPerSubject) {
      throw new ApiError(429, 'SUBJECT_SESSION_LIMIT', `${subject} already has ${mine.size} sessions open, the most one subject may; end some first`);
    }
    if (mine) {
      let pending = 0;
      for (const s of mine) if (!s.requested) pending++;
      if (pending >= maxPendingPerSubject) {
        throw new ApiError(
          429,
          'SUBJECT_SESSION_LIMIT',
          `${subject} has ${pending} sessions open that have not sent their request yet, the most one subject may; send each request when you open its session`,
        );
      }
    }
    if (this.#requestedOn(instance) >= maxSessionsPerInstance) {
      throw new ApiError(503, 'INSTANCE_SESSION_LIMIT', instanceFull(instance, maxSessionsPerInstance));
    }
  }

  /**
   * The session's request arrived: it is about to hold an agent connection. Returns the
   * refusal to end it with when its instance already has its maximum, else null.
   */
  admitRequest(session: S): string | null {
    const max = this.limits.maxSessionsPerInstance;
    if (this.#requestedOn(session.instance) >= max) return instanceFull(session.instance, max);
    this.#admitted.add(session);
    this.#requestedByInstance.set(session.instance, this.#requestedOn(session.instance) + 1);
    return null;
  }

  #requestedOn(instance: string): number {
    return this.#requestedByInstance.get(instance) ?? 0;
  }

  add(session: S): void {
    this.#all.add(session);
    setOf(this.#bySubject, session.subject).add(session);
  }

  delete(session: S): void {
    if (!this.#all.delete(session)) return;
    removeFrom(this.#bySubject, session.subject, session);
    if (this.#admitted.delete(session)) {
      const left = this.#requestedOn(session.instance) - 1;
      if (left > 0) this.#requestedByInstance.set(session.instance, left);
      else this.#requestedByInstance.delete(session.instance);
    }
  }
}

function setOf<S>(map: Map<string, Set<S>>, key: string): Set<S> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function removeFrom<S>(map: Map<string, Set<S>>, key: string, value: S): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

function instanceFull(instance: string, max: number): string {
  return `instance ${instance} runs its maximum of ${max} sessions through this server; retry later`;
}
