// Where things are, from the compiled bench (dist/bench/…) or from source under tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: no package.json above the benchmark; run it from the checkout');
    dir = up;
  }
  return dir;
}

export const PROJECT = findProjectRoot();
export const DIST = join(PROJECT, 'dist');

/** A compiled entry point (e.g. `src/guest/main.js`, `bench/mux-process.js`) under dist/. */
export function compiled(path: string): string {
  const file = join(DIST, path);
  if (!existsSync(file)) throw new Error(`bench: ${file} is missing: run \`npm run build\` first (npm run bench does)`);
  return file;
}
