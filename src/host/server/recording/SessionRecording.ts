import type { Hash } from 'node:crypto';
import { basename } from 'node:path';
import { AppendFile } from './AppendFile.js';
import { type AsciicastHeader, EventCode, eventLine, headerLine } from './asciicast.js';
import { type OpenedRecording, openRecordingFile } from './openRecordingFile.js';

/** Why a recording stopped before its session ended. */
export type StopReason = 'size_limit' | 'backlog' | 'write_error';

/** What the session's audit line says of its recording. */
export interface RecordingSummary {
  /** The file's name in the recording directory. */
  file: string;
  /** Bytes in the file, and their sha256 (hex): the file as it is when the line is written. */
  bytes: number;
  sha256: string;
  stopped?: StopReason;
  /** Why nothing could be written (the directory is gone, the disk is full…). */
  error?: string;
}

export interface RecordingLimits {
  /** The file never grows past this; the last event is a marker saying it stopped. */
  maxBytes: number;
  /** Bytes waiting for the disk beyond which recording stops rather than hold memory. */
  maxBacklog: number;
  recordInput: boolean;
}

/** Room kept under maxBytes for the marker that says recording stopped. */
const STOP_MARKER_ROOM = 256;

/** Microseconds on a monotonic clock. */
export function nowUs(): number {
  return Math.round(performance.now() * 1000);
}

/**
 * One session's recording file: the events of every connection relaying the session (a
 * resume goes on in the same file), in order, as asciicast v3. Events are spelled and
 * counted (bytes, sha256) as they happen and handed to an AppendFile; none waits for the
 * disk. Until the file is open, they wait in memory, copied, within the backlog limit.
 */
export class SessionRecording {
  readonly path: string;
  readonly #limits: RecordingLimits;
  /** The header for a new file; a file that exists already keeps its own. */
  readonly #header: AsciicastHeader;
  #file: AppendFile | null = null;
  /** Opening or closing the file, in turn. */
  #chain: Promise<void> = Promise.resolve();
  #attached = 0;
  /** Calls made before the file was open, run once it is. */
  #pending: Array<() => void> = [];
  #pendingBytes = 0;
  #bytes = 0;
  /** Bytes in the file when this process opened it (the rest are the writer's). */
  #openedAt = 0;
  #hash: Hash | null = null;
  #lastUs = nowUs();
  /** Stdout bytes of the session recorded so far (an offset in its stream); unknown at first for a file found on disk. */
  #stdoutRecorded: number | undefined;
  #output = new TextDecoder('utf-8');
  readonly #input = new TextDecoder('utf-8');
  #size: string;
  #exited = false;
  #stopped: StopReason | undefined;
  #error: string | undefined;

  constructor(path: string, header: AsciicastHeader, limits: RecordingLimits, knownStdout: boolean) {
    this.path = path;
    this.#header = header;
    this.#limits = limits;
    this.#size = `${header.term.cols}x${header.term.rows}`;
    this.#stdoutRecorded = knownStdout ? 0 : undefined;
  }

  get attached(): number {
    return this.#attached;
  }

  /** The session ended (its exit is recorded), or recording it stopped: nobody will go on with it. */
  get finished(): boolean {
    return this.#exited || this.#stopped !== undefined || this.#error !== undefined;
  }

  /** Bytes of the file that are complete on disk (servable while it is written). */
  get bytesOnDisk(): number {
    return this.#file ? this.#openedAt + this.#file.writtenBytes : this.#bytes;
  }

