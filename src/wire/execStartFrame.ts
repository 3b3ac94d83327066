import { DEFAULT_MAX_PAYLOAD, ExecStartField, HEADER_SIZE } from './constants.js';
import { attachFieldValue } from './attach.js';
import { type ExecStartContent, encodeExecStart, writeHeader } from './encoder.js';
import { InvalidRequestError } from './errors.js';
import type { AttachRequest, ExecRequest, ResumeRequest } from './messages.js';
import { parseExecStart } from './parser.js';
import { encodeUtf8 } from './text.js';

/**
 * A request together with its ExecStart frame (spec §4.1), so that a request is encoded —
 * and so validated — once, where it is made, and its bytes are what travels: a client
 * checks a request before it connects and sends those very bytes; a relay forwards the
 * frame its client sent while it keeps the request for its audit.
 */
export class ExecStartFrame {
  /** The whole frame, header included. */
  readonly bytes: Uint8Array;
  readonly version: number;
  /** What to run; all defaults in a resume, which carries no request (§10.6). */
  readonly request: ExecRequest;
  /** Version 2: who owns the session (§10.7); undefined when the frame names none. */
  readonly owner: string | undefined;
  /** Version 2: the session this frame resumes (§10.6). */
  readonly resume: ResumeRequest | undefined;

  private constructor(bytes: Uint8Array, version: number, content: ExecRequest & { owner?: string; resume?: ResumeRequest }) {
    const { owner, resume, ...request } = content;
    this.bytes = bytes;
    this.version = version;
    this.request = request;
    this.owner = owner;
    this.resume = resume;
  }

  /**
   * Encodes a request (or a resume) canonically (§4.1.2), in the oldest version that carries
   * it unless `version` is given; throws InvalidRequestError for one it cannot carry.
   */
  static encode(content: ExecStartContent, version?: number, maxPayload: number = DEFAULT_MAX_PAYLOAD): ExecStartFrame {
    const bytes = encodeExecStart(content, version, maxPayload);
    const { owner, resume, lingerSeconds, overflow } = content;
    return new ExecStartFrame(bytes, new DataView(bytes.buffer, bytes.byteOffset).getUint16(HEADER_SIZE), {
      argv: content.argv ?? [],
      env: content.env ?? {},
      cwd: content.cwd ?? '',
      user: content.user ?? '',
      tty: content.tty ?? false,
      timeoutSeconds: content.timeoutSeconds ?? 0,
      ...(content.window ? { window: content.window } : {}),
      ...(lingerSeconds ? { lingerSeconds } : {}),
      ...(overflow === 'drop' ? { overflow } : {}),
      ...(owner ? { owner } : {}),
      ...(resume ? { resume } : {}),
    });
  }

  /**
   * A frame as a peer sent it (`bytes` must stay unchanged: copy it first if it is a view of
   * a buffer that will be reused); throws the ProtocolError its payload deserves.
   */
  static decode(bytes: Uint8Array, supportedVersions?: readonly number[]): ExecStartFrame {
    const { type: _type, version, ...content } = parseExecStart(bytes.subarray(HEADER_SIZE), supportedVersions);
    return new ExecStartFrame(bytes, version, content);
  }

  /**
   * The same frame with `owner` as its owner field (§10.7), whatever owner it named before:
   * what the API server forwards. The other fields keep their bytes and order; the owner
   * goes where ascending tags put it.
   */
  withOwner(owner: string): ExecStartFrame {
    if (owner.includes('\0')) throw new InvalidRequestError('an owner must not contain a NUL character');
    return this.#withField(ExecStartField.Owner, encodeUtf8(owner));
  }

  /**
   * The same resume with `attach` as its attach field (§10.11), as withOwner does for the
   * owner: the API server clears or sets the any-owner flag, which only it may grant.
   */
  withAttach(attach: AttachRequest): ExecStartFrame {
    if (!this.resume) throw new InvalidRequestError('only a resume says how it attaches');
    return this.#withField(ExecStartField.Attach, attachFieldValue(attach));
  }

  #withField(tag: number, value: Uint8Array): ExecStartFrame {
    const payload = this.bytes.subarray(HEADER_SIZE);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const kept: Array<[number, number]> = [];
    let insertAt = -1;
    let length = 2;
    for (let at = 2; at < payload.length; ) {
      const fieldTag = payload[at];
      const end = at + 5 + view.getUint32(at + 1);
      if (fieldTag !== tag) {
        if (insertAt < 0 && fieldTag > tag) insertAt = kept.length;
        kept.push([at, end]);
        length += end - at;
      }
      at = end;
    }
    if (insertAt < 0) insertAt = kept.length;
    length += 5 + value.length;
    const frame = new Uint8Array(HEADER_SIZE + length);
    writeHeader(frame, 0, this.bytes[HEADER_SIZE - 1], length);
    frame.set(payload.subarray(0, 2), HEADER_SIZE);
    let out = HEADER_SIZE + 2;
    kept.forEach(([start, end], i) => {
      if (i === insertAt) out = writeField(frame, out, tag, value);
      frame.set(payload.subarray(start, end), out);
      out += end - start;
    });
    if (insertAt === kept.length) writeField(frame, out, tag, value);
    return ExecStartFrame.decode(frame);
  }
}

function writeField(frame: Uint8Array, at: number, tag: number, value: Uint8Array): number {
  frame[at] = tag;
  new DataView(frame.buffer, frame.byteOffset).setUint32(at + 1, value.length);
  frame.set(value, at + 5);
  return at + 5 + value.length;
}
