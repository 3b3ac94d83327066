/**
 * The names in `candidates` that `wanted` is probably a slip for, nearest first (at most
 * `max`): the same but for case, one inside the other (`web` and `web-1`, three characters
 * or more), or a few edits apart (`local1` and `local-1`, `wbe` and `web`; a third of the
 * length at most).
 */
export function nearNames(wanted: string, candidates: Iterable<string>, max = 3): string[] {
  const w = wanted.toLowerCase();
  const scored: Array<[number, string]> = [];
  for (const name of new Set(candidates)) {
    if (name === wanted) continue;
    const n = name.toLowerCase();
    const inside = Math.min(n.length, w.length) >= 3 && (n.includes(w) || w.includes(n));
    const distance = n === w ? 0 : inside ? 1 : editDistance(w, n);
    if (distance <= Math.max(1, Math.floor(w.length / 3))) scored.push([distance, name]);
  }
  return scored
    .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]))
    .slice(0, max)
    .map(([, name]) => name);
}

/** Edits from a to b: insertions, deletions, substitutions, and swaps of neighbours (`wbe`, `web`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
