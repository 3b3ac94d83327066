import { AttachFlag, AttachModeCode, type AttachMode, FrameType, HEADER_SIZE, NoticeKind, type NoticeKindName } from './constants.js';
import { InvalidRequestError, MalformedFrameError } from './errors.js';
import { frameOf } from './frameBuffer.js';
import type { AttachRequest, NoticeMessage } from './messages.js';
import { decodeUtf8, encodeUtf8, truncateUtf8 } from './text.js';

// Observers and a single writer (spec §10.11): the resume's attach field and the Notice frame.

const MODES: readonly AttachMode[] = ['write', 'take-over', 'observe'];
const MODE_CODES: Readonly<Record<AttachMode, number>> = { write: AttachModeCode.Write, 'take-over': AttachModeCode.TakeOver, observe: AttachModeCode.Observe };
const KNOWN_FLAGS = AttachFlag.Live | AttachFlag.AnyOwner;

/** The attach field's value (`0x12`): u8 mode · u8 flags; throws MalformedFrameError. */
export function parseAttachField(value: Uint8Array): AttachRequest {
  if (value.length !== 2) throw new MalformedFrameError('ExecStart attach field must be 2 bytes (u8 mode, u8 flags)');
  const mode = MODES[value[0]];
  if (mode === undefined) throw new MalformedFrameError(`ExecStart attach mode ${value[0]} is unknown (0 write, 1 take over, 2 observe)`);
  const flags = value[1];
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new MalformedFrameError(`ExecStart attach flags 0x${flags.toString(16)} set reserved bits`);
  const attach = { mode, live: (flags & AttachFlag.Live) !== 0, anyOwner: (flags & AttachFlag.AnyOwner) !== 0 };
  if (mode !== 'observe' && (attach.live || attach.anyOwner)) throw new MalformedFrameError('ExecStart attach flags live and any-owner are for observers only (mode 2)');
  return attach;
}

/** The attach field's value for `attach`; throws InvalidRequestError for a combination the field cannot carry. */
export function attachFieldValue(attach: AttachRequest): Uint8Array {
  const mode = MODE_CODES[attach.mode];
  if (mode === undefined) throw new InvalidRequestError(`attach mode must be "write", "take-over" or "observe", got ${JSON.stringify(attach.mode)}`);
  if (attach.mode !== 'observe' && (attach.live || attach.anyOwner)) throw new InvalidRequestError('only an observer attaches live or to another owner\'s session');
  return Uint8Array.of(mode, (attach.live ? AttachFlag.Live : 0) | (attach.anyOwner ? AttachFlag.AnyOwner : 0));
}

/** Longest Notice message in bytes: a line for a human. */
const MAX_NOTICE_MESSAGE = 4096;

const NOTICE_KINDS: Readonly<Record<number, NoticeKindName>> = { [NoticeKind.ReadOnly]: 'read-only', [NoticeKind.Observing]: 'observing' };

/** Notice (`0x82`): u8 kind · text, the text cut to 4 KiB. */
export function encodeNotice(kind: NoticeMessage['kind'], message: string): Uint8Array {
  const code = kind === 'read-only' ? NoticeKind.ReadOnly : kind === 'observing' ? NoticeKind.Observing : Number(kind.slice('NOTICE_'.length));
  const text = truncateUtf8(encodeUtf8(message), MAX_NOTICE_MESSAGE);
  const { frame } = frameOf(FrameType.Notice, 1 + text.length);
  frame[HEADER_SIZE] = code;
  frame.set(text, HEADER_SIZE + 1);
  return frame;
}

/** A Notice's payload; a kind this side does not know is named `NOTICE_<n>` (its message still reads). */
export function parseNotice(payload: Uint8Array): NoticeMessage {
  const kind = NOTICE_KINDS[payload[0]] ?? (`NOTICE_${payload[0]}` as const);
  return { type: FrameType.Notice, kind, message: decodeUtf8(payload.subarray(1), 'the Notice message') };
}
