// The tar format as POSIX pax (ustar headers, 'x' extended records) writes it and GNU tar
// reads it; GNU's long-name records and base-256 numbers are read too. Pure: no I/O.
import { EntryKind } from '../../../../wire/index.js';

export const BLOCK = 512;
/** GNU tar's default record: an archive is padded to a multiple of it. */
export const RECORD = 20 * BLOCK;

const TYPE_OF_KIND: Partial<Record<EntryKind, number>> = {
  [EntryKind.File]: 0x30,
  [EntryKind.Hardlink]: 0x31,
  [EntryKind.Symlink]: 0x32,
  [EntryKind.CharDevice]: 0x33,
  [EntryKind.BlockDevice]: 0x34,
  [EntryKind.Directory]: 0x35,
  [EntryKind.Fifo]: 0x36,
};

const KIND_OF_TYPE: Readonly<Record<number, EntryKind>> = {
  0x00: EntryKind.File,
  0x30: EntryKind.File,
  0x37: EntryKind.File, // contiguous file: a file
  0x31: EntryKind.Hardlink,
  0x32: EntryKind.Symlink,
  0x33: EntryKind.CharDevice,
  0x34: EntryKind.BlockDevice,
  0x35: EntryKind.Directory,
  0x36: EntryKind.Fifo,
};

/** A member's header as a reader or writer sees it (names are bytes). */
export interface TarHeader {
  name: Uint8Array;
  kind: EntryKind;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSeconds: number;
  mtimeNanoseconds: number;
  linkname: Uint8Array;
  major: number;
  minor: number;
}

/** What a header block is: a member, an extended record for the next one, or the end. */
export type HeaderBlock =
  | { kind: 'member'; header: TarHeader }
  | { kind: 'pax'; size: number; global: boolean }
  | { kind: 'gnu-long'; size: number; field: 'name' | 'linkname' }
  | { kind: 'skip'; size: number }
  | { kind: 'zero' };

export class TarFormatError extends Error {}

const LIMITS = { mode: 0o7777777, id: 0o7777777, size: 0o77777777777, time: 0o77777777777, device: 0o7777777 };

