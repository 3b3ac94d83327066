import { type ExecStartFrame, FrameType, type RawFrame, encodeNotice, parseFrame } from '../../../wire/index.js';

/** Client frames that would reach the command: an observer's are dropped (§10.11). */
const INPUT_TYPES: ReadonlySet<number> = new Set([FrameType.Stdin, FrameType.StdinClose, FrameType.WindowSize, FrameType.Signal]);

/**
 * A relayed session's role (spec §10.11): the writer, or an observer. The server grants an
 * observer attach the any-owner flag exactly when the token may observe others on the
 * instance (ObservePolicy), so the agent can check it; an observer's input is dropped here
 * (and again by the agent), and it is told so once. A writer becomes an observer when the
 * agent says so: Resumed's observer flag, or the Notice of a take-over.
 */
export class AttachRole {
  readonly #observesAnyOwner: boolean;
  #observer = false;
  #told = false;

  /** `observesAnyOwner`: the token's claim lets its subject observe others' sessions on this instance. */
  constructor(observesAnyOwner: boolean) {
    this.#observesAnyOwner = observesAnyOwner;
  }

  get observer(): boolean {
    return this.#observer;
  }

  /** The ExecStart to forward (its owner already the subject's): an observer's any-owner flag as the claim says, whatever the client sent. */
  grant(execStart: ExecStartFrame): ExecStartFrame {
    const attach = execStart.resume?.attach;
    if (attach?.mode !== 'observe') return execStart;
    this.#observer = true;
    return attach.anyOwner === this.#observesAnyOwner ? execStart : execStart.withAttach({ ...attach, anyOwner: this.#observesAnyOwner });
  }

  /** An agent frame, before it is relayed: learns when this connection observes. */
  agentFrame(frame: RawFrame): void {
    if (frame.type !== FrameType.Resumed && frame.type !== FrameType.Notice) return;
    const m = parseFrame(frame);
    if ((m.type === FrameType.Resumed && m.observer) || (m.type === FrameType.Notice && m.kind === 'observing')) this.#observer = true;
  }

  /** Whether a client frame of `type` is dropped: an observer's input. */
  drops(type: number): boolean {
    return this.#observer && INPUT_TYPES.has(type);
  }

  /** The Notice an observer gets for its first dropped input; null afterwards. */
  noticeOnce(): Uint8Array | null {
    if (this.#told) return null;
    this.#told = true;
    return encodeNotice('read-only', 'you are observing this session: your input, resizes and signals are dropped (the writer types; attach without --read-only, or --take-over, to write)');
  }
}
