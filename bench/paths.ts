// Where things are, from the compiled bench (dist/bench/…) or from source under tsx.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../src/host/projectRoot.js';

export const PROJECT = findProjectRoot();
export const DIST = join(PROJECT, 'dist');

/** A compiled entry point (e.g. `src/guest/main.js`, `bench/mux-process.js`) under dist/. */
export function compiled(path: string): string {
  const file = join(DIST, path);
  if (!existsSync(file)) throw new Error(`bench: ${file} is missing: run \`npm run build\` first (npm run bench does)`);
  return file;
}
