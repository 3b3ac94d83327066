import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { AgentLogger } from '../AgentLog.js';
import {
  type ClientMessage,
  type ErrorCodeName,
  type ExecStartMessage,
  FrameType,
  MAX_DATA_CHUNK,
  type OverflowPolicy,
  type ResumeRequest,
  type SessionSummary,
  encodeError,
  encodeExit,
  encodeLinger,
  encodeNotice,
  encodePong,
  encodeResumed,
  encodeStarted,
  encodeStdinAck,
  encodeUtf8,
} from '../../wire/index.js';
import type { Command, CommandObserver, HelperFailure, WaitStatus } from '../command/Command.js';
import { commandEnvironment } from '../command/CommandEnvironment.js';
import type { ContainerRoot } from '../container/ContainerRoot.js';
import { SessionError } from '../errors.js';
import { classifyFailure, exitRecord } from '../command/ExitStatus.js';
import type { OutputStream } from './FrameWriter.js';
import type { HelperReportServer } from '../command/HelperReports.js';
import { setLongTimeout } from './longTimeout.js';
import { OutputRetention, type Replay } from './OutputRetention.js';
import { PausableTimer } from './PausableTimer.js';
import { PipeCommand } from '../command/PipeCommand.js';
import { PtyCommand } from '../command/PtyCommand.js';
import type { LinkedSession, SessionLink } from './SessionLink.js';
import type { SpawnPlan } from '../command/SpawnHelper.js';
import { UserDatabase } from '../container/UserDatabase.js';

/** Spec §9.7: output of background processes is forwarded this long after the command exited. */
export const END_OF_OUTPUT_GRACE_MS = 1_000;
/**
 * §10.5: the agent reports the Stdin it has taken every this many bytes: a quarter of what
 * a client may leave unacknowledged (as output is acknowledged every quarter window). Each
 * report is a write of its own, and a message for every process on the way.
 */
const STDIN_ACK_BYTES = 1024 * 1024;
/** …and this long after Stdin stops arriving. */
const STDIN_ACK_DELAY_MS = 20;
/**
 * §10.5: while the command's input is backed up, a lingering session reads on, holding the
 * Stdin that follows, up to this much: more than a client may have unacknowledged (4 MiB),
 * so that its OutputAck behind that Stdin always arrives (the command may be blocked on
 * output that waits for that very acknowledgement).
 */
const WAITING_STDIN_LIMIT = 5 * 1024 * 1024;
const DEFAULT_WINDOW = { rows: 24, cols: 80 };
/**
 * §10.11: output an observer's connection may have waiting before it is cut, beyond what a
 * replay of the retained output (up to a window per stream) puts there at once. The chunks
 * are the very buffers the writer's connection and the retention hold, so an observer costs
 * little more than the kernel's socket buffer until it falls this far behind.
 */
export const OBSERVER_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Frames an observer sends that would reach the command: dropped, and the observer told once (§10.11). */
function reachesCommand(message: ClientMessage): boolean {
  const type = message.type;
  return type === FrameType.Stdin || type === FrameType.StdinClose || type === FrameType.WindowSize || type === FrameType.Signal;
}

/**
 * Frames that keep their place behind Stdin (§10.5). Acknowledgements and Pings need not;
 * nor does the client's Error, which ends the session: the Stdin before it is moot.
 */
function waitsItsTurn(message: ClientMessage): boolean {
  const type = message.type;
  return type !== FrameType.OutputAck && type !== FrameType.Ping && type !== FrameType.Pong && type !== FrameType.Error;
}

/** What every session of one agent shares. */
export interface SessionContext {
  readonly root: ContainerRoot;
  readonly helperPath: string;
  /** The helpers' report socket, opened on first use (terminal sessions). */
  readonly reports: () => Promise<HelperReportServer>;
  /** The container's environment (--env), between the defaults and the request's (spec §9.2). */
  readonly configuredEnv: Readonly<Record<string, string>>;
  /** The working directory of a request without one (spec §9.3). */
  readonly defaultCwd: string;
  /** Spec §9.10: a connection that sends no ExecStart for this long is ended with START_TIMEOUT. */
  readonly startTimeoutMs: number;
  /** §10.2: the longest linger a request gets (--max-linger); 0: no session lingers. */
  readonly maxLingerSeconds: number;
  /** §10.3: unacknowledged output kept per stream of a lingering session (--linger-buffer). */
  readonly lingerBufferBytes: number;
  readonly log: AgentLogger;
}

