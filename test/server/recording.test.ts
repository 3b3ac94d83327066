// Issue 16: session recordings. TTY sessions through the real API server with a recording
// directory: typed text, output (a character split between two Stdout frames), a resize and
// the exit, replayed into a headless xterm.js and compared with the screen the client's own
// output draws; the audit line's byte count and sha256 against the file; a resume goes on in
// the same file; --record-input off, the size limit, 0600/0700, rotation by age, the
// endpoint's answers, and a server killed mid-session leaving a valid prefix.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { RecordingStore, type RecordingOptions } from '../../src/host/server/recording/RecordingStore.js';
import { FrameType, type StartedMessage, encodeExecStart } from '../../src/wire/index.js';
import { waitUntil } from '../guest/agentProcess.js';
import { type Cast, HeadlessScreen, parseCast, replay } from './asciicast.js';
import { TtySession } from './ttySession.js';
import { FramedClient, SECRET, type Stack, execUrl, startStack } from './stack.js';

const PROJECT = new URL('../..', import.meta.url).pathname;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const silent = pino({ level: 'silent' });

function recordDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'hypeman-rec-')), 'recordings');
}

function store(options: Partial<RecordingOptions> = {}): RecordingStore {
  return new RecordingStore({ dir: recordDir(), recordInput: true, maxBytes: 1024 * 1024, maxAgeSeconds: 0, ...options }, silent);
}

