import type { Duplex } from 'node:stream';
import { CodedError, type ErrorCodeName, KeepAlive, encodePing } from '../../../wire/index.js';
import { readSharedChunks } from '../../dial/SharedReads.js';
import { AgentOutbox } from './AgentOutbox.js';

/** What a link tells the relay that owns it. */
export interface AgentLinkEvents {
  /** Bytes from the agent; a view that is valid only during the call (SharedReads). */
  bytes(chunk: Uint8Array): void;
  /** The link cannot go on: end the session with this Error. */
  fail(code: ErrorCodeName, message: string): void;
  /** Credit to return: this many data bytes the agent's connection has taken since the last. */
  credit(bytes: number): void;
}

export interface AgentLinkOptions {
  /** Opens the byte stream to the instance's agent (hybrid or native vsock). */
  connectAgent(waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex>;
  instance: string;
  /** The data frames joined on their way: Stdin (exec) or UploadData (copy). */
  dataType: number;
  /** Whether data bytes are paid for with credit (the framed dialect, §8.1.1). */
  returnsCredit: boolean;
  /** How long a reached agent may take to send its first frame. */
  startTimeoutMs: number;
  /** Ping an agent silent this long (once `startKeepAlive`); give up when not even a Pong comes in as long again. 0: never. */
  keepAliveMs: number;
  /** Start pinging as soon as the agent is reached (an operation without Started), not on startKeepAlive(). */
  keepAliveOnceReached?: boolean;
  /** For messages: what the agent's first frame answers, what ends the session, what an end before that leaves unknown. */
  words: { start: string; end: string; unknown: string };
}

/** Credit is returned in batches of at least this many bytes, or when the agent link idles. */
const CREDIT_BATCH = 256 * 1024;
/** How long an Error for the agent may take to be written before its connection is dropped. */
const AGENT_CLOSE_MS = 1000;

/**
 * A relay's connection to the agent (spec §8.1, §12.10): connecting it, the client's
 * frames waiting for it (joined into blocks, data frames into frames of up to 64 KiB) and
 * handed over a block per write, credit for the data it took, pausing it while the client
 * is backed up, a bound on its first answer, and pings while it is silent.
 */
export class AgentLink {
  readonly #events: AgentLinkEvents;
  readonly #options: AgentLinkOptions;
  readonly #outbox: AgentOutbox;
  readonly #abort = new AbortController();
  #agent: Duplex | null = null;
  #connecting = false;
  #flushScheduled = false;
  /** Data bytes handed to the agent's connection and not yet written by it. */
  #dataInFlight = 0;
  #creditPending = 0;
  #startTimer: NodeJS.Timeout | null = null;
  #paused = false;
  #keepAlive: KeepAlive | null = null;
  /** The token of our own Ping in flight: its Pong is ours, not the client's. */
  #pingToken: Uint8Array | null = null;
  #closed = false;

  constructor(events: AgentLinkEvents, options: AgentLinkOptions) {
    this.#events = events;
    this.#options = options;
    this.#outbox = new AgentOutbox(options.dataType);
  }

  /** Data bytes the client sent that the agent's connection has not taken yet (§8.1.1's "ahead"). */
  get waitingData(): number {
    return this.#outbox.stdinBytes + this.#dataInFlight;
  }

  /** Frames other than data waiting for the agent's connection. */
  get waitingFrames(): number {
    return this.#outbox.controlFrames;
  }

