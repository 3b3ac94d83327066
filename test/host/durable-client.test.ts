// The client library's durable sessions (spec §10) through the API server: a TCP proxy of
// the test's own cuts the WebSocket at random points, and the session goes on without a
// byte lost or repeated; detach and attach, listing, expiry, hanging up on purpose.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type ExecSession, type ResumedEvent, attachSession, execInInstance, listSessions } from '../../src/host/client/index.js';
import { processesWithEnvironment, waitUntil } from '../guest/agentProcess.js';
import { CuttingProxy } from '../net/CuttingProxy.js';
import { type Stack, startStack } from '../server/stack.js';

let stack: Stack;
let proxy: CuttingProxy;
before(async () => {
  stack = await startStack();
  proxy = await CuttingProxy.start(Number(new URL(stack.url).port));
});
after(async () => {
  await proxy?.close();
  await stack?.stop();
});

const api = () => ({ apiUrl: proxy.url, instance: 'web', token: stack.token });
const MiB = 1024 * 1024;

function marker(): [string, string] {
  return ['HYPEMAN_DURABLE_MARK', randomBytes(6).toString('hex')];
}

/** `count` points in (lo, hi), at least `gap` apart, at random: where the proxy cuts. */
function randomPoints(count: number, lo: number, hi: number, gap: number): number[] {
  for (;;) {
    const points = Array.from({ length: count }, () => lo + Math.floor(Math.random() * (hi - lo))).sort((a, b) => a - b);
    if (points.every((p, i) => i === 0 || p - points[i - 1] >= gap)) return points;
  }
}

/** Collects a session's events: each resume, with what it reported. */
function watch(s: ExecSession): { resumes: ResumedEvent[] } {
  const seen = { resumes: [] as ResumedEvent[] };
  s.on('resumed', (e: ResumedEvent) => seen.resumes.push(e));
  return seen;
}

describe('a dropped connection loses nothing (issue 14)', () => {
  it('256 MiB each way through cat, the WebSocket cut at ten random points: sha256-identical, the right exit code', async () => {
    const total = 256 * MiB;
    const points = randomPoints(10, 8 * MiB, 2 * total - 8 * MiB, 16 * MiB);
    proxy.cutAt(points.map((p) => proxy.relayed + p));
    const cutsBefore = proxy.cuts;
    const s = await execInInstance(api(), { argv: ['sh', '-c', 'cat; echo done >&2; exit 7'], lingerSeconds: 30 });
    const seen = watch(s);
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    let stderr = '';
    s.stdout.on('data', (chunk: Buffer) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
    s.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const writing = (async () => {
      for (let at = 0; at < total; at += 256 * 1024) {
        const chunk = randomBytes(256 * 1024);
        sent.update(chunk);
        if (!s.stdin.write(chunk)) await new Promise((resolve) => s.stdin.once('drain', resolve));
      }
      s.stdin.end();
    })();
    const status = await s.exit;
    await writing;
    assert.equal(status.code, 7, `exit ${JSON.stringify(status)}`);
    assert.equal(stderr, 'done\n');
    assert.equal(receivedBytes, total);
    assert.equal(received.digest('hex'), sent.digest('hex'), `cut at ${points.join(', ')}`);
    assert.equal(status.stdoutBytes, total);
    assert.equal(proxy.cuts - cutsBefore, 10, 'ten cuts');
    assert.ok(seen.resumes.length >= 1, `resumed ${seen.resumes.length} times`);
    assert.ok(seen.resumes.every((r) => r.stdoutLost === 0 && r.stderrLost === 0), 'nothing lost');
  });
});

describe('detach, attach, list (spec §10)', () => {
  it('detach() leaves the command running; attachSession goes on from what the agent holds, with stdin', async () => {
    const s = await execInInstance(api(), { argv: ['sh', '-c', 'echo hello; read x; echo "bye $x"; exit 5'], lingerSeconds: 30 });
    const { sessionId, lingerSeconds } = await s.started;
    assert.equal(lingerSeconds, 30);
    assert.equal(s.id, sessionId);
    s.detach();
    await assert.rejects(s.exit, (e: unknown) => (e as { code?: string }).code === 'DETACHED');
    const listed = (await listSessions(api())).find((x) => x.id === sessionId);
    assert.ok(listed, 'listed');
    assert.deepEqual([listed.argv, listed.owner], [['sh', '-c', 'echo hello; read x; echo "bye $x"; exit 5'], 'tester']);
    await waitUntil(() => true, 'detached');
    const a = await attachSession(api(), sessionId);
    const info = await a.started;
    assert.equal(info.sessionId, sessionId);
    let out = '';
    a.stdout.on('data', (c: Buffer) => (out += c));
    a.stderr.resume();
    a.stdin.end('now\n');
    const status = await a.exit;
    assert.equal(status.code, 5);
    assert.equal(out, 'hello\nbye now\n', 'the output from the start, as the agent still held it');
  });

  it('an attach after the linger passed gets SESSION_NOT_FOUND; another subject gets SESSION_FORBIDDEN', async () => {
    const [name, value] = marker();
    const s = await execInInstance(api(), { argv: ['sleep', '60'], env: { [name]: value }, lingerSeconds: 1 });
    const { sessionId } = await s.started;
    const mallory = await stack.tokenFor('mallory');
    await assert.rejects((await attachSession({ ...api(), token: mallory }, sessionId)).exit, (e: unknown) => (e as { code?: string }).code === 'SESSION_FORBIDDEN');
    s.detach();
    await waitUntil(() => processesWithEnvironment(`${name}=${value}`).length === 0, 'the command is hung up when the linger passes', 10_000);
    const late = await attachSession(api(), sessionId);
    await assert.rejects(late.exit, (e: unknown) => (e as { code?: string }).code === 'SESSION_NOT_FOUND');
  });

  it('close() hangs a lingering command up at once: it does not wait for its linger', async () => {
    const [name, value] = marker();
    const s = await execInInstance(api(), { argv: ['sleep', '60'], env: { [name]: value }, lingerSeconds: 60 });
    await s.started;
    s.close();
    await assert.rejects(s.exit, (e: unknown) => (e as { code?: string }).code === 'CONNECTION_LOST');
    await waitUntil(() => processesWithEnvironment(`${name}=${value}`).length === 0, 'the command is hung up', 5000);
  });
});
