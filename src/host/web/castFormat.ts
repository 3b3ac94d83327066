// asciicast v3 as the player reads it (https://docs.asciinema.org/manual/asciicast/v3/): the
// header line, then [interval, code, data] lines; comments (#) and a last line cut short
// (a file still being written) are skipped.

export interface CastHeader {
  version: number;
  term: { cols: number; rows: number };
  timestamp?: number;
  command?: string;
}

export interface CastEvent {
  /** Seconds from the start, idle gaps shortened to the limit. */
  time: number;
  code: string;
  data: string;
}

export interface Cast {
  header: CastHeader;
  events: CastEvent[];
  /** Seconds from the start to the last event. */
  duration: number;
}

/** Gaps longer than this play as this (asciinema's idle_time_limit): a shell left idle for an hour plays at once. */
export const IDLE_LIMIT_SECONDS = 2;

export class CastFormatError extends Error {}

export function parseCast(text: string, idleLimit = IDLE_LIMIT_SECONDS): Cast {
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  const header = JSON.parse(lines[0] ?? '') as CastHeader;
  if (header.version !== 3 || !(header.term?.cols > 0) || !(header.term?.rows > 0)) {
    throw new CastFormatError('not an asciicast v3 recording (its first line must be a header with "version": 3 and "term")');
  }
  const events: CastEvent[] = [];
  let time = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '' || line.startsWith('#')) continue;
    const e = JSON.parse(line) as unknown;
    if (!Array.isArray(e) || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new CastFormatError(`line ${i + 1} of the recording is not an event`);
    }
    time += Math.min(Math.max(0, e[0]), idleLimit);
    events.push({ time, code: e[1], data: e[2] });
  }
  return { header, events, duration: time };
}

/** `COLSxROWS` of a resize event, or null. */
export function parseSize(data: string): { cols: number; rows: number } | null {
  const m = /^(\d+)x(\d+)$/.exec(data);
  return m ? { cols: Number(m[1]), rows: Number(m[2]) } : null;
}
