// Issue 8: the real `npm start` entry, as a new user runs it: the API server with local-1,
// driven by the real CLI (a command, a pipe, an exit code, an interactive shell under a
// pseudo-terminal); SIGTERM leaves nothing running and no socket behind; a second start
// works at once, with the first run's token; a dead agent makes exec answer 409. Issue 20:
// the banner's commands work from any directory without npm, and the CLI's messages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as pty from 'node-pty';
import { InstanceRegistry } from '../../src/host/registry/InstanceRegistry.js';
import { CLI, PathWithoutNpm, requireBuiltCli, runCli } from '../cli/cliProcess.js';
import { descendantsOf, processExists, waitUntil } from '../guest/agentProcess.js';
import { needsRoot } from '../initrd/helpers.js';
import { freePort, StartProcess } from './startProcess.js';

const INSTANCE = 'local-1';
const PROJECT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/**
 * Processes whose command line or environment mentions `text` (leftovers of a data
 * directory: the sandbox's first process has its paths in its environment).
 */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
    .map(Number)
    .filter((pid) => mentions(pid, text));
}

function mentions(pid: number, text: string): boolean {
  try {
    return ['cmdline', 'environ'].some((file) => readFileSync(`/proc/${pid}/${file}`, 'latin1').includes(text));
  } catch {
    return false; // exited meanwhile
  }
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

  it('prints the PATH of its launchers, the token it wrote and the example commands, and no npx', () => {
    assert.ok(first.stdout.includes(`  export PATH=${join(PROJECT, 'dist', 'bin')}:"$PATH"\n`), first.stdout);
    assert.match(first.stdout, new RegExp(`export HYPEMAN_TOKEN=${first.token.replace(/[.]/g, '\\.')}\\n`));
    assert.match(first.stdout, new RegExp(`export HYPEMAN_API_URL=http://127\\.0\\.0\\.1:${port}\\n`));
    assert.match(first.stdout, /\n {2}hypeman-exec local-1 uname -a\n {2}hypeman-exec -it local-1 \/bin\/sh\n {2}hypeman-exec ls\n/);
    assert.doesNotMatch(first.stdout, /npx/);
  });

  it('its printed commands work from another directory, with a PATH that has no npm or npx, and never run them', async () => {
    const npmless = new PathWithoutNpm();
    const elsewhere = mkdtempSync(join(tmpdir(), 'hypeman-elsewhere-'));
    try {
      const lines = first.stdout.split('\n').filter((line) => /^ {2}(export |hypeman-exec (local-1 uname|ls))/.test(line));
      assert.equal(lines.length, 5, lines.join('\n'));
      const result = spawnSync('/bin/sh', ['-c', lines.join('\n')], { cwd: elsewhere, env: { PATH: npmless.path(), HOME: elsewhere }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(result.stderr, '');
      assert.equal(result.status, 0);
      const [uname, header, row] = result.stdout.trim().split('\n');
      assert.match(uname, /^Linux local-1 /);
      assert.deepEqual([header.split(/\s+/), row.split(/\s+/)], [['ID', 'NAME', 'STATE', 'HYPERVISOR'], ['local-1', 'local-1', 'running', 'local']]);
      assert.deepEqual(npmless.npmRuns(), []);
    } finally {
      npmless.remove();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('a mistyped instance gets: did you mean local-1?', async () => {
    const result = await runCli(['local1', 'true'], first.cliEnv());
    assert.equal(result.status, 255);
    assert.match(result.stderr, /^hypeman-exec: no instance local1 on http:\/\/127\.0\.0\.1:\d+; did you mean local-1\? \(hypeman-exec ls lists the instances your token may use\)\n$/);
  });

  it('runs a command in local-1 through the CLI: its own host name, the sandbox as PID 1 with a short argv', async () => {
    const result = await runCli([INSTANCE, 'sh', '-c', 'hostname; tr "\\0" " " </proc/1/cmdline; echo; ls /.hypeman/bin'], first.cliEnv());
    assert.equal(result.status, 0, result.stderr);
    const [hostname, pid1, ...payload] = result.stdout.toString().trim().split('\n');
    assert.equal(hostname, INSTANCE, 'a uts namespace of its own');
    // A pid namespace of its own: PID 1 is the sandbox's shell, named as such, without its script or the host's paths.
    assert.equal(pid1, 'sh -c eval "$HYPEMAN_SANDBOX" hypeman-sandbox ');
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
      assert.equal(refused.stderr, 'hypeman-exec: instance local-1 is stopped, not running: it is a local instance, run by npm start; restart npm start (in its checkout) to start it again\n');
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
    const descendants = descendantsOf(third.pid).filter((pid) => mentions(pid, dataDir));
    assert.ok(descendants.length > 0, 'the sandbox runs from the data directory');
    third.child.kill('SIGKILL');
    await third.exited;
    await waitUntil(() => processesMentioning(dataDir).length === 0, 'the orphaned sandbox stopped itself');
    // The orphaned unshare is reaped by the machine's init, not by us: until then it is a zombie, which counts as alive.
    await waitUntil(() => descendants.every((pid) => !processExists(pid)), 'the sandbox processes are reaped');
    assert.equal((await new InstanceRegistry(dataDir).get(INSTANCE)).state, 'stopped', 'its pid is gone, so the record reads stopped');
  });
});

describe('npm start on a host without busybox (issue 20 item 4)', { skip: needsRoot }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hypeman-npm-start-nobb-'));
  let started: StartProcess;

  before(async () => {
    requireBuiltCli();
    // HYPEMAN_BUSYBOX empty: built as on a fresh Debian, where no busybox is installed.
    started = await StartProcess.start(dataDir, await freePort(), { HYPEMAN_BUSYBOX: '' });
  });

  after(async () => {
    if (started) await stopAndCheckClean(started);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("says the root's programs are this host's /usr, and ships no busybox in the image", () => {
    assert.match(started.stdout, /programs: this host's \/usr, read-only \(no busybox installed/);
    assert.equal(existsSync(join(dataDir, 'image', 'tree', 'bin', 'busybox')), false);
    assert.equal(existsSync(join(dataDir, 'image', 'tree', '.hypeman', 'bin', 'busybox')), false);
  });

  it("runs the README's examples: the host's programs, the root's own users, /usr read-only", async () => {
    const env = started.cliEnv();
    const uname = await runCli([INSTANCE, 'uname', '-a'], env);
    assert.equal(uname.status, 0, uname.stderr);
    assert.match(uname.stdout.toString(), /^Linux local-1 /);
    const piped = await runCli([INSTANCE, 'tr', 'a-z', 'A-Z'], env, 'hello\n');
    assert.equal(piped.stdout.toString(), 'HELLO\n');
    const user = await runCli(['-u', 'user', INSTANCE, 'id'], env);
    assert.equal(user.stdout.toString(), 'uid=1000(user) gid=1000(user) groups=1000(user)\n', user.stderr);
    const passwd = await runCli([INSTANCE, 'cut', '-d:', '-f1', '/etc/passwd'], env);
    assert.equal(passwd.stdout.toString(), 'root\nuser\nnobody\n', "the root's own /etc, not the host's");
    const write = await runCli([INSTANCE, 'touch', '/usr/bin/hypeman-test'], env);
    assert.equal(write.status, 1);
    assert.match(write.stderr.toString(), /Read-only file system/);
  });
});
