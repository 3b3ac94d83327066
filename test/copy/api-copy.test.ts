// Copy and stat through the API server (spec §12.10): the framed dialect through the library
// (every file type, 1 GiB checked with SHA-256, an interrupted copy), the original's JSON
// dialect and its stat endpoint driven by an independent client in Python, and the audit log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type CopySource, type SourceEntry, copyFromInstance, copyToInstance } from '../../src/host/client/index.js';
import { EntryKind, FrameType, WEBSOCKET_SUBPROTOCOL, decodeSingleFrame, encodeCopyTo, encodeExecStart, parseFrame } from '../../src/wire/index.js';
import { waitUntil } from '../guest/agentProcess.js';
import { type Stack, startStack } from '../server/stack.js';
import { describeTree, readTree } from './copyStack.js';
import { makeEveryKindOfFile } from './treeFixture.js';

const PYTHON_CLIENT = new URL('../interop/hx_cp_compat.py', import.meta.url).pathname;
const GIB = 1024 * 1024 * 1024;

/** Writes `size` pseudo-random bytes (an AES-CTR keystream: fast, incompressible) and returns their SHA-256. */
function writeRandomFile(path: string, size: number): string {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let left = size; left > 0; left -= zeros.length) {
    const block = cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    hash.update(block);
    writeSync(fd, block);
  }
  closeSync(fd);
  return hash.digest('hex');
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('copy through the API server', () => {
  let stack: Stack;
  let root: string;
  let local: string;
  let apiUrl: string;
  const target = () => ({ apiUrl, instance: 'web', token: stack.token });
  // Asynchronously: the API server runs in this process and must answer meanwhile.
  const python = async (...args: string[]) => {
    const child = spawn('python3', [PYTHON_CLIENT, '--url', apiUrl, '--token', stack.token, '--instance', 'web', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { status, messages: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), stderr };
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'hypeman-copy-api-root-'));
    local = mkdtempSync(join(tmpdir(), 'hypeman-copy-api-'));
    stack = await startStack({ agentArgs: ['--root', root] });
    apiUrl = stack.url.replace(/^ws:/, 'http:');
  });
  after(async () => {
    await stack.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(local, { recursive: true, force: true });
  });

  it('round-trips a tree of every file type in the framed dialect', async () => {
    makeEveryKindOfFile(join(local, 'tree'));
    await copyToInstance(target(), { source: join(local, 'tree'), destination: '/', archive: true });
    assert.deepEqual(describeTree(readTree(join(root, 'tree'))), describeTree(readTree(join(local, 'tree'))));
    await copyFromInstance(target(), { source: '/tree', destination: join(local, 'back'), archive: true });
    assert.deepEqual(describeTree(readTree(join(local, 'back')), { mtimeMicroseconds: true }), describeTree(readTree(join(local, 'tree')), { mtimeMicroseconds: true }));
    // One audit line per copy: who, which way, which path, how many files and bytes, how it ended.
    const audit = stack.auditLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'copy');
    assert.deepEqual(
      audit.map(({ subject, direction, path, files, result, dialect }) => ({ subject, direction, path, files, result, dialect })),
      [
        { subject: 'tester', direction: 'to', path: '/', files: readTree(join(local, 'tree')).size, result: 'ok', dialect: 'framed' },
        { subject: 'tester', direction: 'from', path: '/tree', files: readTree(join(local, 'tree')).size, result: 'ok', dialect: 'framed' },
      ],
    );
    assert.equal(audit[0].bytes, audit[1].bytes);
  });

  it('copies a 1 GiB file each way, SHA-256 identical', async () => {
    const source = join(local, 'gib.bin');
    const sum = writeRandomFile(source, GIB);
    try {
      const up = await copyToInstance(target(), { source, destination: '/gib.bin' });
      assert.equal(up.bytes, GIB);
      assert.equal(await sha256Of(join(root, 'gib.bin')), sum);
      unlinkSync(source);
      const down = await copyFromInstance(target(), { source: '/gib.bin', destination: join(local, 'gib-back.bin') });
      assert.equal(down.bytes, GIB);
      assert.equal(await sha256Of(join(local, 'gib-back.bin')), sum);
    } finally {
      for (const p of [source, join(root, 'gib.bin'), join(local, 'gib-back.bin')]) rmSync(p, { force: true });
    }
  });

  it('leaves no partial file under the final name when a copy is cut off, either way', async () => {
    // An upload that stops after 8 MiB of a 64 MiB file: the client goes away.
    const abort = new AbortController();
    let sent = 0;
    const slow: CopySource = {
      name: new Uint8Array(0),
      async *entries(): AsyncIterable<SourceEntry> {
        yield {
          kind: EntryKind.File, mode: 0o644, uid: 0, gid: 0, mtimeSeconds: 0, mtimeNanoseconds: 0, size: 64 * 1024 * 1024, major: 0, minor: 0, path: new Uint8Array(0), link: new Uint8Array(0),
          data: async function* () {
            for (;;) {
              if (sent >= 8 * 1024 * 1024) abort.abort();
              sent += 256 * 1024;
              yield randomBytes(256 * 1024);
            }
          },
        };
      },
    };
    mkdirSync(join(root, 'cut'));
    await assert.rejects(copyToInstance(target(), { source: slow, destination: '/cut/big.bin', signal: abort.signal }), { code: 'ABORTED' });
    // The agent removes its temporary file once it sees the connection end.
    await waitUntil(() => readdirSync(join(root, 'cut')).length === 0, 'the agent removed the partial upload', 10_000);

    writeRandomFile(join(root, 'cut/whole.bin'), 32 * 1024 * 1024);
    const down = new AbortController();
    const cut = copyFromInstance(target(), { source: '/cut/whole.bin', destination: join(local, 'cut.bin'), signal: down.signal, onProgress: (p) => p.bytes > 4 * 1024 * 1024 && down.abort() });
    await assert.rejects(cut, { code: 'ABORTED' });
    assert.deepEqual(readdirSync(local).filter((n) => n.startsWith('cut') || n.startsWith('.hypeman-copy-')), []);
  });

  it("speaks the original's JSON dialect to an independent client: to, from, errors", async () => {
    mkdirSync(join(local, 'compat/sub'), { recursive: true });
    writeFileSync(join(local, 'compat/a.txt'), 'alpha\n');
    writeFileSync(join(local, 'compat/sub/b.txt'), 'beta\n');
    const to = await python('to', join(local, 'compat'), '/compat');
    assert.equal(to.status, 0, to.stderr);
    // One connection per directory and file, as the original's client makes them.
    assert.deepEqual(to.messages, [
      { type: 'result', success: true },
      { type: 'result', success: true, bytes_written: 6 },
      { type: 'result', success: true },
      { type: 'result', success: true, bytes_written: 5 },
    ]);
    assert.equal(readFileSync(join(root, 'compat/sub/b.txt'), 'utf8'), 'beta\n');

    symlinkSync('a.txt', join(root, 'compat/link'));
    const from = await python('from', '/compat', join(local, 'compat-back'));
    assert.equal(from.status, 0, from.stderr);
    const headers = from.messages.filter((m) => m.type === 'header').map(({ mtime, ...rest }) => (assert.equal(typeof mtime, 'number'), rest));
    assert.deepEqual(headers, [
      { type: 'header', path: 'compat', mode: 0o755, is_dir: true, size: 0 },
      { type: 'header', path: 'compat/a.txt', mode: 0o644, is_dir: false, size: 6 },
      { type: 'header', path: 'compat/link', mode: 0o777, is_dir: false, is_symlink: true, link_target: 'a.txt', size: 5 },
      { type: 'header', path: 'compat/sub', mode: 0o755, is_dir: true, size: 0 },
      { type: 'header', path: 'compat/sub/b.txt', mode: 0o644, is_dir: false, size: 5 },
    ]);
    // Each entry ends with an end marker, the last one final; the data came as binary messages.
    const ends = from.messages.filter((m) => m.type === 'end');
    assert.deepEqual(ends.map((m) => m.final), [false, false, false, false, true]);
    assert.deepEqual(from.messages.filter((m) => 'binary' in m), [{ binary: 6 }, { binary: 5 }]);
    assert.equal(readFileSync(join(local, 'compat-back/compat/sub/b.txt'), 'utf8'), 'beta\n');

    const missing = await python('from', '/no/such/file', join(local, 'x'));
    assert.equal(missing.status, 1);
    assert.deepEqual(missing.messages[0], { type: 'error', message: 'cannot copy "/no/such/file": no such file or directory', path: '/no/such/file' });
    // A failure in the agent during "to" is the original's unsuccessful result.
    writeFileSync(join(local, 'onto-dir'), 'x\n');
    const onto = await python('to', join(local, 'onto-dir'), '/compat/sub');
    assert.equal(onto.status, 1);
    assert.equal(onto.messages[0].type, 'result');
    assert.equal(onto.messages[0].success, false);
    assert.match(String(onto.messages[0].error), /directory/);
    assert.deepEqual((await python('raw', '{"direction":"sideways","guest_path":"/"}')).messages, [{ type: 'error', message: "invalid direction: sideways (must be 'to' or 'from')" }, { close: 4016 }]);
    assert.deepEqual((await python('raw', '{"direction":"to","guest_path":"/x","mode":"rw"}')).messages[0], { type: 'error', message: 'invalid JSON: mode must be an unsigned 32-bit integer' });
    const audit = stack.auditLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'copy' && l.dialect === 'compat');
    assert.ok(audit.some((l) => l.direction === 'from' && l.path === '/compat' && l.files === 5 && l.bytes === 11 && l.result === 'ok'));
    assert.ok(audit.some((l) => l.direction === 'from' && l.path === '/no/such/file' && l.result === 'error' && l.error === 'PATH_NOT_FOUND'));
  });

  it('answers GET /instances/{id}/stat with the original PathInfo', async () => {
    const stat = async (path: string, ...flags: string[]) => (await python(...flags, 'stat', path)).messages[0] as { status: number; body: Record<string, unknown> };
    assert.deepEqual(await stat('/compat/a.txt'), { status: 200, body: { exists: true, is_dir: false, is_file: true, is_symlink: false, link_target: '', mode: 0o644, size: 6 } });
    assert.deepEqual(await stat('/compat/link'), { status: 200, body: { exists: true, is_dir: false, is_file: false, is_symlink: true, link_target: 'a.txt', mode: 0o777, size: 5 } });
    assert.deepEqual(await stat('/compat/link', '--follow'), { status: 200, body: { exists: true, is_dir: false, is_file: true, is_symlink: false, link_target: '', mode: 0o644, size: 6 } });
    assert.deepEqual(await stat('/nothing'), { status: 200, body: { exists: false, is_dir: false, is_file: false, is_symlink: false, link_target: '', mode: 0, size: 0 } });
    const error = await stat('/compat/a.txt/below');
    assert.equal(error.body.exists, false);
    assert.match(String(error.body.error), /not a directory/);
    const refused = async (url: string, token?: string) => (await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status;
    assert.equal(await refused(`${apiUrl}/instances/web/stat?path=/`), 401);
    assert.equal(await refused(`${apiUrl}/instances/old/stat?path=/`, stack.token), 409);
    assert.equal(await refused(`${apiUrl}/instances/nope/stat?path=/`, stack.token), 404);
    assert.equal(await refused(`${apiUrl}/instances/web/stat`, stack.token), 400);
  });

  it('keeps the two endpoints apart: no ExecStart on /cp, no copy on /exec', async () => {
    const closeOf = (path: string, frame: Uint8Array) =>
      new Promise<{ code: number; error?: string }>((resolve) => {
        const ws = new WebSocket(`${stack.url}/instances/web/${path}`, [WEBSOCKET_SUBPROTOCOL], { headers: { authorization: `Bearer ${stack.token}` } });
        let error: string | undefined;
        ws.on('open', () => ws.send(frame));
        ws.on('message', (data: Buffer) => {
          const m = parseFrame(decodeSingleFrame(new Uint8Array(data))!);
          if (m.type === FrameType.Error) error = m.code;
        });
        ws.on('close', (code) => resolve({ code, error }));
      });
    assert.deepEqual(await closeOf('cp', encodeExecStart({ argv: ['true'] })), { code: 4004, error: 'UNEXPECTED_FRAME' });
    assert.deepEqual(await closeOf('exec', encodeCopyTo({ path: Buffer.from('/x'), name: new Uint8Array(0), owners: false, parents: false })), { code: 4004, error: 'UNEXPECTED_FRAME' });
    assert.equal(existsSync(join(root, 'x')), false);
  });
});