/** Where a session is: its command being started, running, or ended (Exit or Error decided). */
type Phase = 'starting' | 'running' | 'ended';

/** How the session tells its table what it is doing. */
export interface SessionEvents {
  /** Started (or failed as the command's own failure, §9.5): it can be listed and resumed. */
  registered(session: AgentSession): void;
  /** Nothing is left to resume: the table forgets it. */
  forgotten(session: AgentSession): void;
}

/**
 * One exec session (spec §3, §9, §10): a command, and the connection it is attached to. It
 * starts the command, forwards input and output with flow control in both directions, and
 * ends with Exit or Error. A session that lingers (version 2, §10) outlives its connection:
 * while detached the command runs on, its output kept (OutputRetention) until a resume
 * attaches another connection, or the linger passes and the command is hung up. `done`
 * settles once the command is reaped and the session forgotten.
 */
export class AgentSession implements CommandObserver, LinkedSession {
  readonly id = randomBytes(16);
  readonly idHex = this.id.toString('hex');
  readonly done: Promise<void>;
  readonly version: number;
  readonly owner: string;
  /** The effective linger (§10.2): the request's, capped by the agent's maximum. */
  readonly lingerSeconds: number;
  readonly overflow: OverflowPolicy;
  readonly startedAt = Date.now();
  readonly #request: ExecStartMessage;
  readonly #context: SessionContext;
  readonly #events: SessionEvents;
  readonly #log: AgentLogger;
  readonly #startedAtMs = performance.now();
  /** Output kept until acknowledged; null when the session does not linger. */
  readonly #retention: OutputRetention | null;
  #resolveDone!: () => void;

  #phase: Phase = 'starting';
  /** The writer's connection: the one whose input reaches the command (§10.11). */
  #link: SessionLink | null;
  /** Connections that observe: output only, never retained for them nor waited for. */
  readonly #observers = new Set<SessionLink>();
  /** The session's last frame (Exit or Error), kept for a client that resumes after it. */
  #final: { type: typeof FrameType.Exit | typeof FrameType.Error; frame: Uint8Array; exitCode?: number } | null = null;
  /**
   * Frames that wait their turn, in order: all of them while the command is being started;
   * then those behind Stdin the command's input has no room for (a lingering session
   * reads on; others stop reading). Acknowledgements and Pings do not wait.
   */
  #waiting: ClientMessage[] = [];
  #waitingStdin = 0;
  #command: Command | null = null;
  #argv: string[];
  #pid = 0;
  #commandFinished = false;
  #registered = false;
  #forgotten = false;

  #stdoutBytes = 0;
  #stderrBytes = 0;
  #stdinTaken = 0;
  #stdinAcked = 0;
  #stdinAckTimer: NodeJS.Timeout | null = null;
  #stdinClosed = false;
  #stdinBlocked = false;
  #outputPaused = false;
  #outputEnded = false;
  #exit: WaitStatus | null | undefined = undefined;
  #timedOut = false;
  #cancelTimeout: (() => void) | null = null;
  #grace: PausableTimer | null = null;
  #detachedAt: number | null = null;
  #cancelLinger: (() => void) | null = null;

  constructor(request: ExecStartMessage, link: SessionLink, context: SessionContext, events: SessionEvents) {
    this.#request = request;
    this.#context = context;
    this.#events = events;
    this.#link = link;
    this.version = request.version;
    this.owner = request.owner ?? '';
    this.lingerSeconds = Math.min(request.lingerSeconds ?? 0, context.maxLingerSeconds);
    this.overflow = request.overflow ?? 'pause';
    this.#retention = this.lingerSeconds > 0 ? new OutputRetention(context.lingerBufferBytes, this.overflow) : null;
    this.#argv = request.argv.length > 0 ? request.argv : ['/bin/sh'];
    this.#log = context.log.child({ session: this.idHex.slice(0, 12) });
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    link.bind(this);
    this.#start();
  }

