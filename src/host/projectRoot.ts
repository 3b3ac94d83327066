// The checkout a module belongs to, from src/ under tsx or from dist/ once compiled.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Walks up from `start` to the hypeman-exec checkout. tsc copies package.json into dist/, so
 * a package.json alone does not tell the checkout: it is the one beside a tsconfig.json.
 */
export function findProjectRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'tsconfig.json')) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hypeman-exec') return dir;
    if (dirname(dir) === dir) throw new Error(`no hypeman-exec checkout (package.json beside tsconfig.json) above ${start}`);
  }
}
