import { DEFAULT_MAX_PAYLOAD, HEADER_SIZE, PROTOCOL_VERSION } from './constants.js';
import { encodeExecStart } from './encoder.js';
import type { ExecRequest } from './messages.js';
import { parseExecStart } from './parser.js';

/**
 * A request together with its ExecStart frame (spec §4.1), so that a request is encoded —
 * and so validated — once, where it is made, and its bytes are what travels: a client
 * checks a request before it connects and sends those very bytes; a relay forwards the
 * frame its client sent while it keeps the request for its audit.
 */
export class ExecStartFrame {
  /** The whole frame, header included. */
  readonly bytes: Uint8Array;
  readonly request: ExecRequest;

  private constructor(bytes: Uint8Array, request: ExecRequest) {
    this.bytes = bytes;
    this.request = request;
  }

  /** Encodes a request canonically (§4.1.2); throws InvalidRequestError for one it cannot carry. */
  static encode(request: Partial<ExecRequest>, version: number = PROTOCOL_VERSION, maxPayload: number = DEFAULT_MAX_PAYLOAD): ExecStartFrame {
    const bytes = encodeExecStart(request, version, maxPayload);
    return new ExecStartFrame(bytes, {
      argv: request.argv ?? [],
      env: request.env ?? {},
      cwd: request.cwd ?? '',
      user: request.user ?? '',
      tty: request.tty ?? false,
      timeoutSeconds: request.timeoutSeconds ?? 0,
      ...(request.window ? { window: request.window } : {}),
    });
  }

  /**
   * A frame as a peer sent it (`bytes` must stay unchanged: copy it first if it is a view of
   * a buffer that will be reused); throws the ProtocolError its payload deserves.
   */
  static decode(bytes: Uint8Array, supportedVersions?: readonly number[]): ExecStartFrame {
    const { type: _type, version: _version, ...request } = parseExecStart(bytes.subarray(HEADER_SIZE), supportedVersions);
    return new ExecStartFrame(bytes, request);
  }
}