  /** A connection relays the session from now on: the file is opened if it is not. */
  attach(): void {
    this.#attached += 1;
    if (this.#attached === 1) this.#chain = this.#chain.then(() => this.#open());
  }

  /** A connection stopped relaying it: the summary once what it recorded is written. */
  async release(): Promise<RecordingSummary> {
    this.#attached -= 1;
    if (this.#attached === 0) this.#chain = this.#chain.then(() => this.#close());
    await this.#chain;
    await this.#file?.drained();
    return this.summary();
  }

  summary(): RecordingSummary {
    return {
      file: basename(this.path),
      bytes: this.#bytes,
      sha256: this.#hash ? this.#hash.copy().digest('hex') : '',
      ...(this.#stopped ? { stopped: this.#stopped } : {}),
      ...(this.#error ? { error: this.#error } : {}),
    };
  }

  // ---- events: each takes its time when called, and is written in call order -------------

  /** Stdout at `offset` in the session's stream; bytes recorded already (a resume's replay) are skipped. */
  output(offset: number, payload: Uint8Array): void {
    this.#event(payload, (at, bytes) => this.#writeOutput(at, offset, bytes!));
  }

  input(payload: Uint8Array): void {
    if (!this.#limits.recordInput) return;
    this.#event(payload, (at, bytes) => this.#write(at, EventCode.Input, this.#input.decode(bytes!, { stream: true })));
  }

  resize(cols: number, rows: number): void {
    this.#event(undefined, (at) => {
      const size = `${cols}x${rows}`;
      if (size === this.#size) return;
      this.#size = size;
      this.#write(at, EventCode.Resize, size);
    });
  }

  marker(label: string): void {
    this.#event(undefined, (at) => this.#write(at, EventCode.Marker, label));
  }

  exit(code: number): void {
    this.#event(undefined, (at) => {
      this.#write(at, EventCode.Exit, String(code));
      this.#exited = true;
    });
  }

  /**
   * Records at once when the file is open; else later, with a copy of the payload made now
   * (the caller's view dies when it returns) and the time of now.
   */
  #event(payload: Uint8Array | undefined, record: (at: number, payload: Uint8Array | undefined) => void): void {
    if (this.finished) return;
    const at = nowUs();
    if (this.#file) {
      record(at, payload);
      return;
    }
    this.#pendingBytes += payload?.length ?? 0;
    if (this.#pendingBytes > this.#limits.maxBacklog) {
      // Nothing is written before the file is open: the stop shows only in the audit line.
      this.#stopped = 'backlog';
      this.#pending = [];
      return;
    }
    const copy = payload && Buffer.from(payload);
    this.#pending.push(() => record(at, copy));
  }

  #writeOutput(at: number, offset: number, bytes: Uint8Array): void {
    let recorded = this.#stdoutRecorded ?? offset;
    if (offset > recorded) {
      this.#write(at, EventCode.Marker, `${offset - recorded} bytes of output were not recorded`);
      this.#output = new TextDecoder('utf-8');
      recorded = offset;
    }
    const end = offset + bytes.length;
    if (end <= recorded) return;
    this.#stdoutRecorded = end;
    const text = this.#output.decode(bytes.subarray(recorded - offset), { stream: true });
    if (text !== '') this.#write(at, EventCode.Output, text);
  }

  #write(at: number, code: EventCode, data: string): void {
    if (this.finished) return;
    const file = this.#file!;
    if (file.error) {
      this.#stopped = 'write_error';
      return;
    }
    const line = Buffer.from(eventLine(Math.max(0, at - this.#lastUs), code, data));
    if (this.#bytes + line.length + STOP_MARKER_ROOM > this.#limits.maxBytes) {
      this.#stop(at, 'size_limit', `recording stopped: the file reached its limit of ${this.#limits.maxBytes} bytes (--record-max-bytes)`);
      return;
    }
    if (file.queuedBytes + line.length > this.#limits.maxBacklog) {
      this.#stop(at, 'backlog', `recording stopped: the disk fell ${this.#limits.maxBacklog} bytes behind the session`);
      return;
    }
    this.#lastUs = Math.max(at, this.#lastUs);
    this.#append(line);
  }

  #stop(at: number, reason: StopReason, label: string): void {
    this.#append(Buffer.from(eventLine(Math.max(0, at - this.#lastUs), EventCode.Marker, label)));
    this.#lastUs = Math.max(at, this.#lastUs);
    this.#stopped = reason;
  }

  #append(line: Buffer): void {
    this.#bytes += line.length;
    this.#hash!.update(line);
    this.#file!.append(line);
  }

  async #open(): Promise<void> {
    let opened: OpenedRecording;
    try {
      opened = await openRecordingFile(this.path, this.#hash ? { bytes: this.#bytes, hash: this.#hash } : undefined);
    } catch (err) {
      this.#error = `the recording cannot be opened: ${(err as Error).message}`;
      this.#pending = [];
      return;
    }
    const resumed = opened.bytes > 0;
    if (resumed && opened.hash !== this.#hash) {
      // A file this process did not write last (a server before this one): the time since
      // its last event is the time since it was written.
      this.#lastUs = nowUs() - Math.max(0, Date.now() - opened.mtimeMs) * 1000;
      this.#stdoutRecorded = undefined;
    }
    this.#bytes = opened.bytes;
    this.#openedAt = opened.bytes;
    this.#hash = opened.hash;
    this.#file = new AppendFile(opened.file);
    if (!resumed) {
      this.#append(Buffer.from(headerLine(this.#header)));
    }
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const record of pending) record();
  }

  async #close(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    await file.close();
    if (file.error && !this.#error) this.#error = `writing the recording failed: ${file.error.message}`;
    this.#bytes = this.#openedAt + file.writtenBytes;
    this.#file = null;
  }
}
