// Copying against a hostile container root (spec §12.2): symbolic links to /, to ../../..,
// to absolute paths of the machine outside the root, /proc's magic links, tar-style entries
// through links, and a directory swapped for a link while copies run. None may read or
// write anything outside the root: the files outside are checked unchanged, and no byte of
// the secret outside ever arrives.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CopySource, type SourceEntry, copyFromInstance, copyToInstance, statInInstance } from '../../src/host/client/index.js';
import { EntryKind } from '../../src/wire/index.js';
import { type CopyAgent, startCopyAgent } from './copyStack.js';

const SECRET = `SECRET-OUTSIDE-${randomBytes(8).toString('hex')}`;
const INSIDE = 'the root\'s own file\n';
const NOTHING = new Uint8Array(0);

/** Every file below `dir`, its content, as one string: the outside must stay exactly this. */
function snapshot(dir: string): string {
  return execFileSync('sh', ['-c', 'find . -exec ls -ld --time-style=+%s.%N {} \\; -type f -exec sha256sum {} \\; | sort'], { cwd: dir, encoding: 'utf8' });
}

/** Whether any file below `dir` holds the secret. */
function holdsSecret(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return execFileSync('sh', ['-c', `grep -rl -- '${SECRET}' . || true`], { cwd: dir, encoding: 'utf8' }).trim() !== '';
}

/** An upload of the given entries (a hostile client's, or a tar stream's), without data unless given. */
function entries(...list: Array<Omit<Partial<SourceEntry>, 'path' | 'link'> & { path: string; kind: EntryKind; link?: string }>): CopySource {
  return {
    name: NOTHING,
    async *entries() {
      for (const e of list) {
        yield {
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtimeSeconds: 0,
          mtimeNanoseconds: 0,
          size: 0,
          major: 0,
          minor: 0,
          data: async function* () {},
          ...e,
          path: Buffer.from(e.path),
          link: typeof e.link === 'string' ? Buffer.from(e.link) : (e.link ?? NOTHING),
        } as SourceEntry;
      }
    },
  };
}

