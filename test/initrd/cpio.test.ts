// The newc writer: byte layout, order, and what the real `cpio` makes of its output.
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CpioArchive, InitrdError, type CpioEntry } from '../../src/host/initrd/index.js';
import { exec, extractImage, isRoot, listImage, removeTree, temporaryDirectory } from './helpers.js';

async function archiveBytes(archive: CpioArchive): Promise<Buffer> {
  const plan = await archive.plan();
  const chunks: Uint8Array[] = [];
  for await (const chunk of plan.chunks()) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.length, plan.length, 'plan.length is the exact archive length');
  return bytes;
}

const code = (expected: string) => (e: unknown) => e instanceof InitrdError && e.code === expected;

const sample = (fileOnDisk: string): CpioEntry[] => [
  { type: 'file', path: 'bin/busybox', mode: 0o755, source: { data: Buffer.from('#!fake busybox\n') } },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  { type: 'hardlink', path: 'payload/bin/busybox', target: 'bin/busybox' },
  { type: 'directory', path: 'tmp', mode: 0o1777 },
  { type: 'file', path: 'etc/motd', source: { path: fileOnDisk } },
  { type: 'file', path: 'init', mode: 0o755, source: { data: Buffer.from('#!/bin/sh\necho hi\n') } },
  { type: 'char-device', path: 'dev/console', major: 5, minor: 1 },
];

describe('CpioArchive', () => {
  const dir = temporaryDirectory('cpio');
  after(() => removeTree(dir));

  it('writes the newc header byte for byte: magic, 13 hex fields, name, padding to 4', async () => {
    const bytes = await archiveBytes(new CpioArchive().add({ type: 'file', path: 'a', mode: 0o644, source: { data: Buffer.from('xyz') } }));
    const header = bytes.subarray(0, 110).toString('latin1');
    assert.equal(header.slice(0, 6), '070701');
    const fields = header.slice(6).match(/.{8}/g)!.map((h) => parseInt(h, 16));
    // ino mode uid gid nlink mtime size devmajor devminor rdevmajor rdevminor namesize check
    assert.deepEqual(fields, [1, 0o100644, 0, 0, 1, 0, 3, 0, 0, 0, 0, 2, 0]);
    assert.equal(bytes.subarray(110, 112).toString('latin1'), 'a\0');
    assert.equal(bytes.subarray(112, 115).toString(), 'xyz'); // 110 + 2 is already a multiple of 4
    assert.equal(bytes[115], 0); // data padded to 4
    assert.equal(bytes.subarray(116 + 110, 116 + 110 + 11).toString('latin1'), 'TRAILER!!!\0');
    assert.equal(bytes.length % 4, 0);
  });

  it('is reproducible: the same entries added in any order give the same bytes', async () => {
    const motd = join(dir, 'motd');
    await writeFile(motd, 'hello from a file\n');
    const entries = sample(motd);
    const forward = await archiveBytes(new CpioArchive().addAll(entries));
    const backward = await archiveBytes(new CpioArchive().addAll([...entries].reverse()));
    assert.ok(forward.equals(backward));
  });

  it('is listed by the real `cpio -t` in sorted order, parents first', async () => {
    const motd = join(dir, 'motd-list');
    await writeFile(motd, 'x');
    const image = join(dir, 'list.cpio.gz');
    await writeFile(image, gzipSync(await archiveBytes(new CpioArchive().addAll(sample(motd)))));
    assert.deepEqual(await listImage(image), ['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'etc', 'etc/motd', 'init', 'payload', 'payload/bin', 'payload/bin/busybox', 'tmp']);
    const { stdout } = await exec('sh', ['-c', 'gzip -dc "$1" | cpio -tv --quiet', 'list', image]);
    for (const line of stdout.trim().split('\n')) {
      assert.match(line, /^\S+\s+\d+\s+root\s+root\s/, `uid/gid 0: ${line}`);
      assert.match(line, /1970/, `mtime 0: ${line}`);
    }
  });

  it('is extracted by the real `cpio -idm` with modes, symlinks, hard links and devices intact', async () => {
    const motd = join(dir, 'motd-extract');
    await writeFile(motd, 'hello from a file\n');
    const image = join(dir, 'extract.cpio.gz');
    await writeFile(image, gzipSync(await archiveBytes(new CpioArchive().addAll(sample(motd)))));
    const out = join(dir, 'extracted');
    await extractImage(image, out);
    assert.equal(readFileSync(join(out, 'etc/motd'), 'utf8'), 'hello from a file\n');
    assert.equal(readFileSync(join(out, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(out, 'init')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(out, 'etc/motd')).mode & 0o7777, 0o644);
    assert.equal(statSync(join(out, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(readlinkSync(join(out, 'bin/sh')), 'busybox');
    const [a, b] = [statSync(join(out, 'bin/busybox')), statSync(join(out, 'payload/bin/busybox'))];
    assert.equal(a.ino, b.ino, 'hard link shares the inode');
    assert.equal(a.nlink, 2);
    assert.equal(readFileSync(join(out, 'payload/bin/busybox'), 'utf8'), '#!fake busybox\n');
    assert.equal(statSync(join(out, 'init')).mtimeMs, 0);
    if (isRoot) {
      const console = lstatSync(join(out, 'dev/console'));
      assert.ok(console.isCharacterDevice());
      assert.equal(console.rdev, (5 << 8) | 1);
    }
  });

  it('refuses paths that are absolute, dotted or empty, duplicates, and hard links to nothing', async () => {
    const file = (path: string): CpioEntry => ({ type: 'file', path, source: { data: Buffer.alloc(0) } });
    for (const bad of ['/abs', './a', 'a/../b', 'a//b', '', 'a/.']) {
      assert.throws(() => new CpioArchive().add(file(bad)), code('CPIO_INVALID_PATH'), bad);
    }
    assert.throws(() => new CpioArchive().add(file('a')).add(file('a')), code('CPIO_DUPLICATE_PATH'));
    assert.throws(() => new CpioArchive().add(file('a')).add(file('a/b')), code('CPIO_MISSING_PARENT'));
    await assert.rejects(new CpioArchive().add({ type: 'hardlink', path: 'b', target: 'missing' }).plan(), code('CPIO_BAD_HARDLINK'));
    // An explicit directory may set the mode of one implied by its contents, once.
    const archive = new CpioArchive().add(file('d/x')).add({ type: 'directory', path: 'd', mode: 0o700 });
    assert.throws(() => archive.add({ type: 'directory', path: 'd' }), code('CPIO_DUPLICATE_PATH'));
  });

  it('notices a source file that changed size between plan and write', async () => {
    const path = join(dir, 'growing');
    await writeFile(path, 'short');
    const plan = await new CpioArchive().add({ type: 'file', path: 'g', source: { path } }).plan();
    await writeFile(path, 'much longer now');
    await assert.rejects(async () => {
      for await (const _ of plan.chunks());
    }, code('CPIO_SOURCE_CHANGED'));
  });
});
