import { ErrorCode, type ErrorCodeName, SUPPORTED_VERSIONS } from './constants.js';

/**
 * The root of every error this project throws on purpose, on either side: a stable `code`
 * for programs, and a message that tells the user what happened and what to do. Each layer
 * narrows `Code` to the union of its own codes; callers test `instanceof` a class, or the
 * code of a typed error, never the shape of an unknown object.
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A violation of the protocol by the peer (or by our own caller, for encoders).
 * `code` is the stable name from spec §5; `wireCode` is the number an Error frame carries.
 */
export class ProtocolError extends CodedError<ErrorCodeName> {
  readonly wireCode: number;

  constructor(code: ErrorCodeName, message: string) {
    super(code, message);
    this.wireCode = ErrorCode[code];
  }
}

export class MalformedFrameError extends ProtocolError {
  constructor(message: string) {
    super('MALFORMED_FRAME', message);
  }
}

export class FrameTooLargeError extends ProtocolError {
  readonly length: number;
  readonly limit: number;

  constructor(length: number, limit: number) {
    super(
      'FRAME_TOO_LARGE',
      `frame payload of ${length} bytes exceeds the limit of ${limit} bytes; split data into smaller frames`,
    );
    this.length = length;
    this.limit = limit;
  }
}

export class UnknownFrameTypeError extends ProtocolError {
  readonly frameType: number;

  constructor(frameType: number) {
    super(
      'UNKNOWN_FRAME_TYPE',
      `unknown frame type 0x${frameType.toString(16).padStart(2, '0')}; the peer speaks a protocol this implementation does not`,
    );
    this.frameType = frameType;
  }
}

export class UnexpectedFrameError extends ProtocolError {
  constructor(message: string) {
    super('UNEXPECTED_FRAME', message);
  }
}

export class UnsupportedVersionError extends ProtocolError {
  readonly version: number;
  readonly supported: readonly number[];

  constructor(version: number, supported: readonly number[] = SUPPORTED_VERSIONS) {
    super(
      'UNSUPPORTED_VERSION',
      `protocol version ${version} is not supported; supported versions: ${supported.join(', ')}`,
    );
    this.version = version;
    this.supported = supported;
  }
}

export class InvalidRequestError extends ProtocolError {
  constructor(message: string) {
    super('INVALID_REQUEST', message);
  }
}

/** The decoder was used after it reported an error; it accepts no more input. */
export class DecoderClosedError extends CodedError<'DECODER_CLOSED'> {
  constructor() {
    super('DECODER_CLOSED', 'the frame decoder stopped at an earlier protocol error and accepts no more input');
  }
}
