// Issue 20 item 3 and issue 18 item 2: the launchers in dist/bin, as a user's shell runs them
// from anywhere once that directory is on the PATH: no npx, no registry, no npm at all, and
// the one-file CLI behind hypeman-exec with its code cache.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ProcessRun, runProcess } from '../runProcess.js';
import { BIN_DIR, PathWithoutNpm, requireBuiltCli, useStackProcess } from './cliProcess.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
const CACHE_DIR = join(PROJECT, 'dist/cli');

const target = useStackProcess();

/** `command` in /bin/sh, in `cwd`, with exactly the environment given. */
function shell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  return runProcess('/bin/sh', ['-c', command], { cwd, env, hangGuardMs: 30_000 });
}

describe('the launchers in dist/bin', () => {
  let npmless: PathWithoutNpm;
  let elsewhere: string;
  let env: (path: string) => NodeJS.ProcessEnv;

  before(() => {
    requireBuiltCli();
    npmless = new PathWithoutNpm();
    elsewhere = mkdtempSync(join(tmpdir(), 'hypeman-elsewhere-'));
    env = (path) => ({ PATH: path, HOME: elsewhere, HYPEMAN_API_URL: target.env.HYPEMAN_API_URL, HYPEMAN_TOKEN: target.env.HYPEMAN_TOKEN });
  });
  after(() => {
    npmless?.remove();
    if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
  });

  it('hypeman-exec runs from another directory with a PATH that has no npm or npx, and never runs them', async () => {
    const r = await shell('echo piped | hypeman-exec web sh -c "cat; echo \\$((6*7))"', elsewhere, env(npmless.path(BIN_DIR)));
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'piped\n42\n');
    assert.equal(r.code, 0);
    assert.deepEqual(npmless.npmRuns(), []);
  });

  it('hypeman-exec runs through a symlink (npm link, or a link in ~/.local/bin)', async () => {
    const links = join(elsewhere, 'links');
    symlinkSync(BIN_DIR, links);
    const r = await shell('hypeman-exec web echo linked', elsewhere, env(npmless.path(links)));
    assert.equal(r.stdout, 'linked\n', r.stderr);
    assert.equal(r.code, 0);
    assert.deepEqual(npmless.npmRuns(), []);
  });

  it('hypeman-exec-server runs from another directory too', async () => {
    const { version } = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')) as { version: string };
    const r = await shell('hypeman-exec-server --version', elsewhere, env(npmless.path(BIN_DIR)));
    assert.equal(r.stdout.trim(), version, r.stderr);
    assert.equal(r.code, 0);
    assert.deepEqual(npmless.npmRuns(), []);
  });

  it('hypeman-exec writes its code cache after a session when it has none, and replaces a damaged one', async () => {
    const caches = () => readdirSync(CACHE_DIR).filter((name) => /^hypeman-exec\.[0-9a-f]+\.cache$/.test(name));
    const launcher = readFileSync(join(BIN_DIR, 'hypeman-exec'), 'utf8');
    const name = /hypeman-exec\.[0-9a-f]{16}\.cache/.exec(launcher)?.[0];
    assert.ok(name, 'the launcher names a cache that belongs to this bundle');
    const cache = join(CACHE_DIR, name);

    rmSync(cache, { force: true });
    const first = await shell('hypeman-exec web true', elsewhere, env(npmless.path(BIN_DIR)));
    assert.equal(first.code, 0, first.stderr);
    assert.ok(existsSync(cache), 'the first session wrote the cache');
    assert.deepEqual(caches(), [name], 'no cache of another bundle is left');

    const garbage = Buffer.from('not a V8 code cache');
    writeFileSync(cache, garbage);
    const damaged = await shell('hypeman-exec web echo still-works', elsewhere, env(npmless.path(BIN_DIR)));
    assert.equal(damaged.stdout, 'still-works\n', damaged.stderr);
    assert.equal(damaged.code, 0);
    assert.notDeepEqual(readFileSync(cache), garbage, 'the damaged cache was replaced');
  });
});
