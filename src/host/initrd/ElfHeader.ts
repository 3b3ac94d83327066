/**
 * The ELF file header, read the same way for executables and libraries (their program
 * headers, ElfDependencies) and for kernel modules (their sections, KernelModules).
 */
import { InitrdError } from './errors.js';

export interface ElfHeader {
  readonly elfClass: 32 | 64;
  readonly littleEndian: boolean;
  /** e_type: 1 relocatable (a kernel module), 2 executable, 3 shared object. */
  readonly type: number;
  /** e_machine, e.g. 62 for x86-64. */
  readonly machine: number;
  readonly phoff: number;
  readonly phentsize: number;
  readonly phnum: number;
  readonly shoff: number;
  readonly shentsize: number;
  readonly shnum: number;
  readonly shstrndx: number;
  /** Readers of the file's integers in its byte order; `word` is 4 or 8 bytes by class. */
  readonly u16: (b: Buffer, offset: number) => number;
  readonly u32: (b: Buffer, offset: number) => number;
  readonly word: (b: Buffer, offset: number) => number;
}

/** The header's bytes: an ELF64 header is 64 bytes, an ELF32 one 52. */
export const ELF_HEADER_BYTES = 64;

export function elfInvalid(path: string, why: string): InitrdError {
  return new InitrdError('ELF_INVALID', `${path} is not a usable ELF file (${why}); point the builder at the real file`);
}

export function parseElfHeader(ident: Buffer, path: string): ElfHeader {
  if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46) throw elfInvalid(path, 'no ELF magic');
  const elfClass = ident[4] === 2 ? 64 : ident[4] === 1 ? 32 : undefined;
  const littleEndian = ident[5] === 1 ? true : ident[5] === 2 ? false : undefined;
  if (elfClass === undefined || littleEndian === undefined) throw elfInvalid(path, 'unknown class or byte order');
  const is64 = elfClass === 64;
  if (is64 && ident.length < 64) throw elfInvalid(path, 'truncated header');
  const u16 = (b: Buffer, o: number) => (littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number) => (is64 ? Number(littleEndian ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  return {
    elfClass,
    littleEndian,
    type: u16(ident, 16),
    machine: u16(ident, 18),
    phoff: word(ident, is64 ? 32 : 28),
    shoff: word(ident, is64 ? 40 : 32),
    phentsize: u16(ident, is64 ? 54 : 42),
    phnum: u16(ident, is64 ? 56 : 44),
    shentsize: u16(ident, is64 ? 58 : 46),
    shnum: u16(ident, is64 ? 60 : 48),
    shstrndx: u16(ident, is64 ? 62 : 50),
    u16,
    u32,
    word,
  };
}

/** The contents of the section called `name` in a whole ELF file, or undefined if it has none. */
export function elfSection(file: Buffer, name: string, path: string): Buffer | undefined {
  const h = parseElfHeader(file, path);
  const is64 = h.elfClass === 64;
  if (h.shnum === 0) return undefined;
  if (h.shoff + h.shnum * h.shentsize > file.length || h.shstrndx >= h.shnum) throw elfInvalid(path, 'truncated section headers');
  const section = (i: number) => {
    const at = h.shoff + i * h.shentsize;
    const offset = h.word(file, at + (is64 ? 24 : 16));
    const size = h.word(file, at + (is64 ? 32 : 20));
    if (offset + size > file.length) throw elfInvalid(path, `section ${i} runs past the end of the file`);
    return { nameOffset: h.u32(file, at), offset, size };
  };
  const names = section(h.shstrndx);
  for (let i = 0; i < h.shnum; i++) {
    const s = section(i);
    const at = names.offset + s.nameOffset;
    const end = file.indexOf(0, at);
    if (file.toString('latin1', at, end < 0 ? names.offset + names.size : end) === name) return file.subarray(s.offset, s.offset + s.size);
  }
  return undefined;
}
