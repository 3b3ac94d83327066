// Issue 20 item 7: what `npm start` says on a checkout that was never built. It builds (a
// real `npm run build`, in a copy of the checkout) and says that it is doing so, rather than
// "not built yet: npm run build", which reads as advice while the build is already running.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runProcess } from '../runProcess.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
/** A build takes seconds; this only keeps a hung one from stalling the suite. */
const HANG_GUARD_MS = 180_000;

describe('npm start on a checkout never built', () => {
  const checkout = mkdtempSync(join(tmpdir(), 'hypeman-unbuilt-'));
  after(() => rmSync(checkout, { recursive: true, force: true }));

  it('says that it builds, builds, then starts (here: its --help)', async () => {
    // The sources and build files of the checkout, without dist/; the installed packages
    // and the natives npm ci builds (node_modules, build/) shared with it.
    for (const path of ['package.json', 'tsconfig.json', 'src', 'scripts', 'test', 'bench']) cpSync(join(PROJECT, path), join(checkout, path), { recursive: true });
    for (const path of ['node_modules', 'build']) symlinkSync(join(PROJECT, path), join(checkout, path));

    const run = await runProcess(process.execPath, [join(checkout, 'scripts/start.mjs'), '--help'], { cwd: checkout, hangGuardMs: HANG_GUARD_MS });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stderr.startsWith('npm start: not built yet; running `npm run build`…\n'), run.stderr);
    assert.match(run.stdout, /^Usage: npm start /);
    assert.ok(existsSync(join(checkout, 'dist/bin/hypeman-exec')), 'the build wrote the launchers');
  });
});
