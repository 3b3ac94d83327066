// What the agent holds and leaves behind: memory under a slow reader, descriptors after many
// sessions, processes after clients vanish, many sessions at once, limits and shutdown.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import {
  FrameDecoder,
  FrameType as T,
  encodeDataFrame,
  encodeExecStart,
  encodeStdinClose,
  parseFrame,
  type ExitMessage,
  type Message,
  type StartedMessage,
} from '../../src/wire/index.js';
import { AgentProcess, descendantsOf, processExists, useAgent, waitUntil } from './agentProcess.js';
import { ExecConnection, runCommand } from './execClient.js';

const isStarted = (m: Message): m is StartedMessage => m.type === T.Started;
const GiB = 1024 * 1024 * 1024;

describe('memory under a slow reader', () => {
  const agentOf = useAgent();

  it('1 GiB through stdout to a client that reads slowly keeps the agent small', async (t) => {
    const agent = agentOf();
    await runCommand(agent.socketPath, { argv: ['true'] }); // warm up before measuring
    writeFileSync(`/proc/${agent.pid}/clear_refs`, '5'); // reset VmHWM, the peak RSS
    const rssBefore = agent.statusKb('VmRSS');

    const socket = connect(agent.socketPath);
    let stdoutBytes = 0;
    let exit: ExitMessage | null = null;
    let sinceLastPause = 0;
    const decoder = new FrameDecoder((frame) => {
      const m = parseFrame(frame);
      if (m.type === T.Stdout) stdoutBytes += m.data.length;
      if (m.type === T.Exit) exit = m;
    });
    const done = new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      // Slow: stop reading for 5 ms after every MiB (at most ~200 MB/s, slower than the command).
      sinceLastPause += chunk.length;
      if (sinceLastPause >= 1024 * 1024) {
        sinceLastPause = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 5);
      }
    });
    socket.write(encodeExecStart({ argv: ['head', '-c', String(GiB), '/dev/zero'] }));
    socket.write(encodeStdinClose());
    await done;

    const peakKb = agent.statusKb('VmHWM');
    t.diagnostic(`agent RSS before ${Math.round(rssBefore / 1024)} MiB, peak during 1 GiB to a slow reader ${Math.round(peakKb / 1024)} MiB`);
    assert.equal(stdoutBytes, GiB);
    assert.equal(exit!.code, 0);
    assert.equal(exit!.stdoutBytes, GiB);
    // Without flow control the agent would buffer most of the gigabyte.
    assert.ok(peakKb < rssBefore + 128 * 1024, `peak RSS ${peakKb} kB grew more than 128 MiB over ${rssBefore} kB`);
  });
});

describe('memory under a slow consumer of stdin', () => {
  const agentOf = useAgent();

  it('256 MiB of stdin to a command that reads late is not buffered by the agent', async (t) => {
    const agent = agentOf();
    await runCommand(agent.socketPath, { argv: ['true'] });
    writeFileSync(`/proc/${agent.pid}/clear_refs`, '5');
    const rssBefore = agent.statusKb('VmRSS');
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['sh', '-c', 'sleep 1; wc -c'] });
    const chunk = Buffer.alloc(64 * 1024, 'z');
    for (let sent = 0; sent < 256 * 1024 * 1024; sent += chunk.length) {
      // Honour the socket: the agent stops reading while the command's stdin is full.
      if (!c.socket.write(encodeDataFrame(T.Stdin, chunk))) await new Promise((r) => c.socket.once('drain', r));
    }
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    const peakKb = agent.statusKb('VmHWM');
    t.diagnostic(`agent RSS before ${Math.round(rssBefore / 1024)} MiB, peak while taking 256 MiB of stdin ${Math.round(peakKb / 1024)} MiB`);
    assert.equal(r.stdout.toString().trim(), String(256 * 1024 * 1024));
    assert.ok(peakKb < rssBefore + 128 * 1024, `peak RSS ${peakKb} kB grew more than 128 MiB over ${rssBefore} kB`);
  });
});