  /** Lingering sessions survive their connection (§10.2). */
  get lingers(): boolean {
    return this.#retention !== null;
  }

  /** The command has not ended: the session holds one of the agent's session slots. */
  get live(): boolean {
    return this.#phase !== 'ended';
  }

  /** How the session looks in a SessionList (§10.8). */
  summary(): SessionSummary {
    const s: SessionSummary = {
      id: this.idHex,
      pid: this.#pid,
      argv: this.#argv,
      owner: this.owner,
      tty: this.#request.tty,
      startedAt: this.startedAt,
      state: this.#final !== null ? 'exited' : this.#link !== null ? 'attached' : 'detached',
      lingerSeconds: this.lingerSeconds,
    };
    if (this.#final?.exitCode !== undefined) s.exitCode = this.#final.exitCode;
    if (this.#detachedAt !== null) s.detachedAt = this.#detachedAt;
    s.observers = this.#observers.size;
    return s;
  }

  /** The agent is stopping (spec §5 SHUTTING_DOWN): the command is hung up as if the client had left. */
  shutdown(): void {
    if (this.#phase !== 'ended') this.#fail('SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
    this.#forget();
  }

  /** Forgets an ended session kept for a resume (the table keeps only so many). */
  release(): void {
    if (this.#phase === 'ended') this.#forget();
  }

  // ---- resuming (§10.6) ----

  /**
   * Why `resume` cannot attach to this session, or null: the owner must match (an observer
   * granted any owner excepted, §10.11), a writer that does not take over finds no writer
   * attached, and the client cannot claim more output than was written.
   */
  refusal(resume: ResumeRequest, owner: string): { code: ErrorCodeName; message: string } | null {
    const attach = resume.attach;
    if (owner !== this.owner && !(attach?.mode === 'observe' && attach.anyOwner)) {
      return {
        code: 'SESSION_FORBIDDEN',
        message: `session ${this.idHex} belongs to another owner; only the subject that started it may ${attach?.mode === 'observe' ? 'observe it (or one whose token may observe the instance)' : 'resume it'}`,
      };
    }
    if (attach?.mode === 'write' && this.#link !== null) {
      return { code: 'SESSION_BUSY', message: `session ${this.idHex} has a writer attached; attach read-only to watch it, or take it over (--take-over)` };
    }
    if (resume.stdoutBytes > this.#stdoutBytes || resume.stderrBytes > this.#stderrBytes) {
      return {
        code: 'INVALID_REQUEST',
        message: `the resume claims ${resume.stdoutBytes} stdout and ${resume.stderrBytes} stderr bytes, but the session has written only ${this.#stdoutBytes} and ${this.#stderrBytes}`,
      };
    }
    return null;
  }

  /**
   * What a client at the resume's offsets is sent again: the retained output from there, or,
   * for an observer that watches live (or a session that retains nothing), nothing, its
   * offsets moved to the current point as if that output were lost.
   */
  #replayFor(resume: ResumeRequest): Replay {
    if (this.#retention !== null && !resume.attach?.live) return this.#retention.replayFrom(resume.stdoutBytes, resume.stderrBytes);
    return { stdoutLost: this.#stdoutBytes - resume.stdoutBytes, stderrLost: this.#stderrBytes - resume.stderrBytes, chunks: [] };
  }

  #resumed(link: SessionLink, replay: Replay): void {
    link.send(
      FrameType.Resumed,
      encodeResumed({
        version: this.version,
        pid: this.#pid,
        sessionId: this.id,
        stdinBytes: this.#stdinTaken,
        stdoutLost: replay.stdoutLost,
        stderrLost: replay.stderrLost,
        lingerSeconds: this.lingerSeconds,
        windowBytes: this.#retention?.windowBytes ?? 0,
        stdinClosed: this.#stdinClosed,
        exited: this.#final !== null,
        tty: this.#request.tty,
        observer: link.observer,
      }),
    );
    for (const { stream, data } of replay.chunks) link.sendData(stream, data);
  }

  /**
   * §10.11: `link` observes from now on: the output from its offsets (or live), then live
   * output, never waited for; or, if the session has ended, its last frame.
   */
  observe(link: SessionLink, resume: ResumeRequest): void {
    link.observer = true;
    link.bind(this);
    const replay = this.#replayFor(resume);
    this.#log.info({ live: resume.attach?.live || undefined, observers: this.#observers.size + 1 }, 'observer attached');
    this.#resumed(link, replay);
    if (this.#final !== null) {
      link.end(this.#final.type, this.#final.frame);
      return;
    }
    this.#observers.add(link);
    this.#checkObserver(link);
  }

  /**
   * Attaches `link` as the writer in place of the connection attached now, if any: a resume
   * (no attach mode) closes it with SESSION_TAKEN_OVER, a take-over makes it an observer and
   * tells it so (§10.11). Then Resumed, the output from the client's offsets, then live
   * output, or the last frame if the session has ended. `refusal` was checked first.
   */
  resume(link: SessionLink, resume: ResumeRequest): void {
    const old = this.#link;
    this.#link = link;
    link.bind(this);
    if (old !== null && resume.attach?.mode === 'take-over') this.#demote(old);
    else old?.takenOver();
    this.#dropWaiting();
    this.#clearLingerTimer();
    this.#detachedAt = null;
    const replay = this.#replayFor(resume);
    this.#log.info({ stdoutLost: replay.stdoutLost || undefined, stderrLost: replay.stderrLost || undefined, replayed: replay.chunks.length, takenOver: old !== null || undefined }, 'resumed');
    this.#stdinAcked = this.#stdinTaken;
    this.#resumed(link, replay);
    if (this.#final !== null) {
      // The end again, kept once more in case this connection breaks too.
      this.#link = null;
      link.end(this.#final.type, this.#final.frame);
      this.#detach('the last frame was sent again');
      return;
    }
    this.#updateOutputFlow();
    if (this.#waitingStdin >= WAITING_STDIN_LIMIT) link.pauseReading();
  }

  /** The writer taken over becomes an observer, and hears it (§10.11). */
  #demote(link: SessionLink): void {
    link.observer = true;
    this.#observers.add(link);
    // It may have been held back behind the command's input: read on, to drop what it sends.
    link.resumeReading();
    link.send(FrameType.Notice, encodeNotice('observing', 'another connection took this session over as its writer: this one observes from now on (its input is dropped)'));
    this.#checkObserver(link);
  }

  /** §10.11: an observer whose connection holds too much unsent output is cut; the session never waits for it. */
  #checkObserver(link: SessionLink): void {
    const limit = OBSERVER_BACKLOG_BYTES + 2 * ((this.#retention?.windowBytes ?? 0) + MAX_DATA_CHUNK);
    if (link.backlog <= limit) return;
    this.#observers.delete(link);
    this.#log.info({ backlog: link.backlog }, 'observer too slow: cut');
    link.cut(`this observer fell more than ${limit} bytes behind the session's output and was cut (the session goes on); attach again to watch from the current point`);
  }

  /** Ends every observer with the session's last frame. */
  #endObservers(type: typeof FrameType.Exit | typeof FrameType.Error, frame: Uint8Array): void {
    for (const link of this.#observers) link.end(type, frame);
    this.#observers.clear();
  }

  // ---- from the connection (LinkedSession) ----

  clientMessage(message: ClientMessage, link: SessionLink): void {
    if (this.#observers.has(link)) return this.#observerMessage(message, link);
    if (link !== this.#link) return;
    const waits = this.#phase === 'starting' || this.#stdinBlocked || this.#waiting.length > 0;
    if (!waits || (this.#phase === 'running' && !waitsItsTurn(message))) {
      this.#handle(message);
      return;
    }
    this.#waiting.push(message);
    if (message.type === FrameType.Stdin) this.#waitingStdin += message.data.length;
    if (this.#waitingStdin >= WAITING_STDIN_LIMIT) link.pauseReading();
  }

  /** §10.11: an observer's frame. Nothing it sends reaches the command; its Error ends only its own connection. */
  #observerMessage(message: ClientMessage, link: SessionLink): void {
    if (reachesCommand(message)) link.tellReadOnly();
    else if (message.type === FrameType.Ping) link.send(FrameType.Pong, encodePong(message.token));
    else if (message.type === FrameType.Error) {
      this.#observers.delete(link);
      link.drop();
    }
  }

  /** Handles waiting frames in order until the command's input backs up again. */
  #handleWaiting(): void {
    while (this.#waiting.length > 0 && !this.#stdinBlocked && this.#phase === 'running') {
      const message = this.#waiting.shift()!;
      if (message.type === FrameType.Stdin) this.#waitingStdin -= message.data.length;
      this.#handle(message);
    }
    const readOn = this.lingers ? this.#waitingStdin < WAITING_STDIN_LIMIT : !this.#stdinBlocked;
    if (readOn && this.#phase === 'running') this.#link?.resumeReading();
  }

  /**
   * Frames of a connection that is gone and were not handled are lost with it, as bytes in
   * its socket are: the client sends its Stdin again from Resumed's count (§10.6).
   */
  #dropWaiting(): void {
    if (this.#phase === 'starting') return;
    this.#waiting = [];
    this.#waitingStdin = 0;
  }

  linkDrained(link: SessionLink): void {
    if (link === this.#link) this.#updateOutputFlow();
  }

  linkLost(link: SessionLink, reason: string): void {
    if (this.#observers.delete(link)) return;
    if (link !== this.#link) return;
    this.#link = null;
    this.#dropWaiting();
    // Before Started the client cannot know the session's id: nothing could resume it.
    if (this.lingers && this.#registered && this.#phase !== 'ended') this.#detach(reason);
    else this.#hangUp(`client gone: ${reason}`);
  }

  linkFailed(link: SessionLink, code: ErrorCodeName, message: string): void {
    if (this.#observers.delete(link)) {
      // An observer's protocol error ends its own connection, never the session.
      link.end(FrameType.Error, encodeError(code, message));
      return;
    }
    if (link !== this.#link) return;
    this.#fail(code, message);
    this.#forget();
  }

  #handle(message: ClientMessage): void {
    const command = this.#command;
    if (this.#phase !== 'running' || command === null) return;
    switch (message.type) {
      case FrameType.Stdin:
        this.#took(message.data.length);
        if (!command.writeStdin(message.data)) {
          this.#stdinBlocked = true;
          if (!this.lingers) this.#link?.pauseReading();
          this.#ackStdin();
        }
        return;
      case FrameType.StdinClose:
        this.#stdinClosed = true;
        this.#ackStdin();
        command.closeStdin();
        return;
      case FrameType.WindowSize:
        command.resize(message.rows, message.cols);
        return;
      case FrameType.Signal:
        command.signal(message.signal);
        return;
      case FrameType.Ping:
        this.#link?.send(FrameType.Pong, encodePong(message.token));
        return;
      case FrameType.OutputAck:
        this.#retention?.acknowledge(message.stdoutBytes, message.stderrBytes);
        this.#updateOutputFlow();
        return;
      case FrameType.Pong:
        return;
      case FrameType.Error:
        // §10.5: a client that ends the session on purpose; the command is hung up at once.
        this.#link?.drop();
        this.#link = null;
        this.#hangUp(`the client ended the session: ${message.code} ${message.message}`);
        return;
    }
  }

  // ---- stdin acknowledgements (§10.5) ----

  #took(bytes: number): void {
    this.#stdinTaken += bytes;
    if (!this.lingers) return;
    if (this.#stdinTaken - this.#stdinAcked >= STDIN_ACK_BYTES) this.#ackStdin();
    else this.#stdinAckTimer ??= setTimeout(() => this.#ackStdin(), STDIN_ACK_DELAY_MS);
  }

  #ackStdin(): void {
    if (this.#stdinAckTimer !== null) clearTimeout(this.#stdinAckTimer);
    this.#stdinAckTimer = null;
    if (!this.lingers || this.#stdinTaken === this.#stdinAcked || this.#phase !== 'running') return;
    this.#stdinAcked = this.#stdinTaken;
    this.#link?.send(FrameType.StdinAck, encodeStdinAck(this.#stdinTaken));
  }

  // ---- starting the command ----

  #start(): void {
    const request = this.#request;
    this.#link!.pauseReading(); // later frames wait in #waiting until the command runs
    let plan: SpawnPlan;
    let env: Record<string, string>;
    try {
      ({ plan, env } = this.#plan(request));
    } catch (error) {
      if (error instanceof SessionError) return this.#failToStart(error.code, error.message);
      this.#log.error({ err: error }, 'cannot prepare the command');
      return this.#failToStart('INTERNAL_ERROR', `the agent could not prepare the command: ${(error as Error).message}`);
    }
    this.#log.info(
      { argv0: plan.argv[0], tty: plan.tty, user: request.user || undefined, cwd: plan.cwd, linger: this.lingerSeconds || undefined, owner: this.owner || undefined },
      'starting',
    );
    if (plan.tty) void this.#startTerminal(plan, env, request.window ?? DEFAULT_WINDOW);
    else this.#command = new PipeCommand(plan, env, this);
  }

  /** A terminal command goes through node-pty and the exec helper, which reports over the report socket. */
  async #startTerminal(plan: SpawnPlan, env: Record<string, string>, window: { rows: number; cols: number }): Promise<void> {
    try {
      const reports = await this.#context.reports();
      if (this.#phase !== 'starting') return; // the client left or broke the protocol meanwhile
      this.#command = new PtyCommand(this.#context.helperPath, plan, env, window, this, reports);
    } catch (error) {
      this.#log.error({ err: error }, 'cannot spawn the exec helper');
      this.#failToStart('SPAWN_FAILED', `cannot start the command: ${(error as Error).message}`);
    }
  }

  #plan(request: ExecStartMessage): { plan: SpawnPlan; env: Record<string, string> } {
    const argv = this.#argv;
    if (argv[0] === '') throw new SessionError('INVALID_REQUEST', 'the command (argv[0]) is empty; name a program to run');
    const cwd = request.cwd || this.#context.defaultCwd;
    if (!isAbsolute(cwd)) throw new SessionError('INVALID_REQUEST', `the working directory ${JSON.stringify(cwd)} must be an absolute path`);
    const users = UserDatabase.load(this.#context.root);
    const agentUid = process.getuid?.() ?? 0;
    const credentials = users.resolve(request.user, agentUid);
    const env = commandEnvironment(credentials.home, request.tty, this.#context.configuredEnv, request.env);
    const plan: SpawnPlan = {
      root: this.#context.root.path,
      argv,
      cwd,
      // Only root can switch users; an agent run as another user runs commands as itself.
      credentials: agentUid === 0 || request.user !== '' ? credentials : null,
      pwd: env.PWD ?? null,
      tty: request.tty,
    };
    return { plan, env };
  }

  /** Started (and, in version 2, Linger) on the connection: the session can be listed and resumed from now on. */
  #announce(pid: number): void {
    this.#phase = 'running';
    this.#pid = pid;
    const link = this.#link;
    link?.send(FrameType.Started, encodeStarted(pid, this.id, this.version));
    if (this.version >= 2) link?.send(FrameType.Linger, encodeLinger(this.lingerSeconds, this.#retention?.windowBytes ?? 0));
    this.#registered = true;
    this.#events.registered(this);
  }

  // ---- from the command (CommandObserver) ----

  started(pid: number): void {
    if (this.#phase !== 'starting') return;
    this.#announce(pid);
    const timeout = this.#request.timeoutSeconds;
    if (timeout > 0) {
      this.#cancelTimeout = setLongTimeout(timeout * 1000, () => {
        this.#timedOut = true;
        this.#log.info({ timeout }, 'timeout: killing the command');
        this.#command?.kill();
      });
    }
    this.#updateOutputFlow(true);
    this.#handleWaiting();
  }

  failed(failure: HelperFailure | Error): void {
    if (this.#phase !== 'starting') {
      this.#command?.release();
      return;
    }
    this.#command?.closeOutput();
    this.#command?.closeStdin();
    if (failure instanceof Error) {
      this.#log.error({ err: failure.message }, 'the exec helper failed');
      return this.#failToStart('SPAWN_FAILED', failure.message);
    }
    const request = this.#request;
    const outcome = classifyFailure(failure, { argv0: this.#argv[0], cwd: request.cwd || this.#context.defaultCwd, user: request.user });
    if (outcome instanceof SessionError) return this.#failToStart(outcome.code, outcome.message);
    // The command's own failure (spec §9.5): Started with pid 0, the reason on Stderr, Exit 127/126.
    this.#announce(0);
    this.output(FrameType.Stderr, encodeUtf8(outcome.message));
    this.#finish(FrameType.Exit, encodeExit({ kind: 0, code: outcome.exitCode, signal: 0, coreDumped: false, stdoutBytes: 0, stderrBytes: this.#stderrBytes }), outcome.exitCode);
    this.#log.info({ exitCode: outcome.exitCode }, 'command could not be run');
  }

  output(stream: OutputStream, chunk: Uint8Array): void {
    if (this.#phase !== 'running') return;
    if (stream === FrameType.Stdout) this.#stdoutBytes += chunk.length;
    else this.#stderrBytes += chunk.length;
    this.#retention?.add(stream, chunk);
    for (const observer of this.#observers) {
      observer.sendData(stream, chunk);
      this.#checkObserver(observer);
    }
    const link = this.#link;
    if (link !== null && !link.sendData(stream, chunk)) this.#pause();
    else if (this.#retention?.full && this.overflow === 'pause') this.#pause();
  }

  outputEnded(): void {
    this.#outputEnded = true;
    this.#maybeSendExit();
  }

  exited(status: WaitStatus | null): void {
    this.#exit = status;
    this.#cancelTimeout?.();
    if (this.#phase !== 'running') {
      this.#command?.release();
      return;
    }
    if (!this.#outputEnded) {
      this.#grace = new PausableTimer(END_OF_OUTPUT_GRACE_MS, () => this.#command?.closeOutput(), this.#outputPaused);
    }
    this.#maybeSendExit();
  }

  stdinDrained(): void {
    if (!this.#stdinBlocked) return;
    this.#stdinBlocked = false;
    this.#handleWaiting();
  }

  finished(): void {
    this.#commandFinished = true;
    this.#maybeDone();
  }

  // ---- flow control ----

  /**
   * Reads the command's output while there is room for it: on the connection (not backed
   * up) and, in a lingering session with overflow pause, in the retention window (§10.3).
   * `force`: tell the command either way (it starts paused).
   */
  #updateOutputFlow(force = false): void {
    if (this.#phase !== 'running') return;
    const full = this.#retention !== null && this.overflow === 'pause' && this.#retention.full;
    const blocked = full || (this.#link?.backedUp ?? false);
    if (blocked) this.#pause(force);
    else if (this.#outputPaused || force) {
      this.#outputPaused = false;
      this.#command?.resumeOutput();
      this.#grace?.release();
    }
  }

  #pause(force = false): void {
    if (this.#outputPaused && !force) return;
    this.#outputPaused = true;
    this.#command?.pauseOutput();
    this.#grace?.hold();
  }

  // ---- detaching, expiring, ending ----

  /**
   * §10.5: no connection any more. The command runs on (or its end is kept, in case the
   * client missed it) until a resume or the end of the linger, counted from now.
   */
  #detach(reason: string): void {
    this.#detachedAt = Date.now();
    this.#log.info({ reason, linger: this.lingerSeconds }, this.#final ? 'keeping the end for a resume' : 'detached');
    this.#clearLingerTimer();
    this.#cancelLinger = setLongTimeout(this.lingerSeconds * 1000, () => {
      this.#cancelLinger = null;
      this.#log.info({ linger: this.lingerSeconds }, 'no resume within the linger');
      this.#hangUp('linger expired');
    });
    this.#updateOutputFlow();
  }

  #clearLingerTimer(): void {
    this.#cancelLinger?.();
    this.#cancelLinger = null;
  }

  #maybeSendExit(): void {
    if (this.#phase !== 'running' || this.#exit === undefined || !this.#outputEnded) return;
    this.#grace?.cancel();
    const status = this.#exit;
    if (status === null) {
      this.#log.error('the exec helper died before reporting how the command ended');
      return this.#fail('INTERNAL_ERROR', "the command's exit status was lost (the agent's exec helper died); see the agent's log");
    }
    const record = exitRecord(status, this.#timedOut, this.#stdoutBytes, this.#stderrBytes);
    this.#finish(FrameType.Exit, encodeExit(record), record.code);
    this.#log.info(
      { exitCode: record.code, kind: record.kind, signal: record.signal || undefined, stdoutBytes: record.stdoutBytes, stderrBytes: record.stderrBytes, ms: Math.round(performance.now() - this.#startedAtMs) },
      'command ended',
    );
  }

  /** An Error instead of Started: nothing ran, nothing to keep. */
  #failToStart(code: ErrorCodeName, message: string): void {
    this.#fail(code, message);
    this.#forget();
  }

  /** Ends the session with an Error frame (spec §3.3); a running command is hung up. */
  #fail(code: ErrorCodeName, message: string): void {
    if (this.#phase === 'ended') return;
    const running = this.#command !== null;
    this.#finish(FrameType.Error, encodeError(code, message));
    if (running) this.#command!.abandon();
  }

  /**
   * The session's last frame: to the connection, if one is attached (which then closes),
   * and kept for a resume if the session lingers (§10.6); else the session is over.
   */
  #finish(type: typeof FrameType.Exit | typeof FrameType.Error, frame: Uint8Array, exitCode?: number): void {
    this.#phase = 'ended';
    this.#waiting = [];
    this.#cancelTimeout?.();
    this.#grace?.cancel();
    if (this.#stdinAckTimer !== null) clearTimeout(this.#stdinAckTimer);
    this.#command?.release();
    if (this.#command === null) this.#commandFinished = true;
    const link = this.#link;
    this.#link = null;
    link?.end(type, frame);
    this.#endObservers(type, frame);
    if (this.lingers && this.#registered) {
      // Kept for the linger (§10.6): a connection cut as the end went out loses nothing. A
      // detached session's linger already runs.
      this.#final = { type, frame, exitCode };
      if (link !== null) this.#detach('the last frame was sent');
    } else {
      this.#forget();
    }
    this.#maybeDone();
  }

  /** §9.9: the command is hung up (the client left, ended the session, or the linger passed); the session is forgotten. */
  #hangUp(reason: string): void {
    this.#clearLingerTimer();
    this.#endObservers(FrameType.Error, encodeError('SESSION_NOT_FOUND', `the session ended without an exit status (${reason}): the command was hung up`));
    if (this.#phase !== 'ended') {
      this.#log.info({ reason }, 'hanging up the command');
      this.#phase = 'ended';
      this.#cancelTimeout?.();
      this.#grace?.cancel();
      if (this.#stdinAckTimer !== null) clearTimeout(this.#stdinAckTimer);
      if (this.#command !== null) this.#command.abandon();
      else this.#commandFinished = true;
    }
    this.#forget();
  }

  #forget(): void {
    this.#clearLingerTimer();
    if (this.#forgotten) return;
    this.#forgotten = true;
    this.#final = null;
    this.#events.forgotten(this);
    this.#maybeDone();
  }

  #maybeDone(): void {
    if (this.#forgotten && this.#commandFinished && this.#link === null) this.#resolveDone();
  }
}

