/**
 * The agent as the image carries it: one CommonJS file bundled by esbuild, plus what cannot
 * be bundled and is shipped as files beside it: the native modules it loads (node-pty's
 * pty.node and our vsock addon) and its static exec helper.
 *
 * Built for a fast start, because the agent starts in every VM: CommonJS, not ESM (Node's ESM
 * loader is compiled at each start: under QEMU TCG a minimal vsock listener started in
 * 225 ms as CommonJS against 289 ms as ESM, the whole agent in 444 against 583 ms), and
 * node-pty loaded on the first terminal session, not at start (its JavaScript and pty.node
 * were 92 ms of the agent's 636 under TCG; sessions without a TTY never need it).
 */
import { build, type Message, type Plugin } from 'esbuild';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { InitrdError } from './errors.js';
import { AGENT_BUNDLE_NAME } from './ImageLayout.js';

/**
 * CommonJS has no `import.meta`; the sources' `import.meta.url` (finding the vsock addon and
 * the exec helper relative to the code) becomes the bundle's own file URL.
 */
export const BUNDLE_BANNER = "const __hypemanImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

/**
 * node-pty as the bundle sees it: the same `spawn`, loading the real package (outside the
 * bundle, shipped beside it) on first use. A source that needs more of node-pty fails the
 * build ("No matching export"), never the agent.
 */
const lazyNodePty: Plugin = {
  name: 'hypeman-lazy-node-pty',
  setup(build) {
    // The sources' import gets the shim; the shim's own require stays external (the real package).
    build.onResolve({ filter: /^node-pty$/ }, (args) => (args.namespace === 'hypeman-lazy' ? { path: 'node-pty', external: true } : { path: 'node-pty', namespace: 'hypeman-lazy' }));
    build.onLoad({ filter: /.*/, namespace: 'hypeman-lazy' }, () => ({
      contents: "let nodePty;\nexport function spawn(...args) {\n  nodePty ??= require('node-pty');\n  return nodePty.spawn(...args);\n}\n",
      loader: 'js',
    }));
  },
};

export interface AgentBundleOptions {
  /** The agent's entry point (TypeScript or JavaScript), e.g. <project>/src/guest/main.ts. */
  readonly entry: string;
  /** The project root: esbuild's working directory, where packages resolve from; paths in the bundle's comments are relative to it, so the output does not depend on where the checkout lives. */
  readonly workingDirectory: string;
}

export interface AgentBundle {
  readonly code: Uint8Array;
  /** Warnings esbuild reported, formatted; the build succeeded regardless. */
  readonly warnings: readonly string[];
}

export async function bundleAgent(options: AgentBundleOptions): Promise<AgentBundle> {
  if (!existsSync(options.entry)) {
    throw new InitrdError('AGENT_ENTRY_MISSING', `the agent entry ${options.entry} does not exist; build the agent (src/guest/main.ts) first or pass its path with --entry`);
  }
  try {
    const result = await build({
      entryPoints: [options.entry],
      absWorkingDir: options.workingDirectory,
      // The project's packages resolve also for an entry outside the checkout (tests' stand-ins).
      nodePaths: [join(options.workingDirectory, 'node_modules')],
      bundle: true,
      write: false,
      outfile: AGENT_BUNDLE_NAME,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // node-pty locates pty.node relative to its own files, and .node addons cannot be
      // inlined: both stay outside the bundle and are shipped beside it.
      external: ['*.node'],
      plugins: [lazyNodePty],
      define: { 'import.meta.url': '__hypemanImportMetaUrl' },
      banner: { js: BUNDLE_BANNER },
      legalComments: 'eof',
      logLevel: 'silent',
    });
    const output = result.outputFiles.find((f) => f.path.endsWith(AGENT_BUNDLE_NAME));
    if (!output) throw new Error(`esbuild produced no ${AGENT_BUNDLE_NAME}`);
    return { code: output.contents, warnings: result.warnings.map(formatMessage) };
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors;
    const detail = errors?.length ? errors.map(formatMessage).join('\n') : (error as Error).message;
    throw new InitrdError('AGENT_BUNDLE_FAILED', `bundling ${options.entry} failed; fix these errors:\n${detail}`);
  }
}

function formatMessage(m: Message): string {
  const where = m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '';
  return `${where}${m.text}`;
}

/** A file of a package as shipped in the image: `path` inside the package, copied from `source`. */
export interface PackageFile {
  readonly path: string;
  readonly source: string;
}

/**
 * The minimal node-pty the agent needs on Linux: package.json (for `main`), the compiled
 * JavaScript in lib/ (tests excluded) and build/Release/pty.node.
 */
export async function nodePtyFiles(packageDirectory = resolvePackageDirectory('node-pty')): Promise<PackageFile[]> {
  const native = join(packageDirectory, 'build', 'Release', 'pty.node');
  if (!existsSync(native)) {
    throw new InitrdError('NODE_PTY_NOT_FOUND', `node-pty's native module ${native} is missing; build it with \`npm rebuild node-pty\``);
  }
  const lib = join(packageDirectory, 'lib');
  const scripts = (await readdir(lib)).filter((name) => name.endsWith('.js') && !name.endsWith('.test.js')).sort();
  return [
    { path: 'package.json', source: join(packageDirectory, 'package.json') },
    ...scripts.map((name) => ({ path: `lib/${name}`, source: join(lib, name) })),
    { path: 'build/Release/pty.node', source: native },
  ];
}

/**
 * The vsock addon built by `npm run build:native` (src/vsock/native/build/Release/*.node),
 * or null when it has not been built: the image can then only serve unix/tcp listeners.
 */
export async function findVsockAddon(projectRoot: string): Promise<string | null> {
  const dir = join(projectRoot, 'src', 'vsock', 'native', 'build', 'Release');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.node')).sort();
  } catch {
    return null;
  }
  if (names.length > 1) {
    throw new InitrdError('VSOCK_ADDON_NOT_FOUND', `${relative(projectRoot, dir)} holds several addons (${names.join(', ')}); pass the one to ship with --vsock-addon`);
  }
  return names.length === 1 ? join(dir, names[0]) : null;
}

/**
 * The agent's exec helper built by src/guest/native/build.sh (build/guest/hypeman-exec-spawn),
 * or null when it has not been built.
 */
export function findSpawnHelper(projectRoot: string): string | null {
  const path = join(projectRoot, 'build', 'guest', 'hypeman-exec-spawn');
  return existsSync(path) ? path : null;
}

function resolvePackageDirectory(name: string): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    throw new InitrdError('NODE_PTY_NOT_FOUND', `cannot resolve ${name}; install the project's dependencies with \`npm ci\``);
  }
}