describe('resources after many sessions', () => {
  const agentOf = useAgent();

  const mixedSession = async (i: number) => {
    const agent = agentOf();
    switch (i % 7) {
      case 0:
        return runCommand(agent.socketPath, { argv: ['sh', '-c', `echo ${i}; echo e >&2`] });
      case 1:
        return runCommand(agent.socketPath, { argv: ['cat'] }, `input ${i}\n`);
      case 2:
        return runCommand(agent.socketPath, { argv: ['sh', '-c', 'echo tty'], tty: true });
      case 3:
        return runCommand(agent.socketPath, { argv: ['no-such-command-hx'] });
      case 4:
        return runCommand(agent.socketPath, { argv: ['pwd'], cwd: '/no/such/dir' });
      case 5: {
        // A command that exits while the client never closes its stdin.
        const c = await ExecConnection.open(agent.socketPath);
        c.start({ argv: ['echo', 'no StdinClose'] });
        await c.finish();
        c.destroy();
        return null;
      }
      default: {
        // A client that leaves mid-session.
        const c = await ExecConnection.open(agent.socketPath);
        c.start({ argv: ['sleep', '60'], tty: i % 14 === 6 });
        await c.waitFor(isStarted);
        c.destroy();
        return null;
      }
    }
  };

  it('200 sessions leave the open descriptor count where it started', async (t) => {
    const agent = agentOf();
    for (let i = 0; i < 14; i++) await mixedSession(i); // warm up lazily opened descriptors
    await waitUntil(() => descendantsOf(agent.pid).length === 0, 'the warm-up sessions are reaped');
    const before = agent.fdCount();
    for (let batch = 0; batch < 200; batch += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => mixedSession(batch + k)));
    }
    await waitUntil(() => descendantsOf(agent.pid).length === 0, 'every command and helper is reaped');
    await waitUntil(() => agent.fdCount() <= before, `the descriptor count is back to ${before}`).catch(() => {});
    t.diagnostic(`open descriptors: ${before} before, ${agent.fdCount()} after 200 sessions`);
    assert.equal(agent.fdCount(), before);
  });

  it('500 concurrent sessions all complete correctly', async (t) => {
    const agent = agentOf();
    const rssBefore = agent.statusKb('VmRSS');
    const connections = await Promise.all(Array.from({ length: 500 }, () => ExecConnection.open(agent.socketPath)));
    connections.forEach((c, i) => {
      c.start({ argv: ['sh', '-c', `read x; echo "$x-${i}"`] });
    });
    await Promise.all(connections.map((c) => c.waitFor(isStarted)));
    const rssAll = agent.statusKb('VmRSS');
    connections.forEach((c, i) => {
      c.send(encodeDataFrame(T.Stdin, Buffer.from(`${String(i).padStart(3, '0')}\n`)));
      c.closeStdin();
    });
    const results = await Promise.all(connections.map((c) => c.finish()));
    connections.forEach((c) => c.destroy());
    results.forEach((r, i) => {
      assert.equal(r.stdout.toString(), `${String(i).padStart(3, '0')}-${i}\n`);
      assert.equal(r.exit!.code, 0);
    });
    t.diagnostic(`agent RSS ${Math.round(rssBefore / 1024)} MiB idle, ${Math.round(rssAll / 1024)} MiB with 500 sessions running (${Math.round((rssAll - rssBefore) / 500)} kB per session)`);
  });
});

