// Reading recordings in tests: an asciicast v3 file parsed strictly (every complete line JSON),
// and a screen: what a headless xterm.js shows after the output (and resizes) were written.
import xtermHeadless from '@xterm/headless';

export interface Cast {
  header: { version: number; term: { cols: number; rows: number; type?: string }; timestamp: number; command?: string; hypeman: { session: string; instance: string; owner: string } };
  /** [interval seconds, code, data]. */
  events: Array<[number, string, string]>;
  /** Bytes after the last newline (a line cut short), if any. */
  partial: string;
}

/** Parses a file: every complete line must be JSON (throws otherwise). */
export function parseCast(text: string): Cast {
  const lines = text.split('\n');
  const partial = lines.pop() ?? '';
  const [first, ...rest] = lines;
  const header = JSON.parse(first) as Cast['header'];
  const events = rest.map((line, i) => {
    const e = JSON.parse(line) as unknown;
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new Error(`line ${i + 2} is not an event: ${line.slice(0, 200)}`);
    }
    return e as [number, string, string];
  });
  return { header, events, partial };
}

/** A headless terminal fed step by step: output written, resizes applied, in order. */
export class HeadlessScreen {
  readonly term: InstanceType<typeof xtermHeadless.Terminal>;

  constructor(cols: number, rows: number) {
    this.term = new xtermHeadless.Terminal({ cols, rows, allowProposedApi: true, scrollback: 1000 });
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.term.write(data, resolve));
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  /** Every line of the buffer (scrollback and screen), right-trimmed, and the cursor. */
  snapshot(): { lines: string[]; cursor: [number, number]; size: string } {
    const b = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return { lines, cursor: [b.cursorX, b.cursorY], size: `${this.term.cols}x${this.term.rows}` };
  }

  dispose(): void {
    this.term.dispose();
  }
}

/** Replays a recording's output and resizes into a headless terminal of its header's size. */
export async function replay(cast: Cast): Promise<HeadlessScreen> {
  const screen = new HeadlessScreen(cast.header.term.cols, cast.header.term.rows);
  for (const [, code, data] of cast.events) {
    if (code === 'o') await screen.write(data);
    else if (code === 'r') {
      const [cols, rows] = data.split('x').map(Number);
      screen.resize(cols, rows);
    }
  }
  return screen;
}
