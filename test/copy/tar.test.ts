// The tar format of `hypeman-exec cp -` against GNU tar: what it writes, we read (pax, gnu and
// ustar; long names, large ids, times before 1970, to the nanosecond); what we write, it reads.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { TarSink } from '../../src/host/client/copy/tar/TarSink.js';
import { MAX_EXTENDED_HEADER, readTar } from '../../src/host/client/copy/tar/TarReader.js';
import { memberPath } from '../../src/host/client/copy/tar/TarSource.js';
import { EntryKind } from '../../src/wire/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hypeman-tar-'));
const long = `${'x'.repeat(150)}-é.txt`;
writeFileSync(join(dir, long), 'long\n');
writeFileSync(join(dir, 'old'), 'old\n');
execFileSync('touch', ['-d', '@-1.25', join(dir, 'old')]);
writeFileSync(join(dir, 'plain'), 'plain\n');

async function* chunks(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function members(archive: Buffer) {
  const out: Array<{ name: string; uid: number; seconds: number; nanos: number; data: string }> = [];
  // Fed 7 bytes at a time: headers and records split anywhere.
  for await (const m of readTar(chunks(archive, 7))) {
    let data = '';
    for await (const c of m.data()) data += Buffer.from(c).toString();
    out.push({ name: Buffer.from(m.name).toString(), uid: m.uid, seconds: m.mtimeSeconds, nanos: m.mtimeNanoseconds, data });
  }
  return out;
}

describe('tar streams', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a pax extended header larger than it holds, before reading it', async () => {
    // A header block of type x (pax) declaring 2 MiB of records, then bytes without end.
    const header = Buffer.alloc(512);
    header.write('PaxHeaders/x', 0);
    header.write('0000644\0', 100);
    header.write(`${(2 * MAX_EXTENDED_HEADER).toString(8).padStart(11, '0')}\0`, 124);
    header.write('x', 156);
    header.write('ustar\x0000', 257, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    let pulled = 0;
    async function* endless(): AsyncIterable<Uint8Array> {
      yield header;
      const filler = Buffer.alloc(64 * 1024, 0x61);
      for (;;) {
        pulled += filler.length;
        yield filler;
      }
    }
    await assert.rejects(async () => {
      for await (const _ of readTar(endless())) {
        // none: the first header is refused
      }
    }, /pax extended header of 2097152 bytes is larger than the 1048576 this reader holds/);
    assert.ok(pulled <= 64 * 1024, `read ${pulled} bytes past the header`);
  });

  for (const format of ['pax', 'gnu', 'ustar'] as const) {
    it(`reads GNU tar's ${format} format`, async () => {
      // ustar holds neither long names nor times before 1970.
      const names = format === 'ustar' ? ['plain'] : [long, 'old'];
      // ustar cannot hold 3,000,000 (GNU tar refuses it there); GNU's base-256 and pax's records can.
      const owner = format === 'ustar' ? '--owner=:3000' : '--owner=:3000000';
      const archive = execFileSync('tar', ['-c', `--format=${format}`, owner, '--group=:7', '-C', dir, ...names]);
      const got = await members(archive);
      assert.deepEqual(got.map((m) => [m.name, m.data]), names.map((n) => [n, n === long ? 'long\n' : `${n}\n`]));
      assert.ok(got.every((m) => m.uid === (format === 'ustar' ? 3000 : 3_000_000)));
      const old = got.find((m) => m.name === 'old');
      if (format === 'pax') assert.deepEqual([old!.seconds, old!.nanos], [-2, 750_000_000]);
    });
  }

  it('writes what GNU tar lists and extracts exactly, times to the nanosecond', async () => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (b: Buffer) => parts.push(b));
    const sink = new TarSink(out, '/srv/app');
    const base = { mode: 0o640, uid: 1001, gid: 1002, mtimeSeconds: 1_700_000_000, mtimeNanoseconds: 123_456_789, major: 0, minor: 0, link: new Uint8Array(0) };
    await sink.entry({ ...base, kind: EntryKind.Directory, mode: 0o755, size: 0, path: new Uint8Array(0) });
    await sink.entry({ ...base, kind: EntryKind.File, size: 3, path: Buffer.from(long) });
    await sink.data(Buffer.from('abc'));
    await sink.fileEnd();
    await sink.entry({ ...base, kind: EntryKind.Symlink, size: 0, path: Buffer.from('l'), link: Buffer.from(long) });
    await sink.entry({ ...base, kind: EntryKind.Hardlink, size: 0, path: Buffer.from('h'), link: Buffer.from(long) });
    await sink.finish();
    const archive = Buffer.concat(parts);
    assert.equal(archive.length % 10240, 0);
    const listing = execFileSync('tar', ['-tv', '--full-time', '--numeric-owner'], { input: archive, encoding: 'utf8' });
    assert.match(listing, new RegExp(`^-rw-r----- 1001/1002 +3 2023-11-14 22:13:20\\.123456789 app/${long}$`, 'm'));
    assert.match(listing, new RegExp(`^l.* app/l -> ${long}$`, 'm'));
    assert.match(listing, new RegExp(`^h.* app/h link to app/${long}$`, 'm'));
    const x = mkdtempSync(join(dir, 'x-'));
    execFileSync('tar', ['-x', '-C', x], { input: archive });
    assert.equal(execFileSync('cat', [join(x, 'app', long)], { encoding: 'utf8' }), 'abc');
  });

  it('refuses member names that climb out of the destination, and drops leading / and ./', () => {
    assert.equal(Buffer.from(memberPath(Buffer.from('./a//b/./c/'))).toString(), 'a/b/c');
    assert.equal(Buffer.from(memberPath(Buffer.from('/etc/passwd'))).toString(), 'etc/passwd');
    assert.equal(memberPath(Buffer.from('./')).length, 0);
    assert.throws(() => memberPath(Buffer.from('a/../../etc')), { code: 'PATH_ESCAPES' });
  });
});