describe('clients that vanish (spec §9.9)', () => {
  const agentOf = useAgent();

  it('a client that disconnects mid-output leaves no process behind', async () => {
    const agent = agentOf();
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['sh', '-c', 'yes | head -c 100000000000; sleep 60'] });
    const started = await c.waitFor(isStarted);
    await c.waitForStdout('y\ny\n');
    assert.ok(descendantsOf(agent.pid).length > 0);
    c.destroy();
    await waitUntil(() => !processExists(started.pid), `the command ${started.pid} is reaped`);
    await waitUntil(() => descendantsOf(agent.pid).length === 0, 'no helper or command is left');
  });

  it('a command that ignores SIGHUP is killed 5 seconds later and reaped', async () => {
    const agent = agentOf();
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['sh', '-c', 'trap "" HUP; echo ready; sleep 60'] });
    const started = await c.waitFor(isStarted);
    await c.waitForStdout('ready');
    c.socket.end(); // a half-close is a client gone too (spec §3.3)
    await waitUntil(() => !processExists(started.pid), `the command ${started.pid} is reaped`, 20_000);
    await waitUntil(() => descendantsOf(agent.pid).length === 0, 'no helper or command is left');
    c.destroy();
  });
});

describe('session limit and shutdown', () => {
  it('refuses sessions over --max-sessions with TOO_MANY_SESSIONS', async () => {
    const agent = await AgentProcess.start({ args: ['--max-sessions', '2'] });
    try {
      const running = await Promise.all([0, 1].map(() => ExecConnection.open(agent.socketPath)));
      running.forEach((c) => c.start({ argv: ['cat'] }));
      await Promise.all(running.map((c) => c.waitFor(isStarted)));
      const refused = await runCommand(agent.socketPath, { argv: ['true'] });
      assert.equal(refused.error?.code, 'TOO_MANY_SESSIONS');
      running[0].closeStdin();
      await running[0].finish();
      running[0].destroy();
      let accepted = await runCommand(agent.socketPath, { argv: ['true'] });
      // The session's slot frees when its connection has closed on the agent's side too.
      for (let i = 0; accepted.error?.code === 'TOO_MANY_SESSIONS' && i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        accepted = await runCommand(agent.socketPath, { argv: ['true'] });
      }
      assert.equal(accepted.exit?.code, 0);
      running[1].destroy();
    } finally {
      await agent.stop();
    }
  });

  it('ends a connection that sends no ExecStart with START_TIMEOUT and frees its slot', async () => {
    const agent = await AgentProcess.start({ args: ['--max-sessions', '1', '--start-timeout', '0.3'] });
    try {
      const silent = await ExecConnection.open(agent.socketPath);
      const r = await silent.finish();
      assert.equal(r.error?.code, 'START_TIMEOUT');
      assert.match(r.error!.message, /no ExecStart arrived within 0\.3 s/);
      await silent.closed;
      let accepted = await runCommand(agent.socketPath, { argv: ['true'] });
      for (let i = 0; accepted.error?.code === 'TOO_MANY_SESSIONS' && i < 100; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        accepted = await runCommand(agent.socketPath, { argv: ['true'] });
      }
      assert.equal(accepted.exit?.code, 0);
    } finally {
      await agent.stop();
    }
  });

  it('exits on SIGTERM even when nobody reads its stderr (a stuck console)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hx-stuck-log-'));
    const fifo = join(dir, 'stderr');
    execFileSync('mkfifo', [fifo]);
    const stderr = openSync(fifo, 'r+'); // never read: fills at 64 KiB
    const socketPath = join(dir, 'agent.sock');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/guest/main.ts', '--listen', `unix:${socketPath}`, '--log-level', 'debug'], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'ignore', stderr],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => existsSync(socketPath), 'the agent listens');
      for (let i = 0; i < 300; i++) await runCommand(socketPath, { argv: ['true'] }); // far more log than 64 KiB
      child.kill('SIGTERM');
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(guard);
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
      closeSync(stderr);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM: running sessions get SHUTTING_DOWN, commands are hung up, the agent exits 0', async () => {
    const agent = await AgentProcess.start();
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['sleep', '60'] });
    const started = await c.waitFor(isStarted);
    agent.child.kill('SIGTERM');
    const r = await c.finish();
    c.destroy();
    assert.equal(r.error?.code, 'SHUTTING_DOWN');
    const { code } = await agent.stop();
    assert.equal(code, 0);
    assert.equal(processExists(started.pid), false);
  });
});
