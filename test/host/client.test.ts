// The exec client library against the real agent (a child process): through the
// HybridVsockMux (the code path of a Cloud Hypervisor VM) and through the API server's
// framed WebSocket. The same behaviours are checked on both carriers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { type ExecSession, type ExecTarget, RemoteExecError, execInInstance } from '../../src/host/client/index.js';
import { ExitKind } from '../../src/wire/index.js';
import { type AgentProcess, descendantsOf, waitUntil } from '../guest/agentProcess.js';
import { type MuxedAgent, startMuxedAgent } from './muxedAgent.js';
import { type Stack, startStack } from '../server/stack.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Collected {
  stdout: string;
  stderr: string;
  code: number;
  kind: number;
  signal: number;
}

async function collect(session: ExecSession): Promise<Collected> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  session.stdout.on('data', (c: Buffer) => out.push(c));
  session.stderr.on('data', (c: Buffer) => err.push(c));
  const status = await session.exit;
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: status.code, kind: status.kind, signal: status.signal };
}

async function run(target: ExecTarget, argv: string[], stdin = ''): Promise<Collected> {
  const s = await execInInstance(target, { argv });
  s.stdin.end(stdin);
  return collect(s);
}

/** Writes until stdin stops draining: what was written, and what the transport had taken by then. */
async function writeUntilStalled(session: ExecSession, stallMs: number): Promise<{ written: number; taken: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  for (;;) {
    written += chunk.length;
    if (session.stdin.write(chunk)) continue;
    const drained = await Promise.race([new Promise((r) => session.stdin.once('drain', () => r(true))), sleep(stallMs).then(() => false)]);
    if (!drained) return { written, taken: written - session.stdin.writableLength };
  }
}

