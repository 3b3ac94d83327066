import { mkdirSync, chmodSync } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type AsciicastHeader, commandLine } from './asciicast.js';
import { RelayRecorder, type RecordingStart } from './RelayRecorder.js';
import { type RecordingLimits, SessionRecording } from './SessionRecording.js';

export interface RecordingOptions {
  /** The directory (made 0700): one `<session id>.cast` per session. */
  dir: string;
  /** Also record what is typed (`i` events). */
  recordInput: boolean;
  /** A file's limit in bytes. */
  maxBytes: number;
  /** Files not written for this long are removed (at start and every sweep); 0: kept for good. */
  maxAgeSeconds: number;
}

export const DEFAULT_RECORD_MAX_BYTES = 100 * 1024 * 1024;
/** Bytes waiting for the disk (per session) beyond which its recording stops. */
const MAX_BACKLOG = 8 * 1024 * 1024;
/** Detached sessions whose recording state is kept to go on with (the oldest forgotten first). */
const KEPT_DETACHED = 1024;
/** The longest command the header carries (it is for display). */
const MAX_COMMAND = 4096;
/** The header line read back when serving a file, at most. */
const MAX_HEADER = 64 * 1024;
const SESSION_ID = /^[0-9a-f]{32}$/;

/** A recording as GET …/recording finds it. */
export interface StoredRecording {
  path: string;
  /** Bytes that are complete (the file may be growing). */
  size: number;
  header: AsciicastHeader;
}

/**
 * The server's recording directory: makes each TTY session's SessionRecording (one per
 * session id, shared by the connections that relay it), keeps a detached session's state to
 * go on with when it is resumed, removes files older than the maximum age, and finds a file
 * for the endpoint. The owner of a recording is in its own header (`hypeman.owner`).
 */
export class RecordingStore {
  readonly options: RecordingOptions;
  readonly #limits: RecordingLimits;
  readonly #logger: Logger;
  readonly #sessions = new Map<string, SessionRecording>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(options: RecordingOptions, logger: Logger) {
    this.options = options;
    this.#logger = logger;
    this.#limits = { maxBytes: options.maxBytes, maxBacklog: MAX_BACKLOG, recordInput: options.recordInput };
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    // A directory made earlier, or by someone else, is closed to others as well.
    chmodSync(options.dir, 0o700);
  }

  get recordInput(): boolean {
    return this.options.recordInput;
  }

  /** Removes old files now and then every tenth of the maximum age (at most hourly). */
  async start(): Promise<void> {
    if (this.options.maxAgeSeconds <= 0) return;
    await this.sweep();
    const every = Math.min(this.options.maxAgeSeconds * 100, 3600_000);
    this.#sweeper = setInterval(() => void this.sweep(), Math.max(every, 1000));
    this.#sweeper.unref();
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  /** A recorder for one relayed connection owned by `owner` on `instance`. */
  recorder(owner: string, instance: string): RelayRecorder {
    return new RelayRecorder({
      recordInput: this.options.recordInput,
      recording: (start) => this.#recording(start, owner, instance),
    });
  }

  #recording(start: RecordingStart, owner: string, instance: string): SessionRecording {
    // Also when it has finished: a recording stopped at its limit stays stopped.
    const known = this.#sessions.get(start.session);
    if (known) return known;
    const header: AsciicastHeader = {
      version: 3,
      term: { cols: start.cols, rows: start.rows, ...(start.request?.env.TERM ? { type: start.request.env.TERM } : {}) },
      timestamp: Math.floor(Date.now() / 1000),
      ...(start.request ? { command: commandLine(start.request.argv.length ? start.request.argv : ['/bin/sh']).slice(0, MAX_COMMAND) } : {}),
      hypeman: { session: start.session, instance, owner },
    };
    const recording = new SessionRecording(this.#path(start.session), header, this.#limits, start.request !== null);
    this.#sessions.set(start.session, recording);
    this.#forgetOld();
    return recording;
  }

  /** Forgets finished recordings nobody relays, and the oldest detached ones past the limit. */
  #forgetOld(): void {
    let detached = 0;
    for (const [id, r] of [...this.#sessions].reverse()) {
      if (r.attached > 0) continue;
      if (r.finished || ++detached > KEPT_DETACHED) this.#sessions.delete(id);
    }
  }

  #path(session: string): string {
    return join(this.options.dir, `${session}.cast`);
  }

  /** The recording of `session` (32 hex digits), or null when there is none. */
  async find(session: string): Promise<StoredRecording | null> {
    if (!SESSION_ID.test(session)) return null;
    const path = this.#path(session);
    let header: AsciicastHeader;
    let size: number;
    try {
      const handle = await open(path, 'r');
      try {
        size = (await handle.stat()).size;
        const buffer = Buffer.alloc(Math.min(MAX_HEADER, size));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
        if (newline < 0) return null;
        header = JSON.parse(buffer.subarray(0, newline).toString('utf8')) as AsciicastHeader;
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const live = this.#sessions.get(session);
    if (live && live.attached > 0) size = Math.min(size, live.bytesOnDisk);
    return { path, size, header };
  }

  /** Removes recordings not written for longer than the maximum age; returns how many. */
  async sweep(): Promise<number> {
    const cutoff = Date.now() - this.options.maxAgeSeconds * 1000;
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch (err) {
      this.#logger.warn({ err, dir: this.options.dir }, 'cannot read the recording directory');
      return 0;
    }
    for (const name of names) {
      const session = name.endsWith('.cast') ? name.slice(0, -5) : '';
      if (!SESSION_ID.test(session) || (this.#sessions.get(session)?.attached ?? 0) > 0) continue;
      const path = join(this.options.dir, name);
      try {
        if ((await stat(path)).mtimeMs >= cutoff) continue;
        await unlink(path);
        this.#sessions.delete(session);
        removed += 1;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn({ err, path }, 'cannot remove an old recording');
      }
    }
    if (removed > 0) this.#logger.info({ removed, dir: this.options.dir }, 'removed old session recordings');
    return removed;
  }
}
