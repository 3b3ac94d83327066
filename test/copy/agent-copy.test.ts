// The copy operations end to end against the real agent (through a HybridVsockMux, as a VM's
// vsock), with the library: round trips of every kind of file, where copies land, and each
// failure's typed error (spec §12).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyFromInstance, copyToInstance, statInInstance } from '../../src/host/client/index.js';
import { type CopyAgent, describeTree, readTree, startCopyAgent } from './copyStack.js';
import { NANOSECOND_FILE, NOT_UTF8, makeEveryKindOfFile } from './treeFixture.js';

function rejectsWith(promise: Promise<unknown>, code: string, path?: RegExp): Promise<void> {
  return assert.rejects(promise, (error: unknown) => {
    const e = error as { code?: string; path?: string; message: string };
    assert.equal(e.code, code, e.message);
    if (path) assert.match(e.path ?? '', path);
    return true;
  });
}

describe('copy to and from an instance (library, straight to the agent)', () => {
  let stack: CopyAgent;
  let local: string;
  before(async () => {
    stack = await startCopyAgent();
    local = mkdtempSync(join(tmpdir(), 'hypeman-copy-local-'));
    makeEveryKindOfFile(join(local, 'src'));
  });
  after(async () => {
    await stack.stop();
    rmSync(local, { recursive: true, force: true });
  });

  it('round-trips a tree of every file type: modes, owners, mtimes, names with spaces, newlines, UTF-8 and raw bytes, links, devices', async () => {
    const up = await copyToInstance(stack.target, { source: join(local, 'src'), destination: '/', archive: true });
    const expected = readTree(join(local, 'src'));
    assert.equal(up.entries, expected.size);
    // In the instance, to the nanosecond (the agent sets times with utimensat).
    assert.deepEqual(describeTree(readTree(join(stack.root, 'src'))), describeTree(expected));
    assert.equal(readTree(join(stack.root, 'src')).get(NANOSECOND_FILE)!.mtimeNs % 1_000_000_000n, 123_456_789n);
    assert.ok(existsSync(Buffer.concat([Buffer.from(`${stack.root}/src/`), NOT_UTF8])));

    const down = await copyFromInstance(stack.target, { source: '/src', destination: join(local, 'back'), archive: true });
    assert.equal(down.entries, expected.size);
    assert.equal(down.bytes, up.bytes);
    // Here, to the microsecond (Node sets times from a double).
    assert.deepEqual(describeTree(readTree(join(local, 'back')), { mtimeMicroseconds: true }), describeTree(expected, { mtimeMicroseconds: true }));
  });

  it('lands where cp and docker cp do: into a directory under the source name, or at the path itself', async () => {
    mkdirSync(join(stack.root, 'srv'));
    writeFileSync(join(local, 'one.txt'), 'one\n');
    await copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/srv' });
    assert.equal(readFileSync(join(stack.root, 'srv/one.txt'), 'utf8'), 'one\n');
    await copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/srv/renamed.txt' });
    assert.equal(readFileSync(join(stack.root, 'srv/renamed.txt'), 'utf8'), 'one\n');
    // A file replaces a file; a directory's contents (dir/.) merge into one.
    writeFileSync(join(local, 'one.txt'), 'two\n');
    await copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/srv/renamed.txt' });
    assert.equal(readFileSync(join(stack.root, 'srv/renamed.txt'), 'utf8'), 'two\n');
    await copyToInstance(stack.target, { source: `${local}/src/sub/.`, destination: '/srv' });
    assert.equal(readFileSync(join(stack.root, 'srv/deeper/file'), 'utf8'), 'deep\n');
    // Without -a the agent's user owns the copies.
    await copyToInstance(stack.target, { source: join(local, 'src/owned'), destination: '/srv' });
    assert.equal(lstatSync(join(stack.root, 'srv/owned')).uid, 0);
    // From the instance: a file into a local directory, then under a new name.
    mkdirSync(join(local, 'here'));
    await copyFromInstance(stack.target, { source: '/srv/one.txt', destination: join(local, 'here') });
    await copyFromInstance(stack.target, { source: '/srv/one.txt', destination: join(local, 'here/other.txt') });
    assert.deepEqual(readdirSync(join(local, 'here')).sort(), ['one.txt', 'other.txt']);
  });

  it('stats a path as the container sees it', async () => {
    const file = await statInInstance(stack.target, '/src/setuid');
    assert.equal(file.exists, true);
    assert.equal(file.kind, 'file');
    assert.equal(file.mode, 0o4755);
    const link = await statInInstance(stack.target, '/src/rel-link');
    assert.equal(link.kind, 'symlink');
    assert.equal(link.linkTarget, 'plain.txt');
    assert.equal((await statInInstance(stack.target, '/src/rel-link', { followLinks: true })).kind, 'file');
    assert.equal((await statInInstance(stack.target, '/src/null')).kind, 'char-device');
    assert.deepEqual([(await statInInstance(stack.target, '/nope')).exists], [false]);
  });

  it('says what failed and where: no such path, not a directory, a directory in the way, a path not absolute', async () => {
    await rejectsWith(copyFromInstance(stack.target, { source: '/no/such/thing', destination: join(local, 'x') }), 'PATH_NOT_FOUND', /^\/no\/such\/thing$/);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/missing-dir/x' }), 'PATH_NOT_FOUND', /missing-dir/);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'src/sub'), destination: '/srv/renamed.txt' }), 'NOT_A_DIRECTORY', /renamed\.txt/);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/srv/renamed.txt/x' }), 'NOT_A_DIRECTORY');
    mkdirSync(join(stack.root, 'srv/adir'));
    writeFileSync(join(local, 'adir'), 'a file named like the directory\n');
    await rejectsWith(copyToInstance(stack.target, { source: { name: new Uint8Array(0), async *entries() {
      yield { kind: 1, mode: 0o644, uid: 0, gid: 0, mtimeSeconds: 0, mtimeNanoseconds: 0, size: 0, major: 0, minor: 0, path: new Uint8Array(0), link: new Uint8Array(0), data: async function* () {} };
    } }, destination: '/srv/adir' }), 'IS_A_DIRECTORY');
    await rejectsWith(statInInstance(stack.target, 'relative/path'), 'INVALID_REQUEST');
    // On this side too: a directory from the instance onto a local file.
    await rejectsWith(copyFromInstance(stack.target, { source: '/srv', destination: join(local, 'one.txt') }), 'NOT_A_DIRECTORY');
  });

  it('reports a read-only file system, an immutable file and a full disk in the guest', async () => {
    mkdirSync(join(stack.root, 'ro'));
    execFileSync('mount', ['--bind', '-o', 'ro', join(local, 'src/sub'), join(stack.root, 'ro')]);
    execFileSync('mount', ['-o', 'remount,bind,ro', join(stack.root, 'ro')]);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/ro' }), 'READ_ONLY_FILESYSTEM', /^\/ro/);

    writeFileSync(join(stack.root, 'immutable'), 'keep\n');
    execFileSync('chattr', ['+i', join(stack.root, 'immutable')]);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'one.txt'), destination: '/immutable' }), 'PERMISSION_DENIED', /immutable/);
    assert.equal(readFileSync(join(stack.root, 'immutable'), 'utf8'), 'keep\n');

    // A small tmpfs in the container root: 3 MiB of random bytes do not fit in 1 MiB.
    mkdirSync(join(stack.root, 'small'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'small', join(stack.root, 'small')]);
    await rejectsWith(copyToInstance(stack.target, { source: join(local, 'src/big.bin'), destination: '/small' }), 'NO_SPACE', /^\/small\/big\.bin$/);
    // Nothing is left under the final name, nor under a temporary one.
    assert.deepEqual(readdirSync(join(stack.root, 'small')), []);
  });
});
