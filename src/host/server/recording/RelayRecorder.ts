import { type ExecRequest, FrameType, type ResumeRequest, decodeSingleFrame, frameTypeOf, parseFrame } from '../../../wire/index.js';
import type { RecordingSummary, SessionRecording } from './SessionRecording.js';

/** What a recording needs to know of the session when its file is new. */
export interface RecordingStart {
  session: string;
  /** Null for a resume: the request was made on another connection. */
  request: ExecRequest | null;
  /** The terminal's size as the relay last saw it. */
  cols: number;
  rows: number;
}

/** Where a relay's recorder finds (or creates) its session's recording. */
export interface RecordingSource {
  readonly recordInput: boolean;
  recording(start: RecordingStart): SessionRecording;
}

/** Stdin typed before Started that waits for the recording, at most. */
const EARLY_INPUT_BYTES = 64 * 1024;
/** The agent's terminal size when a request gives none (src/guest). */
export const DEFAULT_WINDOW = { cols: 80, rows: 24 };

/**
 * One relayed connection's part in its session's recording. The relay tells it what passes
 * (the request or resume, Started/Resumed, output, input, resizes, the exit); it knows which
 * sessions are recorded (those with a terminal), where this connection's output sits in the
 * session's stream (a resume starts at its offsets), and the size the terminal has before
 * the recording exists.
 */
export class RelayRecorder {
  readonly #source: RecordingSource;
  #request: ExecRequest | null = null;
  /** Stdout offset of the next byte this connection relays. */
  #offset = 0;
  #cols = DEFAULT_WINDOW.cols;
  #rows = DEFAULT_WINDOW.rows;
  #recording: SessionRecording | null = null;
  #early: Uint8Array[] = [];
  #earlyBytes = 0;
  #exited = false;

  constructor(source: RecordingSource) {
    this.#source = source;
  }

  /** A new session. */
  request(request: ExecRequest): void {
    this.#request = request;
    if (request.window) ({ cols: this.#cols, rows: this.#rows } = request.window);
  }

  /** A resume (spec §10.6): this connection's output starts at the client's stdout offset. */
  resume(resume: ResumeRequest): void {
    this.#offset = resume.stdoutBytes;
  }

  /** Started or Resumed; only sessions with a terminal are recorded. */
  started(sessionId: string, tty: boolean, stdoutLost = 0): void {
    if (!tty || this.#recording) return;
    this.#offset += stdoutLost;
    const recording = this.#source.recording({ session: sessionId, request: this.#request, cols: this.#cols, rows: this.#rows });
    this.#recording = recording;
    recording.attach();
    // A resume's client sends its window after Resumed, recorded as a resize then.
    if (this.#request === null) recording.marker('resumed');
    for (const early of this.#early) recording.input(early);
    this.#early = [];
  }

  output(payload: Uint8Array): void {
    if (!this.#recording) return;
    this.#recording.output(this.#offset, payload);
    this.#offset += payload.length;
  }

  input(payload: Uint8Array): void {
    if (this.#recording) this.#recording.input(payload);
    else if (this.#source.recordInput && this.#earlyBytes + payload.length <= EARLY_INPUT_BYTES) {
      this.#early.push(Buffer.from(payload));
      this.#earlyBytes += payload.length;
    }
  }

  /** A control frame the relay passes to the agent, whole and already checked: WindowSize is a resize. */
  control(frame: Uint8Array): void {
    if (frameTypeOf(frame) !== FrameType.WindowSize) return;
    const decoded = decodeSingleFrame(frame, frame.length);
    const m = decoded && parseFrame(decoded);
    if (m?.type === FrameType.WindowSize) this.resize(m.cols, m.rows);
  }

  resize(cols: number, rows: number): void {
    this.#cols = cols;
    this.#rows = rows;
    this.#recording?.resize(cols, rows);
  }

  exit(code: number): void {
    this.#exited = true;
    this.#recording?.exit(code);
  }

  /** The connection ends: the summary for its audit line, once what it recorded is written. */
  end(): Promise<RecordingSummary> | undefined {
    const recording = this.#recording;
    if (!recording) return undefined;
    this.#recording = null;
    // Without an exit the session lives on (detached, to be resumed) or was ended by an error.
    if (!this.#exited) recording.marker('disconnected');
    return recording.release();
  }
}
