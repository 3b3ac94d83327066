import type { CopyProgress } from '../../client/copy/CopyStreams.js';

/** Copies smaller than this show no bar: they are over before one would help. */
export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;
/** Redraws at most this often. */
const REDRAW_MS = 100;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units, one decimal from KiB on (`512 B`, `1.5 MiB`). */
export function formatBytes(n: number): string {
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[unit]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** Where the bar is drawn: a terminal's stream (stderr). */
export interface ProgressTerminal {
  write(text: string): unknown;
  readonly columns?: number;
}

/**
 * A one-line progress bar on a terminal (`hypeman-exec cp`): bytes, the total when known,
 * the rate, and the time left; redrawn in place at most ten times a second, and only for
 * copies of a few MiB or more. `done()` erases it.
 */
export class ProgressBar {
  readonly #out: ProgressTerminal;
  readonly #started = performance.now();
  #drawn = 0;
  #shown = false;

  constructor(out: ProgressTerminal) {
    this.#out = out;
  }

  update(p: CopyProgress): void {
    const now = performance.now();
    if (now - this.#drawn < REDRAW_MS) return;
    if (p.totalBytes !== undefined ? p.totalBytes < PROGRESS_MIN_BYTES : p.bytes < PROGRESS_MIN_BYTES) return;
    this.#drawn = now;
    this.#shown = true;
    this.#out.write(`\r${this.line(p, (now - this.#started) / 1000)}\x1b[K`);
  }

  /** The bar's text after `seconds` of copying. */
  line(p: CopyProgress, seconds: number): string {
    const rate = seconds > 0 ? p.bytes / seconds : 0;
    const speed = `${formatBytes(Math.round(rate))}/s`;
    if (p.totalBytes === undefined || p.totalBytes === 0) return `${formatBytes(p.bytes)}  ${speed}`;
    const fraction = Math.min(1, p.bytes / p.totalBytes);
    const eta = rate > 0 ? formatDuration((p.totalBytes - p.bytes) / rate) : '--:--';
    const text = `${formatBytes(p.bytes)} / ${formatBytes(p.totalBytes)}  ${speed}  ETA ${eta}`;
    const width = Math.max(10, Math.min(40, (this.#out.columns ?? 80) - text.length - 8));
    const full = Math.round(fraction * width);
    return `${String(Math.floor(fraction * 100)).padStart(3)}% [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${text}`;
  }

  /** Erases the bar, if it was drawn. */
  done(): void {
    if (this.#shown) this.#out.write('\r\x1b[K');
    this.#shown = false;
  }
}
