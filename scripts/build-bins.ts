#!/usr/bin/env node
// The second half of `npm run build`, after tsc: the commands a user puts on the PATH.
//
//   dist/cli/hypeman-exec.cjs      the CLI (src/host/cli/bundleEntry.ts) as one CommonJS file
//   dist/bin/hypeman-exec          its launcher: compiles that file with a V8 code cache
//   dist/bin/hypeman-exec-server   the API server's launcher (its compiled entry, as it is)
//
// The launchers find their files from their own location, so `export PATH=<checkout>/dist/bin:$PATH`,
// a symlink to them, `npm link` or a global install of the checkout all run them; nothing
// asks a registry, as `npx hypeman-exec` did. Why one file and a code cache: README "CLI".
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { findProjectRoot } from '../src/host/projectRoot.js';

const PROJECT = findProjectRoot();
const DIST = join(PROJECT, 'dist');
const CLI_DIR = join(DIST, 'cli');
const BIN_DIR = join(DIST, 'bin');
const BUNDLE_NAME = 'hypeman-exec.cjs';

/**
 * Modules the CLI's dependencies import at load time but a run rarely uses, replaced in the
 * bundle by stand-ins that load the real module on first use. A `hypeman-exec web true`
 * pays for none of them (about 30 ms of CPU together, measured on Node 20).
 */
function lazyModules(): Plugin {
  const namespace = 'lazy';
  return {
    name: 'lazy-modules',
    setup(b) {
      // string-width (cliui's, wrap-ansi's and yargs's copies) builds an Intl.Segmenter and
      // \p{RGI_Emoji} regular expressions when loaded (~19 ms); only --help measures text.
      b.onResolve({ filter: /^string-width$/ }, async (args) => {
        if (args.pluginData === 'real') return undefined;
        const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'real' });
        if (real.errors.length > 0) return { errors: real.errors };
        return { path: real.path, namespace, pluginData: 'string-width' };
      });
      // ws requires https and tls for wss:// only (~5 ms), and zlib for compression, which
      // the client turns off.
      b.onResolve({ filter: /^(node:)?(https|tls|zlib)$/ }, (args) =>
        /[\\/]node_modules[\\/]ws[\\/]/.test(args.importer) ? { path: args.path.replace(/^node:/, ''), namespace, pluginData: 'builtin' } : undefined,
      );
      // yargs asserts with node:assert on every .version() and more, and fails only on a
      // misuse of its API: node:assert (~1 ms to load) is needed only to throw.
      b.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
        /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]/.test(args.importer) ? { path: 'assert', namespace, pluginData: 'assert' } : undefined,
      );
      // ws masks what it sends with bufferutil's native code when it loads (~3 ms); small
      // frames never use it. utf-8-validate is only for Nodes without buffer.isUtf8.
      b.onResolve({ filter: /^bufferutil$/ }, (args) => (args.namespace === namespace ? { path: args.path, external: true } : { path: args.path, namespace, pluginData: 'bufferutil' }));
      b.onResolve({ filter: /^utf-8-validate$/ }, (args) => ({ path: args.path, external: true }));
      // ws's ESM wrapper loads its server and stream helpers too; the client is its WebSocket class.
      b.onResolve({ filter: /^ws$/ }, async (args) => {
        const manifest = await b.resolve('ws/package.json', { resolveDir: args.resolveDir, kind: args.kind });
        return manifest.errors.length > 0 ? { errors: manifest.errors } : { path: join(dirname(manifest.path), 'lib', 'websocket.js') };
      });

      b.onLoad({ filter: /.*/, namespace }, (args) => {
        switch (args.pluginData as string) {
          case 'string-width':
            return {
              resolveDir: dirname(args.path),
              contents: `let real;
export default function stringWidth(text, options) {
  real ??= require(${JSON.stringify(args.path)}).default;
  return real(text, options);
}`,
            };
          case 'builtin':
            return { contents: `let real;\nmodule.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:${args.path}'))[key] });` };
          case 'assert':
            return {
              contents: `let real;
const load = () => (real ??= require('node:assert'));
export const strictEqual = (actual, expected, message) => { if (!Object.is(actual, expected)) load().strictEqual(actual, expected, message); };
export const notStrictEqual = (actual, expected, message) => { if (Object.is(actual, expected)) load().notStrictEqual(actual, expected, message); };`,
            };
          case 'bufferutil':
            return {
              resolveDir: PROJECT,
              contents: `let real;
function load() {
  if (!real) {
    try {
      real = require('bufferutil');
    } catch {
      real = require('bufferutil/fallback.js');
    }
  }
  return real;
}
module.exports = { mask: (...args) => load().mask(...args), unmask: (...args) => load().unmask(...args) };`,
            };
          default:
            throw new Error(`lazy-modules: nothing to load for ${args.path}`);
        }
      });
    },
  };
}

