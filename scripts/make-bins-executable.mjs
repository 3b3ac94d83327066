#!/usr/bin/env node
// After tsc: marks every "bin" of package.json executable (tsc keeps the #! line but writes
// files 0644), so `./dist/.../main.js` and a linked bin run directly.
import { chmodSync, existsSync, readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
for (const path of Object.values(pkg.bin ?? {})) {
  const file = new URL(path, root);
  if (existsSync(file)) chmodSync(file, 0o755);
}
