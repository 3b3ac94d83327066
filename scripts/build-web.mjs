#!/usr/bin/env node
// Bundles the browser terminal (src/host/web) with esbuild into dist/web/assets, file names
// carrying a content hash so the server can let browsers cache them for good, and writes
// dist/web/manifest.json naming them for the server (src/host/server/WebPages.ts).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const outDir = join(root, 'dist/web');
const assetsDir = join(outDir, 'assets');

// Old hashed files would pile up otherwise.
rmSync(outDir, { recursive: true, force: true });
mkdirSync(assetsDir, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { terminal: 'src/host/web/main.ts' },
  bundle: true,
  // A classic script, so that it can read its own nonce from document.currentScript.
  format: 'iife',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: true,
  outdir: assetsDir,
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const manifest = {};
for (const [path, output] of Object.entries(result.metafile.outputs)) {
  if (!output.entryPoint) continue;
  manifest.script = basename(path);
  if (output.cssBundle) manifest.style = basename(output.cssBundle);
}
if (!manifest.script || !manifest.style) throw new Error(`build-web: esbuild produced no script or style: ${JSON.stringify(result.metafile.outputs)}`);
writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