/** A numeric field: octal text (NUL or space ended), or GNU's base-256 (high bit of the first byte). */
function readNumber(block: Uint8Array, at: number, length: number, what: string): number {
  if (block[at] & 0x80) {
    let v = BigInt(block[at] & 0x3f);
    const negative = (block[at] & 0x40) !== 0;
    for (let i = 1; i < length; i++) v = (v << 8n) | BigInt(block[at + i]);
    if (negative) v -= 1n << BigInt(8 * length - 2);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new TarFormatError(`the ${what} of a tar header is out of range`);
    return Number(v);
  }
  let text = '';
  for (let i = at; i < at + length && block[i] !== 0; i++) text += String.fromCharCode(block[i]);
  text = text.trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`the ${what} of a tar header is not a number: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function readText(block: Uint8Array, at: number, length: number): Uint8Array {
  const end = block.indexOf(0, at);
  return block.slice(at, end < 0 || end > at + length ? at + length : end);
}

function checksumOf(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

/** Reads one 512-byte header block. */
export function readHeaderBlock(block: Uint8Array): HeaderBlock {
  if (block.every((b) => b === 0)) return { kind: 'zero' };
  if (readNumber(block, 148, 8, 'checksum') !== checksumOf(block)) throw new TarFormatError('a tar header has a wrong checksum: the input is not a tar archive, or it is damaged');
  const type = block[156];
  const size = readNumber(block, 124, 12, 'size');
  if (type === 0x78 || type === 0x67) return { kind: 'pax', size, global: type === 0x67 };
  if (type === 0x4c || type === 0x4b) return { kind: 'gnu-long', size, field: type === 0x4c ? 'name' : 'linkname' };
  const kind = KIND_OF_TYPE[type];
  if (kind === undefined) return { kind: 'skip', size };
  let name = readText(block, 0, 100);
  const ustar = String.fromCharCode(...block.subarray(257, 262)) === 'ustar';
  if (ustar && block[345] !== 0) {
    const prefix = readText(block, 345, 155);
    name = Uint8Array.from([...prefix, 0x2f, ...name]);
  }
  return {
    kind: 'member',
    header: {
      name,
      kind,
      mode: readNumber(block, 100, 8, 'mode') & 0o7777,
      uid: readNumber(block, 108, 8, 'uid'),
      gid: readNumber(block, 116, 8, 'gid'),
      size: kind === EntryKind.File ? size : 0,
      mtimeSeconds: readNumber(block, 136, 12, 'mtime'),
      mtimeNanoseconds: 0,
      linkname: readText(block, 157, 100),
      major: ustar ? readNumber(block, 329, 8, 'device major') : 0,
      minor: ustar ? readNumber(block, 337, 8, 'device minor') : 0,
    },
  };
}

/** Pax records (`len key=value\n`), applied to the member that follows. */
export function applyPax(records: Uint8Array, header: Partial<TarHeader>): void {
  let at = 0;
  while (at < records.length) {
    const space = records.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(Buffer.from(records.subarray(at, space)).toString('latin1'), 10);
    if (!Number.isInteger(length) || length <= 0 || at + length > records.length) throw new TarFormatError('a pax extended header is damaged');
    const record = records.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    const key = Buffer.from(record.subarray(0, eq)).toString('latin1');
    const value = record.subarray(eq + 1);
    const text = () => Buffer.from(value).toString('latin1');
    switch (key) {
      case 'path':
        header.name = value.slice();
        break;
      case 'linkpath':
        header.linkname = value.slice();
        break;
      case 'size':
        header.size = Number(text());
        break;
      case 'uid':
        header.uid = Number(text());
        break;
      case 'gid':
        header.gid = Number(text());
        break;
      case 'mtime': {
        // paxTime's inverse: "-1.5" is 1.5 s before the epoch, stored as -2 s and 500,000,000 ns.
        const [whole, fraction = ''] = text().split('.');
        const nanos = Number(fraction.padEnd(9, '0').slice(0, 9));
        const negative = whole.startsWith('-') && nanos > 0;
        header.mtimeSeconds = Number(whole) - (negative ? 1 : 0);
        header.mtimeNanoseconds = negative ? 1_000_000_000 - nanos : nanos;
        break;
      }
    }
    at += length;
  }
}

function writeOctal(block: Uint8Array, at: number, length: number, value: number): void {
  const text = value.toString(8).padStart(length - 1, '0');
  for (let i = 0; i < length - 1; i++) block[at + i] = text.charCodeAt(i);
  block[at + length - 1] = 0;
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  // The length counts its own digits.
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return Buffer.concat([Buffer.from(String(length)), rest]);
}

function headerBlock(name: Uint8Array, type: number, h: TarHeader, size: number, linkname: Uint8Array): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block.set(name.subarray(0, 100), 0);
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, Math.min(h.uid, LIMITS.id));
  writeOctal(block, 116, 8, Math.min(h.gid, LIMITS.id));
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.max(0, Math.min(h.mtimeSeconds, LIMITS.time)));
  block[156] = type;
  block.set(linkname.subarray(0, 100), 157);
  block.set(Buffer.from('ustar\x0000'), 257);
  writeOctal(block, 329, 8, Math.min(h.major, LIMITS.device));
  writeOctal(block, 337, 8, Math.min(h.minor, LIMITS.device));
  writeOctal(block, 148, 7, checksumOf(block));
  block[155] = 0x20;
  return block;
}

/** A time as pax writes it: decimal seconds, the fraction to the nanosecond (`-1.5` for 1.5 s before the epoch). */
export function paxTime(seconds: number, nanoseconds: number): string {
  if (nanoseconds === 0) return String(seconds);
  if (seconds >= 0) return `${seconds}.${String(nanoseconds).padStart(9, '0')}`;
  return `-${-(seconds + 1)}.${String(1_000_000_000 - nanoseconds).padStart(9, '0')}`;
}

/** Zero bytes that pad `size` bytes of data to whole blocks. */
export function padding(size: number): Uint8Array {
  const rest = size % BLOCK;
  return new Uint8Array(rest === 0 ? 0 : BLOCK - rest);
}

/**
 * The header blocks of one member: a pax extended header first when a value does not fit
 * ustar (a name or link over 100 bytes, a size of 8 GiB or more, large ids, a time before
 * 1970 or beyond ustar's range), then the ustar header.
 */
export function encodeHeader(h: TarHeader): Uint8Array {
  const type = TYPE_OF_KIND[h.kind];
  if (type === undefined) throw new TarFormatError(`a ${h.kind} cannot be written to a tar archive`);
  const pax: Uint8Array[] = [];
  if (h.name.length > 100) pax.push(paxRecord('path', h.name));
  if (h.linkname.length > 100) pax.push(paxRecord('linkpath', h.linkname));
  if (h.size > LIMITS.size) pax.push(paxRecord('size', Buffer.from(String(h.size))));
  if (h.uid > LIMITS.id) pax.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > LIMITS.id) pax.push(paxRecord('gid', Buffer.from(String(h.gid))));
  // Times to the nanosecond, as GNU tar's pax format keeps them (ustar has whole seconds only).
  if (h.mtimeSeconds < 0 || h.mtimeSeconds > LIMITS.time || h.mtimeNanoseconds !== 0) pax.push(paxRecord('mtime', Buffer.from(paxTime(h.mtimeSeconds, h.mtimeNanoseconds))));
  const member = headerBlock(h.name, type, h, h.kind === EntryKind.File ? h.size : 0, h.linkname);
  if (pax.length === 0) return member;
  const records = Buffer.concat(pax);
  const paxName = Buffer.concat([Buffer.from('PaxHeaders/'), h.name.subarray(Math.max(0, h.name.length - 80))]);
  const paxHeader = headerBlock(paxName, 0x78, { ...h, mode: 0o644, uid: 0, gid: 0, major: 0, minor: 0 }, records.length, new Uint8Array(0));
  return Buffer.concat([paxHeader, records, padding(records.length), member]);
}