async function auditLine(stack: Stack, session: string, resumed = false): Promise<Record<string, any>> {
  const find = () =>
    stack.auditLines
      .map((l) => JSON.parse(l))
      .find((l) => l.audit === 'exec' && l.session === session && Boolean(l.resumed) === resumed);
  await waitUntil(() => find() !== undefined, `the audit line of ${session}`);
  return find();
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('session recordings (issue 16)', () => {
  let stack: Stack;
  let recordings: RecordingStore;
  before(async () => {
    recordings = store();
    stack = await startStack({ recordings });
  });
  after(async () => {
    await stack?.stop();
    rmSync(join(recordings.options.dir, '..'), { recursive: true, force: true });
  });

  let recorded = '';

  it('records typed text, output, a resize and the exit; the replay draws the live screen; the audit line has its size and sha256', async () => {
    const s = await TtySession.start(stack);
    const id = hex((await s.started()).sessionId);
    recorded = id;
    await s.waitFor('$ ');
    // € (e2 82 ac) cut between two writes of the command, so between two Stdout frames.
    await s.type(`printf 'split \\342\\202'; sleep 0.3; printf '\\254 done\\n'`, '€ done');
    const frames = s.client.messages.filter((m) => m.type === FrameType.Stdout).map((m) => Buffer.from((m as { data: Uint8Array }).data));
    assert.ok(frames.some((f) => f.subarray(-2).equals(Buffer.from([0xe2, 0x82]))), 'a Stdout frame ends inside the character');
    await s.resize(100, 30);
    await s.type('stty size', '30 100');
    await s.type('seq 1 40', '40');
    const exit = await s.exit(3);
    assert.equal(exit.code, 3);

    const line = await auditLine(stack, id);
    const path = join(recordings.options.dir, `${id}.cast`);
    assert.deepEqual(line.recording, { file: `${id}.cast`, bytes: statSync(path).size, sha256: sha256(path) });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(recordings.options.dir).mode & 0o777, 0o700);

    const cast = parseCast(readFileSync(path, 'utf8'));
    assert.equal(cast.partial, '');
    assert.deepEqual(cast.header.term, { cols: 80, rows: 24, type: 'xterm-256color' });
    assert.equal(cast.header.version, 3);
    assert.equal(cast.header.command, 'sh');
    assert.deepEqual(cast.header.hypeman, { session: id, instance: 'web-id', owner: 'tester' });
    assert.ok(Math.abs(cast.header.timestamp - Date.now() / 1000) < 120);
    const codes = new Set(cast.events.map((e) => e[1]));
    assert.deepEqual([...codes].sort(), ['i', 'o', 'r', 'x']);
    assert.deepEqual(cast.events.at(-1)?.slice(1), ['x', '3']);
    assert.deepEqual(cast.events.filter((e) => e[1] === 'r').map((e) => e[2]), ['100x30']);
    assert.ok(cast.events.every((e) => e[0] >= 0));
    const typed = cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    assert.match(typed, /stty size\n[^]*seq 1 40\n[^]*exit 3\n/);
    const output = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    assert.ok(output.includes('split € done'), 'the split character is whole');
    assert.ok(!output.includes('\uFFFD'), 'no replacement character');
    // The sleep between the two halves shows in the intervals.
    assert.ok(cast.events.reduce((sum, e) => sum + e[0], 0) >= 0.3);

    const replayed = await replay(cast);
    assert.deepEqual(replayed.snapshot(), s.live.snapshot());
    assert.equal(replayed.snapshot().size, '100x30');
    replayed.dispose();
    s.live.dispose();
  });

  it('serves the recording to its owner: 200 with the file, 403 to another subject, 404 for none', async () => {
    assert.ok(recorded, 'the first test recorded a session');
    const http = stack.url.replace(/^ws:/, 'http:');
    const get = (path: string, token?: string) => fetch(`${http}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const ok = await get(`/instances/web/sessions/${recorded}/recording`, stack.token);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/x-asciicast');
    assert.equal(await ok.text(), readFileSync(join(recordings.options.dir, `${recorded}.cast`), 'utf8'));

    const other = await get(`/instances/web/sessions/${recorded}/recording`, await stack.tokenFor('someone-else'));
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { code: string }).code, 'RECORDING_FORBIDDEN');
    // A token whose observe claim covers the instance may watch others' sessions, and so read their recordings.
    const watcher = await get(`/instances/web/sessions/${recorded}/recording`, await stack.tokenFor('auditor', { observe: ['web'] }));
    assert.equal(watcher.status, 200);
    const elsewhere = await get(`/instances/web/sessions/${recorded}/recording`, await stack.tokenFor('auditor', { observe: ['db'] }));
    assert.equal(elsewhere.status, 403);

    for (const path of [`/instances/web/sessions/${'0'.repeat(32)}/recording`, `/instances/web/sessions/not-an-id/recording`, `/instances/db/sessions/${recorded}/recording`]) {
      const missing = await get(path, stack.token);
      assert.equal(missing.status, 404, path);
      const body = (await missing.json()) as { code: string; message: string };
      assert.equal(body.code, 'RECORDING_NOT_FOUND');
      assert.match(body.message, /no recording of session/);
    }
    assert.equal((await get(`/instances/web/sessions/${recorded}/recording`)).status, 401);
    assert.equal((await get(`/instances/nope/sessions/${recorded}/recording`, stack.token)).status, 404);
  });

  it('a resumed session goes on in the same file, without repeating what was recorded', async () => {
    const first = await TtySession.start(stack, { lingerSeconds: 60 });
    const id = (await first.started()).sessionId;
    await first.waitFor('$ ');
    await first.type('echo one', 'one');
    first.client.ws.terminate();
    await first.client.done;
    // The client says it got 4 bytes less than it did: they come again, and are recorded once.
    const received = first.output().length - 4;

    const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
    await client.opened();
    client.send(encodeExecStart({ resume: { sessionId: id, stdoutBytes: received, stderrBytes: 0 } }));
    const second = new TtySession(client, 80, 24);
    await second.started();
    await second.type('echo two', 'two');
    await second.exit(0);

    const path = join(recordings.options.dir, `${hex(id)}.cast`);
    const cast = parseCast(readFileSync(path, 'utf8'));
    const markers = cast.events.filter((e) => e[1] === 'm').map((e) => e[2]);
    assert.deepEqual(markers, ['disconnected', 'resumed']);
    assert.deepEqual(cast.events.at(-1)?.slice(1), ['x', '0']);
    const live = new HeadlessScreen(80, 24);
    await live.write(Uint8Array.from(Buffer.concat([first.output().subarray(0, received), second.output()])));
    assert.deepEqual((await replay(cast)).snapshot(), live.snapshot());
    // Each connection's audit line gives the file as it stood when that connection ended.
    const resumedLine = await auditLine(stack, hex(id), true);
    assert.deepEqual(resumedLine.recording, { file: `${hex(id)}.cast`, bytes: statSync(path).size, sha256: sha256(path) });
    const firstLine = await auditLine(stack, hex(id));
    assert.ok(firstLine.recording.bytes < resumedLine.recording.bytes);
  });

  it('records nothing of a session without a terminal', async () => {
    const client = new FramedClient(execUrl(stack.url, 'web'), { token: stack.token });
    await client.opened();
    client.send(encodeExecStart({ argv: ['echo', 'plain'] }));
    const result = await client.done;
    assert.equal(result.stdout.toString(), 'plain\n');
    const started = result.messages.find((m) => m.type === FrameType.Started) as StartedMessage;
    const line = await auditLine(stack, hex(started.sessionId));
    assert.equal(line.recording, undefined);
    assert.equal(existsSync(join(recordings.options.dir, `${hex(started.sessionId)}.cast`)), false);
  });
});

describe('recording limits and options (issue 16)', () => {
  let stack: Stack;
  let recordings: RecordingStore;
  before(async () => {
    recordings = store({ recordInput: false, maxBytes: 8192 });
    stack = await startStack({ recordings });
  });
  after(async () => {
    await stack?.stop();
    rmSync(join(recordings.options.dir, '..'), { recursive: true, force: true });
  });

  it('without --record-input nothing typed is recorded; at --record-max-bytes recording stops with a marker, and the audit line says so', async () => {
    const s = await TtySession.start(stack);
    const id = hex((await s.started()).sessionId);
    await s.waitFor('$ ');
    await s.type('echo typed-text', 'typed-text');
    await s.type('seq 1 3000', '3000');
    await s.exit(0);
    const path = join(recordings.options.dir, `${id}.cast`);
    const line = await auditLine(stack, id);
    assert.deepEqual(line.recording, { file: `${id}.cast`, bytes: statSync(path).size, sha256: sha256(path), stopped: 'size_limit' });
    assert.ok(statSync(path).size <= 8192, `${statSync(path).size} bytes`);
    const cast = parseCast(readFileSync(path, 'utf8'));
    assert.equal(cast.events.filter((e) => e[1] === 'i').length, 0);
    assert.match(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join(''), /echo typed-text/, 'the echo is output');
    const last = cast.events.at(-1)!;
    assert.equal(last[1], 'm');
    assert.match(last[2], /recording stopped: the file reached its limit of 8192 bytes/);
  });
});

describe('recording files on disk (issue 16)', () => {
  it('removes recordings older than --record-max-age at start, keeps newer ones, and closes the directory to others', async () => {
    const dir = recordDir();
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const old = join(dir, `${'a'.repeat(32)}.cast`);
    const fresh = join(dir, `${'b'.repeat(32)}.cast`);
    const other = join(dir, 'notes.txt');
    for (const f of [old, fresh, other]) writeFileSync(f, '{"version":3,"term":{"cols":80,"rows":24}}\n');
    const twoDaysAgo = Date.now() / 1000 - 2 * 86_400;
    utimesSync(old, twoDaysAgo, twoDaysAgo);
    utimesSync(other, twoDaysAgo, twoDaysAgo);
    const s = new RecordingStore({ dir, recordInput: false, maxBytes: 1 << 20, maxAgeSeconds: 86_400 }, silent);
    try {
      await s.start();
      assert.deepEqual(readdirSync(dir).sort(), [`${'b'.repeat(32)}.cast`, 'notes.txt']);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      utimesSync(fresh, twoDaysAgo, twoDaysAgo);
      assert.equal(await s.sweep(), 1);
      assert.deepEqual(readdirSync(dir), ['notes.txt']);
    } finally {
      s.stop();
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('a server killed (SIGKILL) in the middle of a session leaves a recording whose every line is valid and whose prefix replays', async () => {
    const stack = await startStack();
    const dir = recordDir();
    const server = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT, 'src/host/server/main.ts'), '--port', '0', '--data-dir', join(stack.dir, 'data'), '--jwt-secret', SECRET, '--record-dir', dir],
      { cwd: PROJECT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise((resolve) => server.once('exit', resolve));
    try {
      let log = '';
      server.stderr!.setEncoding('utf8').on('data', (t: string) => (log += t));
      await waitUntil(() => /"port":\d+/.test(log), 'the server listening', 30_000);
      const port = Number(/"port":(\d+)/.exec(log)![1]);
      const s = await TtySession.start({ ...stack, url: `ws://127.0.0.1:${port}` }, { argv: ['sh', '-c', 'i=0; while :; do echo "line $i"; i=$((i+1)); done'] });
      const id = hex((await s.started()).sessionId);
      const path = join(dir, `${id}.cast`);
      // Much output relayed, and some of it on disk (the file opens while the output runs).
      await waitUntil(() => s.output().includes('line 3000') && existsSync(path) && statSync(path).size > 16_384, 'much output, recorded');
      server.kill('SIGKILL');
      await exited;
      await s.client.done;
      const cast: Cast = parseCast(readFileSync(path, 'utf8'));
      assert.ok(cast.events.length > 10, `${cast.events.length} events`);
      assert.ok(cast.events.every((e) => e[1] === 'o'), 'output only: no exit was recorded');
      // The server records a chunk before sending it: either may have got further than the other.
      const recordedText = cast.events.map((e) => e[2]).join('');
      const received = s.output().toString('utf8');
      assert.ok(recordedText.startsWith(received) || received.startsWith(recordedText), 'the recording is the output the client got, up to where one of them stopped');
      const screen = (await replay(cast)).snapshot();
      assert.ok(screen.lines.some((l) => /^line \d+$/.test(l)), `the replay shows the output: ${screen.lines.slice(-3).join(' | ')}`);
    } finally {
      server.kill('SIGKILL');
      await stack.stop();
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