describe('a hostile container root cannot be escaped', () => {
  let stack: CopyAgent;
  let outside: string;
  let before0: string;
  let local: string;

  before(async () => {
    stack = await startCopyAgent((root, dir) => {
      outside = join(dir, 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'secret.txt'), `${SECRET}\n`);
      // The root has a path of the same name, so a contained resolution finds the root's own file.
      mkdirSync(join(root, 'outside'));
      writeFileSync(join(root, 'outside/secret.txt'), INSIDE);
      symlinkSync('/', join(root, 'evil'));
      symlinkSync('../../..', join(root, 'up'));
      symlinkSync('../outside', join(root, 'outside-rel'));
      symlinkSync('../outside/secret.txt', join(root, 'secret-link'));
      symlinkSync(outside, join(root, 'outside-abs'));
      mkdirSync(join(root, 'deep/a'), { recursive: true });
      symlinkSync('../../../../outside', join(root, 'deep/a/b'));
      symlinkSync('../outside', join(root, 'trap'));
      mkdirSync(join(root, 'proc'));
      execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    });
    local = mkdtempSync(join(tmpdir(), 'hypeman-copy-hostile-'));
    before0 = snapshot(outside);
  });
  after(async () => {
    await stack.stop();
    rmSync(local, { recursive: true, force: true });
  });

  const download = async (source: string, followLinks: boolean): Promise<{ dir: string; code?: string; message?: string }> => {
    const dir = mkdtempSync(join(local, 'down-'));
    try {
      await copyFromInstance(stack.target, { source, destination: dir, followLinks });
      return { dir };
    } catch (error) {
      return { dir, code: (error as { code: string }).code, message: (error as Error).message };
    }
  };

  it('reads through links to /, ../../.., absolute and relative paths out of the root only what is inside it', async () => {
    const cases: Array<[string, boolean, string]> = [
      ['/secret-link', true, 'secret-link'],
      ['/outside-rel/secret.txt', false, 'secret.txt'],
      ['/up/outside/secret.txt', false, 'secret.txt'],
      ['/../../../outside/secret.txt', false, 'secret.txt'],
      ['/evil/outside/secret.txt', false, 'secret.txt'],
      ['/deep/a/b/secret.txt', false, 'secret.txt'],
    ];
    for (const [source, follow, name] of cases) {
      const { dir, code } = await download(source, follow);
      assert.equal(code, undefined, `${source}: ${code}`);
      assert.equal(readFileSync(join(dir, name), 'utf8'), INSIDE, source);
    }
    // The machine's own path, as the container sees it, is not there.
    assert.equal((await download(`/outside-abs/secret.txt`, false)).code, 'PATH_NOT_FOUND');
    assert.equal((await statInInstance(stack.target, `${outside}/secret.txt`)).exists, false);
    assert.equal((await statInInstance(stack.target, '/secret-link', { followLinks: true })).size, INSIDE.length);
  });

  it('copies the whole root, links followed (-L), without a byte from outside', async () => {
    const { dir, code } = await download('/', true);
    assert.equal(code, undefined);
    assert.equal(holdsSecret(dir), false);
    // / itself, reached again through /evil, is sent as the link it is (a cycle); /proc's files are not sent.
    assert.ok(lstatSync(join(dir, 'evil')).isSymbolicLink());
    assert.deepEqual(readdirSync(join(dir, 'proc')), []);
  });

  it("refuses /proc's magic links, which lead to the agent's own root", async () => {
    for (const source of [`/proc/self/root${outside}/secret.txt`, `/proc/self/cwd/package.json`, '/proc/self/root/']) {
      const { dir, code } = await download(source, false);
      assert.equal(code, 'PATH_ESCAPES', source);
      assert.equal(holdsSecret(dir), false);
    }
    // Another process's: refused too (the kernel may refuse even to look, as it does here for PID 1).
    const pid1 = await download(`/proc/1/root${outside}/secret.txt`, false);
    assert.ok(pid1.code === 'PATH_ESCAPES' || pid1.code === 'PERMISSION_DENIED', pid1.code);
    assert.equal(holdsSecret(pid1.dir), false);
    await assert.rejects(statInInstance(stack.target, '/proc/self/root', { followLinks: true }), { code: 'PATH_ESCAPES' });
  });

  it('writes through links to /, ../../.. and out of the root only inside it', async () => {
    writeFileSync(join(local, 'payload'), 'payload\n');
    await copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/evil/landed-1' });
    await copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/up/landed-2' });
    await copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/outside-rel/landed-3' });
    await copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/../../landed-4' });
    await assert.rejects(copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/outside-abs/landed-5' }), { code: 'PATH_NOT_FOUND' });
    for (const path of ['landed-1', 'landed-2', 'outside/landed-3', 'landed-4']) assert.equal(readFileSync(join(stack.root, path), 'utf8'), 'payload\n', path);
    // A file onto a link replaces the link; it never writes where the link points.
    await copyToInstance(stack.target, { source: join(local, 'payload'), destination: '/secret-link' });
    assert.equal(readFileSync(join(stack.root, 'secret-link'), 'utf8'), 'payload\n');
    assert.equal(readFileSync(join(stack.root, 'outside/secret.txt'), 'utf8'), INSIDE);
    // A directory whose name is a link in the root replaces the link, and is made inside.
    mkdirSync(join(local, 'trap'));
    writeFileSync(join(local, 'trap/inner'), 'inner\n');
    await copyToInstance(stack.target, { source: join(local, 'trap'), destination: '/' });
    assert.ok(lstatSync(join(stack.root, 'trap')).isDirectory());
    assert.equal(snapshot(outside), before0);
  });

  it('never writes an entry through a link, whether the root had it or the upload made it', async () => {
    const through = [
      entries({ path: '', kind: EntryKind.Directory }, { path: 'l', kind: EntryKind.Symlink, link: '/' }, { path: 'l/etc/x', kind: EntryKind.File }),
      entries({ path: '', kind: EntryKind.Directory }, { path: 'l', kind: EntryKind.Symlink, link: '../../outside' }, { path: 'l/x', kind: EntryKind.File }),
      entries({ path: '', kind: EntryKind.Directory }, { path: 'l', kind: EntryKind.Symlink, link: '../../outside' }, { path: 'h', kind: EntryKind.Hardlink, link: 'l/secret.txt' }),
    ];
    for (const [i, source] of through.entries()) {
      await assert.rejects(copyToInstance(stack.target, { source, destination: `/made-${i}` }), { code: 'PATH_ESCAPES' }, `upload ${i}`);
    }
    // Below a destination that exists, its own links are not followed either.
    await assert.rejects(copyToInstance(stack.target, { source: entries({ path: '', kind: EntryKind.Directory }, { path: 'outside-rel/x', kind: EntryKind.File }), destination: '/' }), { code: 'PATH_ESCAPES' });
    assert.equal(snapshot(outside), before0);
    assert.equal(existsSync(join(stack.root, 'outside/x')), false);
  });

  it('stays inside while a directory is swapped for a link to the outside during the copies', async () => {
    // The directory and a link of the machine's absolute path to the outside trade places
    // as fast as rename(2) allows, for as long as the copies run.
    mkdirSync(join(stack.root, 'swap'));
    for (const name of ['a', 'b', 'c']) writeFileSync(join(stack.root, 'swap', name), INSIDE);
    symlinkSync(outside, join(stack.root, 'swap.link'));
    const swapper = spawn('python3', ['-c', `
import os, sys
os.chdir(sys.argv[1])
while True:
    os.rename('swap', 'swap.dir'); os.rename('swap.link', 'swap')
    os.rename('swap', 'swap.link'); os.rename('swap.dir', 'swap')
`, stack.root], { stdio: 'ignore' });
    const codes = new Map<string, number>();
    const messages: string[] = [];
    const count = (code = 'ok', message = '') => {
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (message) messages.push(`${code}: ${message}`);
    };
    try {
      writeFileSync(join(local, 'payload'), 'payload\n');
      for (let i = 0; i < 40; i++) {
        const [down, whole] = await Promise.all([download('/swap', i % 2 === 0), download('/', false)]);
        count(down.code, down.message);
        count(whole.code, whole.message);
        assert.equal(holdsSecret(down.dir) || holdsSecret(whole.dir), false, `the secret arrived in round ${i}`);
        await copyToInstance(stack.target, { source: join(local, 'payload'), destination: `/swap/landed-${i}` }).then(
          () => count(),
          (error: { code: string; message: string }) => count(error.code, error.message),
        );
      }
    } finally {
      swapper.kill('SIGKILL');
      await new Promise((resolve) => swapper.once('exit', resolve));
    }
    assert.equal(snapshot(outside), before0);
    const allowed = new Set(['ok', 'PATH_NOT_FOUND', 'NOT_A_DIRECTORY', 'FILE_CHANGED']);
    for (const code of codes.keys()) assert.ok(allowed.has(code), `unexpected ${code}: ${JSON.stringify([...codes])}\n${messages.join('\n')}`);
    assert.ok((codes.get('ok') ?? 0) > 0, JSON.stringify([...codes]));
    // What did land, landed in the root's own directory (under whichever name it had then).
    // The swapper was stopped anywhere in its loop: the directory is under one of the names.
    const isDirectory = (p: string) => existsSync(p) && lstatSync(p).isDirectory();
    const landed = ['swap', 'swap.dir', 'swap.link'].filter((d) => isDirectory(join(stack.root, d))).flatMap((d) => readdirSync(join(stack.root, d)).filter((n) => n.startsWith('landed-')).map((n) => join(d, n)));
    assert.ok(landed.length > 0);
    for (const p of landed) assert.equal(readFileSync(join(stack.root, p), 'utf8'), 'payload\n');
  });
});