async function bundleCli(): Promise<Buffer> {
  const result = await build({
    entryPoints: [join(PROJECT, 'src/host/cli/bundleEntry.ts')],
    absWorkingDir: PROJECT,
    bundle: true,
    write: false,
    outfile: join(CLI_DIR, BUNDLE_NAME),
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [lazyModules()],
    // import() of a built-in (node:https only for an https URL) becomes a require: the
    // launcher runs the bundle as a vm.Script.
    supported: { 'dynamic-import': false },
    // CommonJS has no import.meta: the launcher passes the bundle's URL in (yargs and
    // version.ts find files from it).
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const code = Buffer.from(result.outputFiles[0].contents);
  return code;
}

/** The launcher of the bundle. `cacheName` changes with the bundle's content: V8 checks only a cache's length and version. */
function cliLauncher(cacheName: string): string {
  return `#!/usr/bin/env node
// hypeman-exec: written by \`npm run build\` (scripts/build-bins.ts); do not edit.
// Compiles the one-file CLI with the V8 code cache beside it. The first run that opens a
// session with no usable cache (none yet, or another Node) writes one, as Node 22's
// module.enableCompileCache() does: it then holds the code of a whole run.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { Script, constants } = require('node:vm');

const dir = join(__dirname, '..', 'cli');
const bundle = join(dir, ${JSON.stringify(BUNDLE_NAME)});
const cache = join(dir, ${JSON.stringify(cacheName)});
let cachedData;
try {
  cachedData = readFileSync(cache);
} catch {
  // No cache yet: compiled from source this time.
}
// The wrapper on the bundle's first line keeps its line numbers in stack traces.
const script = new Script('(function (exports, require, module, __filename, __dirname) {' + readFileSync(bundle, 'utf8') + '\\n})', {
  filename: bundle,
  cachedData,
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const cli = { exports: {} };
script.runInThisContext()(cli.exports, createRequire(bundle), cli, bundle, dir);
const writeCache = () => {
  try {
    const temporary = cache + '.' + process.pid;
    writeFileSync(temporary, script.createCachedData());
    renameSync(temporary, cache);
  } catch {
    // A checkout this user cannot write: every run compiles from source, a few ms slower.
  }
};
void cli.exports.main(process.argv.slice(2), { afterSession: cachedData === undefined || script.cachedDataRejected ? writeCache : undefined });
`;
}

const SERVER_LAUNCHER = `#!/usr/bin/env node
// hypeman-exec-server: written by \`npm run build\` (scripts/build-bins.ts); do not edit.
'use strict';
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

void import(pathToFileURL(join(__dirname, '..', 'src', 'host', 'server', 'main.js')).href);
`;

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

const code = await bundleCli();
mkdirSync(CLI_DIR, { recursive: true });
mkdirSync(BIN_DIR, { recursive: true });
const cacheName = `hypeman-exec.${createHash('sha256').update(code).digest('hex').slice(0, 16)}.cache`;
// Caches of earlier bundles (and a temporary file a killed run left) are of no use now.
for (const name of readdirSync(CLI_DIR)) if (name.startsWith('hypeman-exec.') && name.includes('.cache') && name !== cacheName) rmSync(join(CLI_DIR, name));
writeFileSync(join(CLI_DIR, BUNDLE_NAME), code);
// The launchers have no extension, and the checkout's package.json says "type": "module".
writeFileSync(join(BIN_DIR, 'package.json'), '{ "type": "commonjs" }\n');
writeExecutable(join(BIN_DIR, 'hypeman-exec'), cliLauncher(cacheName));
writeExecutable(join(BIN_DIR, 'hypeman-exec-server'), SERVER_LAUNCHER);

// Every bin of package.json executable: tsc keeps a #! line but writes files 0644.
const pkg = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
for (const path of Object.values(pkg.bin ?? {})) {
  const file = join(PROJECT, path);
  if (existsSync(file)) chmodSync(file, 0o755);
}