describe('a tree of small files through the API server', () => {
  let stack: Stack;
  let root: string;
  let local: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'hypeman-copy-small-root-'));
    local = mkdtempSync(join(tmpdir(), 'hypeman-copy-small-'));
    // 100 small messages a second (25 at once): a frame per message would be cut at once.
    stack = await startStack({ agentArgs: ['--root', root], limits: { smallMessagesPerSecond: 100 } });
  });
  after(async () => {
    await stack.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(local, { recursive: true, force: true });
  });

  // Found by the benchmark: once the client read small files quickly, an upload of 10,000
  // sent three small frames a file, a message each, and the server's limit on small
  // messages ended it with FLOW_CONTROL. Small frames travel joined into larger messages.
  it('joins small frames into larger messages, so a tree of 500 files is no flood', async () => {
    const tree = join(local, 'many');
    let bytes = 0;
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) {
        const text = `file ${d}/${f}\n`;
        writeFileSync(join(tree, `d${d}`, `f${f}`), text);
        bytes += text.length;
      }
    }
    const target = { apiUrl: stack.url.replace(/^ws:/, 'http:'), instance: 'web', token: stack.token };
    const up = await copyToInstance(target, { source: tree, destination: '/many' });
    assert.deepEqual(up, { entries: 506, bytes });
    assert.deepEqual(describeTree(readTree(join(root, 'many'))), describeTree(readTree(tree)));
    await copyFromInstance(target, { source: '/many', destination: join(local, 'back') });
    // Here, times to the microsecond (Node's utimes).
    assert.deepEqual(describeTree(readTree(join(local, 'back')), { mtimeMicroseconds: true }), describeTree(readTree(tree), { mtimeMicroseconds: true }));
  });
});

