import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import type { Duplex } from 'node:stream';
import type { AgentLogger } from '../AgentLog.js';
import {
  ExecSessionState,
  FrameDecoder,
  FrameType,
  ProtocolError,
  encodeError,
  encodeExit,
  encodePong,
  encodeStarted,
  encodeUtf8,
  parseFrame,
  type ClientMessage,
  type ErrorCodeName,
  type ExecStartMessage,
  type RawFrame,
} from '../../wire/index.js';
import type { Command, CommandObserver, HelperFailure, WaitStatus } from '../command/Command.js';
import { commandEnvironment } from '../command/CommandEnvironment.js';
import type { ContainerRoot } from '../container/ContainerRoot.js';
import { SessionError } from '../errors.js';
import { classifyFailure, exitRecord } from '../command/ExitStatus.js';
import { FrameWriter, type OutputStream } from './FrameWriter.js';
import type { HelperReportServer } from '../command/HelperReports.js';
import { setLongTimeout } from './longTimeout.js';
import { PausableTimer } from './PausableTimer.js';
import { PipeCommand } from '../command/PipeCommand.js';
import { PtyCommand } from '../command/PtyCommand.js';
import type { SpawnPlan } from '../command/SpawnHelper.js';
import { UserDatabase } from '../container/UserDatabase.js';

/** Spec §9.7: output of background processes is forwarded this long after the command exited. */
export const END_OF_OUTPUT_GRACE_MS = 1_000;
/** After the agent ended its side, a socket whose bytes are all flushed is closed this much later if the client keeps it open. */
const LINGER_MS = 10_000;
const DEFAULT_WINDOW = { rows: 24, cols: 80 };

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
  readonly log: AgentLogger;
}

type Phase = 'awaiting-start' | 'starting' | 'running' | 'ended';

/**
 * One exec session: one connection, one command (spec §3, §9). It decodes the client's
 * frames, starts the command through the helper, forwards input and output with flow
 * control in both directions, and ends with Exit or Error. It owns the connection: it
 * closes it, and `done` settles once the connection is closed and the command reaped.
 */
export class AgentSession implements CommandObserver {
  readonly done: Promise<void>;
  readonly #socket: Duplex;
  readonly #context: SessionContext;
  readonly #state = new ExecSessionState();
  readonly #writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #sessionId = randomBytes(16);
  readonly #log: AgentLogger;
  readonly #startedAt = performance.now();
  #resolveDone!: () => void;

  #phase: Phase = 'awaiting-start';
  #request: ExecStartMessage | null = null;
  /** Frames that arrived while the command was being started, replayed once it runs. */
  #queued: ClientMessage[] = [];
  #command: Command | null = null;
  #commandFinished = false;
  #socketClosed = false;
  #parsing = true;

  #stdinBlocked = false;
  #outputPaused = false;
  #outputEnded = false;
  #exit: WaitStatus | null | undefined = undefined;
  #timedOut = false;
  #cancelTimeout: (() => void) | null = null;
  #grace: PausableTimer | null = null;
  #linger: NodeJS.Timeout | null = null;
  #startDeadline: NodeJS.Timeout | null;