  connect(waitForAgentSeconds: number): void {
    if (this.#connecting || this.#agent || this.#closed) return;
    this.#connecting = true;
    this.#options.connectAgent(waitForAgentSeconds, this.#abort.signal).then(
      (agent) => this.#attach(agent),
      (err: Error) => {
        if (this.#closed) return;
        if (err instanceof CodedError && err.code === 'INSTANCE_NOT_RUNNING') this.#events.fail('INSTANCE_NOT_RUNNING', err.message);
        else this.#events.fail('AGENT_UNREACHABLE', `cannot reach the agent of instance ${this.#options.instance}: ${err.message}`);
      },
    );
  }

  /** A whole frame for the agent (a view that may die after the call: it is copied). */
  pushFrame(frame: Uint8Array): void {
    this.#outbox.pushFrame(frame);
    this.#scheduleFlush();
  }

  /** Data bytes for the agent, joined to the data frame before them (copied). */
  pushData(payload: Uint8Array): void {
    this.#outbox.pushStdin(payload);
    this.#scheduleFlush();
  }

  /** A frame of the relay's own, outside the client's stream (a Pong), written at once. */
  write(frame: Uint8Array): void {
    this.#agent?.write(frame);
  }

  /** An agent frame arrived: it is alive, and has answered. */
  heard(): void {
    this.#keepAlive?.heard();
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#startTimer = null;
  }

  /** Whether a Pong answers our own Ping (then it is not the client's). */
  ownPong(token: Uint8Array): boolean {
    if (this.#pingToken === null || !Buffer.from(token.buffer, token.byteOffset, token.byteLength).equals(this.#pingToken)) return false;
    this.#pingToken = null;
    return true;
  }

  /** The client's send buffer holds `buffered` bytes: above the high-water mark the agent waits. */
  clientBuffered(buffered: number, highWater: number): void {
    if (!this.#paused && buffered > highWater) {
      this.#paused = true;
      this.#agent?.pause();
    } else if (this.#paused && buffered < highWater / 2) {
      this.#paused = false;
      this.#agent?.resume();
    }
  }

  /** Pings the agent whenever it has been silent for the keep-alive interval (§8.1: agent liveness). */
  startKeepAlive(): void {
    const interval = this.#options.keepAliveMs;
    if (interval <= 0 || this.#keepAlive || this.#closed) return;
    this.#keepAlive = new KeepAlive(
      interval,
      (token) => {
        this.#pingToken = token;
        this.#agent?.write(encodePing(token));
      },
      () => this.#events.fail('PEER_UNRESPONSIVE', `the agent of instance ${this.#options.instance} stopped answering (no Pong within ${interval / 1000} s); the VM may be frozen`),
      // Silence is ours while we hold the agent back or our writes to it are queued.
      () => this.#paused || (this.#agent?.writableLength ?? 0) > 0,
    );
  }

  /**
   * Ends the link: what is still running behind it in the agent is hung up (§9.9) or
   * stopped, or detached when its session lingers (§10.5). `flush`: an Error waits among the
   * frames (the client's, or the relay's), and they are written first, whatever the
   * connection's backlog, the connection closed once they are out (at most AGENT_CLOSE_MS
   * later), so that a lingering command is hung up at once rather than detached.
   */
  close(flush = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#keepAlive?.stop();
    this.#abort.abort();
    const agent = this.#agent;
    if (agent === null) return;
    // A connection the agent already ended (AGENT_DISCONNECTED) takes nothing more.
    if (flush && agent.writable) for (const batch of this.#outbox.take()) agent.write(batch.bytes);
    if (flush && agent.writable && agent.writableLength > 0) {
      agent.end();
      const timer = setTimeout(() => agent.destroy(), AGENT_CLOSE_MS);
      agent.once('finish', () => {
        clearTimeout(timer);
        agent.destroy();
      });
      return;
    }
    agent.end();
    agent.destroy();
  }

  #attach(agent: Duplex): void {
    if (this.#closed) {
      agent.destroy();
      return;
    }
    this.#agent = agent;
    // The agent's connection ended before the session did: the agent died, or its VM stopped.
    const gone = (reason: string) => {
      if (!this.#closed) this.#events.fail('AGENT_DISCONNECTED', `${reason}; ${this.#options.words.unknown}`);
    };
    const { end } = this.#options.words;
    agent.on('end', () => gone(`the agent closed the connection before ${end}`));
    agent.on('close', () => gone(`the connection to the agent closed before ${end}`));
    agent.on('error', (err) => gone(`the connection to the agent failed: ${err.message}`));
    agent.on('drain', () => this.#flush());
    // Every chunk is consumed before the handler returns (uWS copies what it sends), so a
    // stream read into the shared buffer needs no buffer of its own.
    const onChunk = (chunk: Uint8Array) => {
      if (!this.#closed) this.#events.bytes(chunk);
    };
    if (!readSharedChunks(agent, onChunk)) agent.on('data', onChunk);
    // Dialers hand the stream over paused, so that nothing is read before we listen.
    agent.resume();
    this.#flush();
    const startMs = this.#options.startTimeoutMs;
    this.#startTimer = setTimeout(
      () => this.#events.fail('PEER_UNRESPONSIVE', `the agent of instance ${this.#options.instance} accepted the connection but did not ${this.#options.words.start} within ${startMs / 1000} s; the VM may be frozen or overloaded`),
      startMs,
    );
    if (this.#options.keepAliveOnceReached) this.startKeepAlive();
  }

  /**
   * Once per turn of the event loop, after uWebSockets.js has delivered every message of
   * its read: the frames gathered meanwhile go out in a few writes instead of one each.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#agent === null) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Hands what waits to the agent's connection, unless it is full (then its 'drain' calls again). */
  #flush(): void {
    const agent = this.#agent;
    if (this.#closed || agent === null || this.#outbox.empty || agent.writableNeedDrain) return;
    agent.cork();
    for (const batch of this.#outbox.take()) {
      const { stdinBytes } = batch;
      this.#dataInFlight += stdinBytes;
      agent.write(batch.bytes, () => this.#taken(stdinBytes));
    }
    agent.uncork();
  }

  /** The agent's connection wrote a batch: its data is no longer ahead of the agent. */
  #taken(bytes: number): void {
    this.#dataInFlight -= bytes;
    if (bytes === 0 || !this.#options.returnsCredit || this.#closed) return;
    this.#creditPending += bytes;
    if (this.#creditPending >= CREDIT_BATCH || (this.#agent?.writableLength ?? 0) === 0) {
      this.#events.credit(this.#creditPending);
      this.#creditPending = 0;
    }
  }
}
