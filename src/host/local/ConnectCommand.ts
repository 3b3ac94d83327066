/**
 * The host side's `CONNECT <port>\n` command, parsed exactly as Cloud Hypervisor's vsock
 * muxer parses it (virtio-devices/src/vsock/unix/muxer.rs, `parse_port_from_read_command`),
 * so the simulated hypervisor socket accepts and refuses the same byte sequences.
 *
 * The muxer reads the command one byte at a time (so bytes after the newline stay queued
 * for the guest) into a 32-byte buffer and re-parses after every byte:
 * 1. fewer than 8 bytes: a newline already → invalid, else read on;
 * 2. the first 8 bytes must be `connect ` or `CONNECT ` (not mixed case, exactly one space);
 * 3. 32 bytes read → invalid (so the longest command is 31 bytes, newline included);
 * 4. no newline yet → read on;
 * 5. the bytes between the prefix and the newline, as UTF-8, trimmed of Unicode white
 *    space, must parse as a Rust `u32` (`+` allowed, digits only, at most 4294967295).
 */
export const CONNECT_COMMAND_BUFFER = 32;

const PREFIX_LENGTH = 8;
const LOWER_PREFIX = 'connect ';
const UPPER_PREFIX = 'CONNECT ';

/** What the parser says after a byte: a port, read on, or refuse. */
export const NEED_MORE = -1;
export const INVALID = -2;

// ignoreBOM keeps a leading U+FEFF in the text, as Rust's from_utf8 does.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `command` is every byte read so far (1 to 32 of them). Returns a port, NEED_MORE or INVALID. */
export function parseConnectCommand(command: Uint8Array): number {
  const newline = command.indexOf(0x0a);
  if (command.length < PREFIX_LENGTH) return newline >= 0 ? INVALID : NEED_MORE;
  const prefix = String.fromCharCode(...command.subarray(0, PREFIX_LENGTH));
  if (prefix !== LOWER_PREFIX && prefix !== UPPER_PREFIX) return INVALID;
  if (command.length >= CONNECT_COMMAND_BUFFER) return INVALID;
  if (newline < 0) return NEED_MORE;
  let text: string;
  try {
    text = utf8.decode(command.subarray(PREFIX_LENGTH, newline));
  } catch {
    return INVALID;
  }
  const digits = trimRustWhitespace(text);
  if (!/^\+?[0-9]+$/.test(digits)) return INVALID;
  const port = Number(digits);
  return port <= 0xffffffff ? port : INVALID;
}

/** Rust's `char::is_whitespace` (the Unicode White_Space property), which `str::trim` uses. */
const RUST_WHITESPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

// JavaScript's trim() differs: it also strips U+FEFF and keeps U+0085.
function trimRustWhitespace(text: string): string {
  return text.replace(RUST_WHITESPACE, '');
}