  constructor(socket: Duplex, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    this.#log = context.log.child({ session: this.#sessionId.toString('hex').slice(0, 12) });
    this.#writer = new FrameWriter(socket, this.#state);
    this.#decoder = new FrameDecoder((frame) => this.#onFrame(frame));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    const startSeconds = context.startTimeoutMs / 1000;
    this.#startDeadline = setTimeout(() => {
      this.#startDeadline = null;
      this.#fail('START_TIMEOUT', `no ExecStart arrived within ${startSeconds} s of connecting; a client sends ExecStart first (spec §4.1)`);
    }, context.startTimeoutMs);

    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('end', () => this.#clientGone('the client closed the connection'));
    socket.on('error', (error) => {
      this.#clientGone(`connection error: ${error.message}`);
      socket.destroy();
    });
    socket.on('close', () => {
      this.#socketClosed = true;
      if (this.#linger !== null) clearTimeout(this.#linger);
      this.#clientGone('the connection closed');
      this.#maybeDone();
    });
    this.#writer.onDrain(() => this.#socketDrained());
  }

  /** The agent is stopping (spec §5 SHUTTING_DOWN): the command is hung up as if the client had left. */
  shutdown(): void {
    if (this.#phase === 'ended') return;
    this.#fail('SHUTTING_DOWN', 'the agent is shutting down; retry when it is back');
  }

  // ---- from the client ----

  #receive(chunk: Buffer): void {
    if (!this.#parsing) return; // after the end: read only to notice the client's close
    try {
      this.#decoder.push(chunk);
    } catch (error) {
      this.#parsing = false;
      if (error instanceof ProtocolError) {
        this.#log.info({ code: error.code, err: error.message }, 'protocol error from the client');
        this.#fail(error.code, error.message);
      } else {
        this.#log.error({ err: error }, 'unexpected failure handling a frame');
        this.#fail('INTERNAL_ERROR', `the agent failed: ${(error as Error).message}`);
      }
    }
  }

  /** Runs inside decoder.push: throwing here ends the session with a protocol error. */
  #onFrame(frame: RawFrame): void {
    const message = parseFrame(frame) as ClientMessage;
    if (!this.#state.clientFrame(frame.type)) return; // sent before the client learnt we ended
    if (message.type === FrameType.ExecStart) {
      this.#start(message);
    } else if (this.#phase === 'starting') {
      this.#queued.push(message);
    } else {
      this.#handle(message);
    }
  }

  #handle(message: ClientMessage): void {
    const command = this.#command;
    if (this.#phase !== 'running' || command === null) return;
    switch (message.type) {
      case FrameType.Stdin:
        if (!command.writeStdin(message.data)) {
          this.#stdinBlocked = true;
          this.#socket.pause();
        }
        return;
      case FrameType.StdinClose:
        command.closeStdin();
        return;
      case FrameType.WindowSize:
        command.resize(message.rows, message.cols);
        return;
      case FrameType.Signal:
        command.signal(message.signal);
        return;
      case FrameType.Ping:
        this.#writer.send(FrameType.Pong, encodePong(message.token));
        return;
      case FrameType.Pong:
        return;
      case FrameType.Error:
        this.#clientGone(`the client ended the session: ${message.code} ${message.message}`);
        return;
    }
  }

  // ---- starting the command ----

  #start(request: ExecStartMessage): void {
    this.#clearStartDeadline();
    this.#phase = 'starting';
    this.#request = request;
    this.#socket.pause(); // later frames wait in #queued until the command runs
    let plan: SpawnPlan;
    let env: Record<string, string>;
    try {
      ({ plan, env } = this.#plan(request));
    } catch (error) {
      if (error instanceof SessionError) return this.#fail(error.code, error.message);
      this.#log.error({ err: error }, 'cannot prepare the command');
      return this.#fail('INTERNAL_ERROR', `the agent could not prepare the command: ${(error as Error).message}`);
    }
    this.#log.info({ argv0: plan.argv[0], tty: plan.tty, user: request.user || undefined, cwd: plan.cwd }, 'starting');
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
      this.#fail('SPAWN_FAILED', `cannot start the command: ${(error as Error).message}`);
    }
  }

  #plan(request: ExecStartMessage): { plan: SpawnPlan; env: Record<string, string> } {
    const argv = request.argv.length > 0 ? request.argv : ['/bin/sh'];
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

  // ---- from the command (CommandObserver) ----

  started(pid: number): void {
    if (this.#phase !== 'starting') return;
    this.#phase = 'running';
    this.#writer.send(FrameType.Started, encodeStarted(pid, this.#sessionId));
    const timeout = this.#request!.timeoutSeconds;
    if (timeout > 0) {
      this.#cancelTimeout = setLongTimeout(timeout * 1000, () => {
        this.#timedOut = true;
        this.#log.info({ timeout }, 'timeout: killing the command');
        this.#command?.kill();
      });
    }
    if (this.#writer.backedUp) this.#pauseOutput();
    else this.#command!.resumeOutput();
    const queued = this.#queued;
    this.#queued = [];
    for (const message of queued) this.#handle(message);
    if (!this.#stdinBlocked) this.#socket.resume();
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
      return this.#fail('SPAWN_FAILED', failure.message);
    }
    const request = this.#request!;
    const outcome = classifyFailure(failure, { argv0: request.argv[0] ?? '/bin/sh', cwd: request.cwd || this.#context.defaultCwd, user: request.user });
    if (outcome instanceof SessionError) return this.#fail(outcome.code, outcome.message);
    // The command's own failure (spec §9.5): Started with pid 0, the reason on Stderr, Exit 127/126.
    this.#phase = 'running';
    this.#writer.send(FrameType.Started, encodeStarted(0, this.#sessionId));
    this.#writer.sendData(FrameType.Stderr, encodeUtf8(outcome.message));
    this.#end(FrameType.Exit, encodeExit({ kind: 0, code: outcome.exitCode, signal: 0, coreDumped: false, stdoutBytes: 0, stderrBytes: this.#writer.stderrBytes }));
    this.#log.info({ exitCode: outcome.exitCode }, 'command could not be run');
  }

  output(stream: OutputStream, chunk: Uint8Array): void {
    if (this.#phase !== 'running') return;
    if (!this.#writer.sendData(stream, chunk)) this.#pauseOutput();
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
    if (this.#phase === 'running') this.#socket.resume();
  }

  finished(): void {
    this.#commandFinished = true;
    this.#maybeDone();
  }

  // ---- flow control and the end ----

  #pauseOutput(): void {
    if (this.#outputPaused) return;
    this.#outputPaused = true;
    this.#command?.pauseOutput();
    this.#grace?.hold();
  }

  #socketDrained(): void {
    if (!this.#outputPaused || this.#phase !== 'running') return;
    this.#outputPaused = false;
    this.#command?.resumeOutput();
    this.#grace?.release();
  }

  #maybeSendExit(): void {
    if (this.#phase !== 'running' || this.#exit === undefined || !this.#outputEnded) return;
    this.#grace?.cancel();
    const status = this.#exit;
    if (status === null) {
      this.#log.error('the exec helper died before reporting how the command ended');
      return this.#fail('INTERNAL_ERROR', "the command's exit status was lost (the agent's exec helper died); see the agent's log");
    }
    const record = exitRecord(status, this.#timedOut, this.#writer.stdoutBytes, this.#writer.stderrBytes);
    this.#end(FrameType.Exit, encodeExit(record));
    this.#log.info(
      { exitCode: record.code, kind: record.kind, signal: record.signal || undefined, stdoutBytes: record.stdoutBytes, stderrBytes: record.stderrBytes, ms: Math.round(performance.now() - this.#startedAt) },
      'command ended',
    );
  }

  /** Ends the session with an Error frame (spec §3.3); a running command is hung up. */
  #fail(code: ErrorCodeName, message: string): void {
    if (this.#phase === 'ended') return;
    const running = this.#command !== null;
    this.#end(FrameType.Error, encodeError(code, message));
    if (running) this.#command!.abandon();
  }

  /** Sends the last frame and closes the connection once everything is flushed. */
  #end(type: typeof FrameType.Exit | typeof FrameType.Error, frame: Uint8Array): void {
    this.#clearStartDeadline();
    this.#phase = 'ended';
    this.#parsing = false;
    this.#cancelTimeout?.();
    this.#grace?.cancel();
    this.#writer.send(type, frame);
    this.#writer.end();
    this.#command?.release();
    // Keep reading, discarding, so that the client's close is noticed.
    this.#socket.resume();
    this.#socket.once('finish', () => {
      if (this.#socket.readableEnded) this.#socket.destroy();
      else if (!this.#socketClosed) this.#linger = setTimeout(() => this.#socket.destroy(), LINGER_MS);
    });
    if (this.#command === null) this.#commandFinished = true;
  }

  #clearStartDeadline(): void {
    if (this.#startDeadline !== null) clearTimeout(this.#startDeadline);
    this.#startDeadline = null;
  }

  /** Spec §9.9: the client left (or reset, or sent Error) before the end. */
  #clientGone(reason: string): void {
    if (this.#phase === 'ended') {
      // Both directions are done once the client closed and our last bytes are flushed.
      if (!this.#socketClosed && this.#socket.writableFinished) this.#socket.destroy();
      return;
    }
    this.#log.info({ reason }, 'client gone: hanging up the command');
    this.#clearStartDeadline();
    this.#phase = 'ended';
    this.#parsing = false;
    this.#cancelTimeout?.();
    this.#grace?.cancel();
    this.#socket.destroy();
    if (this.#command !== null) this.#command.abandon();
    else this.#commandFinished = true;
  }

  #maybeDone(): void {
    if (this.#socketClosed && this.#commandFinished) this.#resolveDone();
  }
}

/** A connection the agent will not serve (spec §9.10 TOO_MANY_SESSIONS): one Error, then close. */
export function refuseConnection(socket: Duplex, code: ErrorCodeName, message: string): void {
  socket.on('error', () => socket.destroy());
  socket.on('data', () => {}); // discard the request; read on to see the client close
  socket.end(encodeError(code, message));
  socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
}
