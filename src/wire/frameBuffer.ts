import { HEADER_SIZE } from './constants.js';
import { FrameTooLargeError } from './errors.js';

/** Writes a frame header (u32 payload length, u8 type) into `target` at `at`, in place. */
export function writeHeader(target: Uint8Array, at: number, type: number, length: number): void {
  target[at] = length >>> 24;
  target[at + 1] = (length >>> 16) & 0xff;
  target[at + 2] = (length >>> 8) & 0xff;
  target[at + 3] = length & 0xff;
  target[at + 4] = type;
}

/** A zeroed frame of `payloadLength` bytes with its header written, and a view to fill it. */
export function frameOf(type: number, payloadLength: number): { frame: Uint8Array; view: DataView } {
  const frame = new Uint8Array(HEADER_SIZE + payloadLength);
  writeHeader(frame, 0, type, payloadLength);
  return { frame, view: new DataView(frame.buffer, frame.byteOffset, frame.byteLength) };
}

/**
 * A request frame of version and tag-length-value fields (ExecStart §4.1, the copy
 * requests §12.1), the fields written in the order given.
 */
export function fieldFrame(type: number, version: number, fields: ReadonlyArray<readonly [number, Uint8Array]>, maxPayload: number): Uint8Array {
  if (!Number.isInteger(version) || version < 0 || version > 0xffff) {
    throw new RangeError(`version must be a 16-bit unsigned integer, got ${version}`);
  }
  let length = 2;
  for (const [, value] of fields) length += 5 + value.length;
  if (length > maxPayload) throw new FrameTooLargeError(length, maxPayload);
  const { frame, view } = frameOf(type, length);
  view.setUint16(HEADER_SIZE, version);
  let at = HEADER_SIZE + 2;
  for (const [tag, value] of fields) {
    frame[at] = tag;
    view.setUint32(at + 1, value.length);
    frame.set(value, at + 5);
    at += 5 + value.length;
  }
  return frame;
}
