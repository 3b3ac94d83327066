// Issue 8: the real `npm start` entry, as a new user runs it: the API server with local-1,
// driven by the real CLI (a command, a pipe, an exit code, an interactive shell under a
// pseudo-terminal); SIGTERM leaves nothing running and no socket behind; a second start
// works at once, with the first run's token; a dead agent makes exec answer 409.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as pty from 'node-pty';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { CLI, requireBuiltCli, runCli } from '../cli/cliProcess.js';
import { descendantsOf, processExists, waitUntil } from '../guest/agentProcess.js';
import { needsRoot } from '../initrd/helpers.js';
import { freePort, StartProcess } from './startProcess.js';

const INSTANCE = 'local-1';

/** Processes whose command line mentions `text` (leftovers of a data directory). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(text)) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Stops `started` with SIGTERM and checks that everything it started is gone, sockets too. */
async function stopAndCheckClean(started: StartProcess): Promise<void> {
  const descendants = descendantsOf(started.pid);
  assert.ok(descendants.length > 0, 'npm start runs the sandbox as its child');
  const exit = await started.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, started.stderr);
  await waitUntil(() => descendants.every((pid) => !processExists(pid)), `the processes npm start started (${descendants.join(', ')}) are gone`);
  assert.deepEqual(processesMentioning(started.dataDir), [], 'no process runs from the data directory');
  const guestDir = join(started.dataDir, 'guests', INSTANCE);
  assert.equal(existsSync(join(guestDir, 'vsock.sock')), false, 'the vsock socket is removed');
  assert.equal(existsSync(join(guestDir, 'agent', 'agent.sock')), false, "the agent's socket is removed");
  assert.equal((await new InstanceRegistry(started.dataDir).get(INSTANCE)).state, 'stopped');
}

describe('npm start', { skip: needsRoot }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hypeman-npm-start-'));
  let port: number;
  let first: StartProcess;

  before(async () => {
    requireBuiltCli();
    port = await freePort();
    first = await StartProcess.start(dataDir, port);
  });
  after(async () => {
    await first?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the token it wrote and the example commands', () => {
    assert.match(first.stdout, new RegExp(`export HYPEMAN_TOKEN=${first.token.replace(/[.]/g, '\\.')}\\n`));
    assert.match(first.stdout, new RegExp(`export HYPEMAN_API_URL=http://127\\.0\\.0\\.1:${port}\\n`));
    assert.match(first.stdout, /npx hypeman-exec local-1 uname -a\n/);
    assert.match(first.stdout, /npx hypeman-exec -it local-1 \/bin\/sh\n/);
  });

  it('runs a command in local-1 through the CLI: its own host name, the sandbox as PID 1', async () => {
    const result = await runCli([INSTANCE, 'sh', '-c', 'hostname; cat /proc/1/comm; ls /.hypeman/bin'], first.cliEnv());
    assert.equal(result.status, 0, result.stderr);
    const [hostname, pid1, ...payload] = result.stdout.toString().trim().split('\n');
    assert.equal(hostname, INSTANCE, 'a uts namespace of its own');
    assert.equal(pid1, 'busybox', "a pid namespace of its own: PID 1 is the sandbox's shell");
    assert.ok(payload.includes('hypeman-exec-agent') && payload.includes('node'), payload.join(' '));
  });

  it('pipes local stdin through a remote command and keeps stderr apart', async () => {
    const result = await runCli([INSTANCE, 'sh', '-c', 'tr a-z A-Z; echo to-stderr >&2'], first.cliEnv(), 'hello\nworld\n');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'HELLO\nWORLD\n');
    assert.equal(result.stderr, 'to-stderr\n');
  });

  it("passes the command's exit code through", async () => {
    const result = await runCli([INSTANCE, 'sh', '-c', 'exit 7'], first.cliEnv());
    assert.equal(result.status, 7);
  });

  it('runs an interactive shell with -it under a pseudo-terminal', async () => {
    const term = pty.spawn(process.execPath, [CLI, '-it', INSTANCE, '/bin/sh'], { cols: 91, rows: 17, env: first.cliEnv() as Record<string, string> });
    let output = '';
    term.onData((d) => (output += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      term.write('echo $((6*7)); stty size; tty\r');
      // \r+: the local terminal adds a CR of its own (libuv's raw mode keeps ONLCR).
      await waitUntil(() => /42\r+\n17 91\r+\n\/dev\/pts\/\d+/.test(output), 'the shell answered');
      term.write('exit 3\r');
      assert.equal(await exited, 3);
    } finally {
      term.kill();
    }
  });

  it('stops on SIGTERM leaving no process and no socket; a second start works at once with the same token; a dead agent gives 409', async () => {
    const token = first.token;
    await stopAndCheckClean(first);

    const second = await StartProcess.start(dataDir, port);
    try {
      assert.equal(second.token.length > 0, true);
      const again = await runCli([INSTANCE, 'true'], { ...second.cliEnv(), HYPEMAN_TOKEN: token });
      assert.equal(again.status, 0, `the first run's token still works (the secret is kept): ${again.stderr}`);

      const agent = descendantsOf(second.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('agent.cjs'));
      assert.ok(agent, 'the agent runs under npm start');
      process.kill(agent, 'SIGKILL');
      const registry = new InstanceRegistry(dataDir);
      await waitUntil(() => second.stderr.includes('exec answers 409'), 'npm start reports the dead agent');
      assert.equal((await registry.get(INSTANCE)).state, 'stopped');
      const refused = await runCli([INSTANCE, 'true'], second.cliEnv());
      assert.equal(refused.status, 255);
      assert.match(refused.stderr, /not running \(HTTP 409\)/);
    } finally {
      await stopAndCheckClean(second);
    }
  });

  it('a start right after SIGTERM to the previous one waits for it to let go instead of failing with INSTANCE_IN_USE', async () => {
    const previous = await StartProcess.start(dataDir, port);
    previous.child.kill('SIGTERM');
    const next = await StartProcess.start(dataDir, port);
    try {
      assert.deepEqual(await previous.exited, { code: 0, signal: null });
      const result = await runCli([INSTANCE, 'echo', 'taken over'], next.cliEnv());
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'taken over\n');
    } finally {
      await stopAndCheckClean(next);
    }
  });

  it('a killed npm start (SIGKILL, no clean-up of its own) takes its sandbox along', async () => {
    const third = await StartProcess.start(dataDir, port);
    const descendants = descendantsOf(third.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(dataDir));
    assert.ok(descendants.length > 0, 'the sandbox runs from the data directory');
    third.child.kill('SIGKILL');
    await third.exited;
    await waitUntil(() => processesMentioning(dataDir).length === 0, 'the orphaned sandbox stopped itself');
    // The orphaned unshare is reaped by the machine's init, not by us: until then it is a zombie, which counts as alive.
    await waitUntil(() => descendants.every((pid) => !processExists(pid)), 'the sandbox processes are reaped');
    assert.equal((await new InstanceRegistry(dataDir).get(INSTANCE)).state, 'stopped', 'its pid is gone, so the record reads stopped');
  });
});
