#!/usr/bin/env node
// `npm start`: builds whatever is missing or out of date (the TypeScript output, the native
// pieces npm ci normally builds), then runs the compiled entry dist/src/host/local/start.js
// in this same process, so Ctrl-C and SIGTERM reach it directly. Arguments pass through.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const entry = join(root, 'dist/src/host/local/start.js');

function newestSource(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (name.endsWith('.ts')) newest = Math.max(newest, info.mtimeMs);
  }
  return newest;
}

/** Runs `npm ARGS` because of `why`, saying so first: it is what npm start does now, not advice. */
function run(why, args) {
  process.stderr.write(`npm start: ${why}; running \`npm ${args.join(' ')}\`…\n`);
  const result = spawnSync('npm', args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) {
    process.stderr.write(`npm start: \`npm ${args.join(' ')}\` failed (status ${result.status ?? result.signal}); fix the error above and run npm start again\n`);
    process.exit(1);
  }
}

if (!existsSync(join(root, 'node_modules'))) {
  process.stderr.write('npm start: the dependencies are not installed; run `npm ci` first\n');
  process.exit(1);
}
if (!existsSync(join(root, 'node_modules/node-pty/build/Release/pty.node'))) run('node-pty is not built', ['rebuild', 'node-pty']);
if (!existsSync(join(root, 'build/guest/hypeman-exec-spawn'))) run('the exec helper is not built', ['run', 'build:guest-helper']);
if (!existsSync(join(root, 'src/vsock/native/build/Release/vsock.node'))) run('the vsock addon is not built', ['run', 'build:native']);
const launcher = join(root, 'dist/bin/hypeman-exec');
const built = existsSync(entry) && existsSync(launcher) ? Math.min(statSync(entry).mtimeMs, statSync(launcher).mtimeMs) : 0;
const sources = Math.max(newestSource(join(root, 'src')), statSync(join(root, 'tsconfig.json')).mtimeMs);
if (built < sources) run(built > 0 ? 'the sources changed since the last build' : 'not built yet', ['run', 'build']);

await import(pathToFileURL(entry).href);
