import type { Terminal } from '@xterm/xterm';

/** A terminal's buffer (scrollback and screen), one string per line, right-trimmed. */
export function bufferLines(term: Terminal): string[] {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
  return lines;
}
