// The agent over src/vsock: listening on AF_VSOCK (what these machines allow: bind and
// listen, never connect), retrying a busy port, a missing addon; and whole sessions over the
// same fd-wrapping byte path (FdStream) on AF_UNIX, where connecting is possible.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { AgentServer } from '../../src/guest/AgentServer.js';
import { UnixFdServer } from '../../src/vsock/index.js';
import { FrameType as T, encodeWindowSize, type Message, type StartedMessage } from '../../src/wire/index.js';
import { AgentProcess, ensureSpawnHelper, processExists, runAgentCli, waitUntil } from './agentProcess.js';
import { ExecConnection, runCommand } from './execClient.js';

const isStarted = (m: Message): m is StartedMessage => m.type === T.Started;
/** A vsock port unlikely to be taken; the test only listens (spec: never connect AF_VSOCK here). */
const vsockPort = () => 40_000 + Math.floor(Math.random() * 20_000);

describe('listening on AF_VSOCK', () => {
  it('listens on vsock:PORT beside a Unix socket', async () => {
    const port = vsockPort();
    const agent = await AgentProcess.start({ args: ['--listen', `vsock:${port}`] });
    try {
      assert.match(agent.log, new RegExp(`"address":"vsock:${port}"`));
      assert.equal((await runCommand(agent.socketPath, { argv: ['echo', 'ok'] })).stdout.toString(), 'ok\n');
    } finally {
      await agent.stop();
    }
  });

  it('retries a busy vsock port for --vsock-wait, then says why it gave up', async () => {
    const port = vsockPort();
    const holder = await AgentProcess.start({ args: ['--listen', `vsock:${port}`] });
    try {
      const r = runAgentCli(['--listen', `vsock:${port}`, '--vsock-wait', '1']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`vsock port ${port} is already in use.*tried for 1 s`));
      assert.match(r.stderr, /vsock not ready; retrying/);
    } finally {
      await holder.stop();
    }
  });

  it('fails at once, and clearly, when the vsock addon is missing', () => {
    const r = runAgentCli(['--listen', `vsock:${vsockPort()}`], { ...process.env, HYPEMAN_VSOCK_ADDON: '/no/such/vsock.node' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/no\/such\/vsock\.node/);
    assert.doesNotMatch(r.stderr, /retrying/);
  });
});

describe('sessions over the vsock byte path (FdStream on AF_UNIX)', () => {
  let dir: string;
  let server: AgentServer;
  let listener: UnixFdServer;
  let path: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hx-fdstream-'));
    path = join(dir, 'agent.sock');
    server = await AgentServer.start({ root: '/', helperPath: ensureSpawnHelper(), maxSessions: 64, defaultCwd: '/', configuredEnv: {}, startTimeoutMs: 30_000, maxLingerSeconds: 0, lingerBufferBytes: 1 << 20, log: pino({ level: 'silent' }) });
    listener = await UnixFdServer.listen(path);
    listener.on('connection', (stream) => server.accept(stream));
  });
  after(async () => {
    await listener.close();
    await server.shutdown(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command: stdout, stderr, exit code', async () => {
    const r = await runCommand(path, { argv: ['sh', '-c', 'echo out; echo err >&2; exit 4'] });
    assert.deepEqual([r.stdout.toString(), r.stderr.toString(), r.exit!.code], ['out\n', 'err\n', 4]);
  });

  it('carries 20 MB through stdin and back unchanged', async () => {
    const input = randomBytes(20_000_000);
    const r = await runCommand(path, { argv: ['cat'] }, input);
    assert.equal(r.stdout.length, input.length);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(input).digest('hex'));
  });

  it('a client that reads nothing for a while still gets everything', async () => {
    const c = await ExecConnection.open(path);
    c.socket.pause();
    c.start({ argv: ['head', '-c', '8000000', '/dev/urandom'] });
    c.closeStdin();
    await new Promise((r) => setTimeout(r, 1500));
    c.socket.resume();
    const r = await c.finish();
    c.destroy();
    assert.equal(r.stdout.length, 8_000_000);
  });

  it('terminals resize over it', async () => {
    const c = await ExecConnection.open(path);
    c.start({ argv: ['sh', '-c', 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.05; done'], tty: true });
    await c.waitForStdout('ready');
    c.send(encodeWindowSize({ rows: 12, cols: 34 }));
    const r = await c.finish();
    c.destroy();
    assert.match(r.stdout.toString(), /12 34\r\n$/);
  });

  it('a client that vanishes leaves no process behind', async () => {
    const c = await ExecConnection.open(path);
    c.start({ argv: ['sh', '-c', 'yes'] });
    const started = await c.waitFor(isStarted);
    await c.waitForStdout('y\n');
    c.destroy();
    await waitUntil(() => !processExists(started.pid), `the command ${started.pid} is reaped`);
  });
});