/** The behaviours both carriers must show; `agent()` is the agent behind `target()`. */
function sharedTests(target: () => ExecTarget, agent: () => AgentProcess) {
  it('runs a command: stdout and stderr apart, exit code, Started with a pid', async () => {
    const s = await execInInstance(target(), { argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    s.closeStdin();
    const r = await collect(s);
    assert.deepEqual([r.stdout, r.stderr, r.code, r.kind], ['out\n', 'err\n', 3, ExitKind.Exited]);
    const started = await s.started;
    assert.ok(started.pid > 0);
    assert.equal(started.version, 1);
    assert.equal(started.sessionId.length, 32);
  });

  it('gives the exit codes as a shell does: 0, 7, 127 for a missing command (pid 0), 126 for a directory', async () => {
    assert.equal((await run(target(), ['true'])).code, 0);
    assert.equal((await run(target(), ['sh', '-c', 'exit 7'])).code, 7);
    const missing = await execInInstance(target(), { argv: ['no-such-command-here'] });
    missing.closeStdin();
    const r = await collect(missing);
    assert.equal((await missing.started).pid, 0);
    assert.deepEqual([r.code, r.kind], [127, ExitKind.Exited]);
    assert.match(r.stderr, /no-such-command-here: command not found/);
    assert.equal((await run(target(), ['/'])).code, 126);
  });

  it('keeps a quiet session alive: the agent answers keep-alive Pings', async () => {
    const s = await execInInstance(target(), { argv: ['sleep', '1'], keepAliveMs: 50 });
    s.closeStdin();
    assert.equal((await collect(s)).code, 0);
  });

  it('pipes stdin through cat and sees EOF', async () => {
    assert.equal((await run(target(), ['cat'], 'piped through\n')).stdout, 'piped through\n');
  });

  it('passes env and cwd', async () => {
    const s = await execInInstance(target(), { argv: ['sh', '-c', 'echo "$GREETING $(pwd)"'], env: { GREETING: 'hello' }, cwd: '/tmp' });
    s.closeStdin();
    assert.equal((await collect(s)).stdout, 'hello /tmp\n');
  });

  it('delivers signals by name and by number, and reports death by signal', async () => {
    for (const [spec, n] of [['SIGTERM', 15], ['int', 2], [10, 10]] as const) {
      const s = await execInInstance(target(), { argv: ['sleep', '30'] });
      await s.started;
      s.signal(spec);
      const r = await collect(s);
      assert.deepEqual([r.kind, r.signal, r.code], [ExitKind.Signaled, n, 128 + n], String(spec));
    }
  });

  it('resizes a TTY and the program sees the new size; a TTY has one output stream', async () => {
    const s = await execInInstance(target(), { argv: ['sh', '-c', 'stty size; echo to-stderr >&2; read x; stty size'], tty: true, window: { rows: 20, cols: 70 } });
    let out = '';
    let err = '';
    s.stdout.on('data', (c: Buffer) => (out += c));
    s.stderr.on('data', (c: Buffer) => (err += c));
    await waitUntil(() => out.includes('20 70') && out.includes('to-stderr'), 'the first stty size');
    s.resize({ rows: 33, cols: 101 });
    s.stdin.write('\r');
    await s.exit;
    assert.match(out, /20 70[\s\S]*33 101/);
    assert.equal(err, '');
  });

  it('turns an agent Error into a typed RemoteExecError carrying the wire code name', async () => {
    const s = await execInInstance(target(), { argv: ['true'], cwd: '/definitely/not/here' });
    await assert.rejects(s.started, (e: unknown) => e instanceof RemoteExecError && e.code === 'CWD_NOT_FOUND' && e.wireCode === 17);
    await assert.rejects(s.exit, (e: unknown) => e instanceof RemoteExecError && /definitely/.test(e.message));
  });

  it('holds the command back while nobody reads stdout (bounded buffering), then delivers every byte', async () => {
    const total = 64 * MiB;
    const s = await execInInstance(target(), { argv: ['head', '-c', String(total), '/dev/zero'] });
    s.closeStdin();
    await sleep(500);
    // One read of the transport at most lands in the stream beyond its high-water mark.
    assert.ok(s.stdout.readableLength <= MiB, `stdout held ${s.stdout.readableLength} bytes unread`);
    let bytes = 0;
    s.stdout.on('data', (c: Buffer) => (bytes += c.length));
    const status = await s.exit;
    assert.equal(bytes, total);
    assert.equal(status.stdoutBytes, total);
  });

  it('stops taking stdin while the command does not read it (backpressure), resumes when it does', async () => {
    const gate = join(mkdtempSync(join(tmpdir(), 'hypeman-gate-')), 'open');
    // The command reads nothing until the test creates `gate`, then counts its stdin.
    const s = await execInInstance(target(), { argv: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; wc -c`] });
    let out = '';
    s.stdout.on('data', (c: Buffer) => (out += c));
    const { written, taken } = await writeUntilStalled(s, 500);
    assert.ok(taken < 32 * MiB, `stdin took ${taken} bytes from a command that reads nothing`);
    writeFileSync(gate, '');
    s.stdin.end();
    assert.equal((await s.exit).code, 0);
    assert.equal(Number(out.trim()), written);
    rmSync(dirname(gate), { recursive: true, force: true });
  });

  it('abort() ends the session at once and the agent hangs the command up', async () => {
    const s = await execInInstance(target(), { argv: ['sleep', '300'] });
    const { pid } = await s.started;
    s.abort();
    await assert.rejects(s.exit, (e: unknown) => (e as { code?: string }).code === 'ABORTED');
    await waitUntil(() => !descendantsOf(agent().pid).includes(pid), `the agent to end command ${pid}`);
  });

  it('an AbortSignal given to execInInstance aborts the running session', async () => {
    const ac = new AbortController();
    const s = await execInInstance(target(), { argv: ['sleep', '300'], signal: ac.signal });
    await s.started;
    ac.abort();
    await assert.rejects(s.exit, (e: unknown) => (e as { code?: string }).code === 'ABORTED');
  });

  it('close() before the exit hangs the command up: exit rejects with CONNECTION_LOST', async () => {
    const s = await execInInstance(target(), { argv: ['sleep', '300'] });
    const { pid } = await s.started;
    s.close();
    await assert.rejects(s.exit, (e: unknown) => (e as { code?: string }).code === 'CONNECTION_LOST');
    await waitUntil(() => !descendantsOf(agent().pid).includes(pid), `the agent to end command ${pid}`);
  });

  it('close() while nobody reads the output still ends the session at once (issue 22)', async () => {
    // Output backs up behind a paused consumer; leaving must not wait for someone to read it:
    // the transport reads on to the peer's end (the server's Close, the agent's EOF).
    const s = await execInInstance(target(), { argv: ['yes'] });
    const { pid } = await s.started;
    s.stderr.resume();
    await new Promise((r) => s.stdout.once('readable', r));
    await sleep(300);
    s.close();
    const ended = await Promise.race([s.exit.then(() => 'exited', (e: { code?: string }) => e.code), sleep(5000).then(() => 'still open after 5 s')]);
    assert.equal(ended, 'CONNECTION_LOST');
    await waitUntil(() => !descendantsOf(agent().pid).includes(pid), `the agent to end command ${pid}`);
  });

  it('keeps going when the consumer destroys stdout: stderr and the exit still arrive', async () => {
    const s = await execInInstance(target(), { argv: ['sh', '-c', 'head -c 4000000 /dev/zero; echo done >&2'] });
    s.closeStdin();
    s.stdout.destroy();
    let err = '';
    s.stderr.on('data', (c: Buffer) => (err += c));
    assert.equal((await s.exit).code, 0);
    assert.equal(err, 'done\n');
  });

  it('runs 200 sessions at once', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => run(target(), ['echo', String(i)])));
    results.forEach((r, i) => assert.deepEqual([r.stdout, r.code], [`${i}\n`, 0]));
  });
}

describe('through the hybrid vsock mux', () => {
  let muxed: MuxedAgent;
  before(async () => {
    muxed = await startMuxedAgent();
  });
  after(() => muxed.stop());

  sharedTests(() => ({ socketPath: muxed.mux.socketPath }), () => muxed.agent);

  it('runs in an instance named in a registry, and refuses one that is not running', async () => {
    const registry = new InstanceRegistry(join(muxed.dir, 'data'));
    const base = { hypervisor: 'local' as const, vsock: { socket: muxed.mux.socketPath }, createdAt: new Date().toISOString() };
    await registry.put({ id: 'i-1', name: 'web', state: 'running', ...base });
    await registry.put({ id: 'i-2', name: 'old', state: 'stopped', ...base });
    assert.equal((await run({ registry, instance: 'web' }, ['echo', 'by name'])).stdout, 'by name\n');
    await assert.rejects(execInInstance({ registry, instance: 'old' }, { argv: ['true'] }), (e: unknown) => (e as { code?: string }).code === 'INSTANCE_NOT_RUNNING');
  });

  it('waits for an agent that is not listening yet (waitForAgentSeconds)', async () => {
    const lateMux = new HybridVsockMux({ socketPath: join(muxed.dir, 'late.sock'), ports: {} });
    await lateMux.listen();
    setTimeout(() => lateMux.route(2222, muxed.agent.socketPath), 300);
    const s = await execInInstance({ socketPath: lateMux.socketPath }, { argv: ['echo', 'late'], waitForAgentSeconds: 30 });
    s.closeStdin();
    assert.equal((await collect(s)).stdout, 'late\n');
    await lateMux.close();
  });
});

describe('through the API server (framed WebSocket)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.stop();
  });

  sharedTests(() => ({ apiUrl: stack.url.replace('ws:', 'http:'), instance: 'web', token: stack.token }), () => stack.agent);

  it('sends the token as a bearer.<token> subprotocol, as browsers must', async () => {
    const r = await run({ apiUrl: stack.url, instance: 'web', token: stack.token, tokenAsSubprotocol: true }, ['echo', 'browser']);
    assert.equal(r.stdout, 'browser\n');
  });

  it('reports refused upgrades with their status and code', async () => {
    const refused = (target: ExecTarget, status: number, code: string) =>
      assert.rejects(execInInstance(target, { argv: ['true'] }), (e: unknown) => (e as { status?: number }).status === status && (e as { code?: string }).code === code);
    await refused({ apiUrl: stack.url, instance: 'nope', token: stack.token }, 404, 'INSTANCE_NOT_FOUND');
    await refused({ apiUrl: stack.url, instance: 'old', token: stack.token }, 409, 'INSTANCE_NOT_RUNNING');
    await refused({ apiUrl: stack.url, instance: 'web', token: 'not-a-jwt' }, 401, 'UNAUTHORIZED');
  });

  it('reports an API that cannot be reached as API_UNREACHABLE', async () => {
    await assert.rejects(execInInstance({ apiUrl: 'http://127.0.0.1:1', instance: 'web' }, { argv: ['true'] }), (e: unknown) => (e as { code?: string }).code === 'API_UNREACHABLE');
  });
});
