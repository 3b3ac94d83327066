/**
 * asciicast v3 lines (https://docs.asciinema.org/manual/asciicast/v3/): a JSON header, then one
 * `[interval, code, data]` array per line, the interval in seconds since the previous event.
 * Pure: the recorder decides what and when, these only spell it.
 */

/** What the server adds to the header, beside the format's own fields; players ignore it. */
export interface RecordingOrigin {
  /** The session id (32 hex digits): also the file's name. */
  session: string;
  instance: string;
  /** The subject that owns the session: who may read the recording, with the observe claim (ObservePolicy.ts). */
  owner: string;
}

export interface AsciicastHeader {
  version: 3;
  term: { cols: number; rows: number; type?: string };
  /** Unix time in seconds of the recording's start. */
  timestamp: number;
  command?: string;
  hypeman: RecordingOrigin;
}

/** The event codes this server writes. */
export const EventCode = {
  Output: 'o',
  Input: 'i',
  Resize: 'r',
  Marker: 'm',
  Exit: 'x',
} as const;
export type EventCode = (typeof EventCode)[keyof typeof EventCode];

export function headerLine(header: AsciicastHeader): string {
  return `${JSON.stringify(header)}\n`;
}

/** One event line; `intervalUs` in whole microseconds, as asciinema keeps time. */
export function eventLine(intervalUs: number, code: EventCode, data: string): string {
  return `[${formatInterval(intervalUs)}, "${code}", ${JSON.stringify(data)}]\n`;
}

/** Seconds with up to six decimals, trailing zeros dropped (asciinema's own spelling: 0.0, 1.25). */
export function formatInterval(us: number): string {
  const whole = Math.floor(us / 1_000_000);
  const fraction = String(us % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  return `${whole}.${fraction || '0'}`;
}

/** argv as one shell-like line for the header's `command` (display only, never run). */
export function commandLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
