/** setTimeout's longest delay; Node fires longer ones after 1 ms instead. */
const MAX_DELAY_MS = 0x7fffffff;

/**
 * A timeout of any length (ExecStart's timeout reaches 2^32 − 1 seconds, far beyond the
 * 24.8 days setTimeout takes). Returns a function that cancels it.
 */
export function setLongTimeout(delayMs: number, callback: () => void): () => void {
  let timer: NodeJS.Timeout;
  const deadline = Date.now() + delayMs;
  const arm = (remaining: number) => {
    timer = setTimeout(() => {
      const left = deadline - Date.now();
      if (left > 0) arm(left);
      else callback();
    }, Math.min(remaining, MAX_DELAY_MS));
  };
  arm(delayMs);
  return () => clearTimeout(timer);
}
