// Durable sessions from the CLI (issue 14), the compiled hypeman-exec against real servers:
// an API server killed with SIGKILL and started again mid-session, --detach then attach
// after the command has ended, ps, another subject, an expired session, a terminal's size
// sent again on attach; attach --read-only, a second writer refused, --take-over (issue 16).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pty from 'node-pty';
import { signDevelopmentToken } from '../../src/host/server/TokenSigner.js';
import { waitUntil } from '../guest/agentProcess.js';
import { SECRET } from '../server/stack.js';
import { CLI, CliProcess, processMarker, requireBuiltCli, runCli, useStackProcess } from './cliProcess.js';
import { type SplitStack, startSplitStack } from './splitStack.js';

const target = useStackProcess();

describe('a killed API server (issue 14)', () => {
  let split: SplitStack;
  before(async () => {
    requireBuiltCli();
    split = await startSplitStack();
  });
  after(async () => {
    await split?.stop();
  });

  it('SIGKILLed and started again mid-session: the CLI still finishes with all the output and the exit code', async () => {
    const p = new CliProcess(['web', 'sh', '-c', 'for i in $(seq 1 30); do echo "line $i"; sleep 0.1; done; exit 3'], split.env);
    p.child.stdin.end();
    await waitUntil(() => p.stdoutText.includes('line 5\n'), 'the first lines');
    split.killServer();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await split.startServer();
    const r = await p.done;
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout.toString(), Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`).join(''));
    // Said only if reconnecting took more than a second; then it also says it is back.
    if (r.stderr !== '') assert.match(r.stderr, /^hypeman-exec: lost the connection to the API server \(.*\); reconnecting.*\nhypeman-exec: reconnected after \d+\.\d s; nothing was lost\n$/);
  });
});

describe('--detach, attach, ps (issue 14)', () => {
  it('a detached `sleep 5; echo done` attached after it ended gives done and its exit status', async () => {
    const started = await runCli(['--detach', 'web', 'sh', '-c', 'sleep 5; echo done; exit 4'], target.env);
    assert.equal(started.status, 0, started.stderr);
    const id = started.stdout.toString().trim();
    assert.match(id, /^[0-9a-f]{32}$/);
    const listed = await runCli(['ps', 'web', '--json'], target.env);
    const [mine] = (JSON.parse(listed.stdout.toString()) as Array<{ id: string; state: string }>).filter((s) => s.id === id);
    assert.equal(mine.state, 'detached');
    for (;;) {
      const ps = await runCli(['ps', 'web'], target.env);
      const line = ps.stdout.toString().split('\n').find((l) => l.startsWith(id));
      assert.ok(line, ps.stdout.toString());
      // A session without a terminal has an empty last column: no blanks are left for it.
      assert.doesNotMatch(ps.stdout.toString(), /[ \t]$/m, 'no line ends in blanks');
      if (/exited 4/.test(line)) break;
      assert.match(line, /sh -c "sleep 5; echo done; exit 4"\s+tester\s+\d+s ago\s+detached \(ends in \d+s unless attached\)/);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const r = await runCli(['attach', 'web', id], target.env);
    assert.equal(r.stdout.toString(), 'done\n');
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stderr, '');
  });

  it('another subject cannot attach, nor see the session in ps', async () => {
    const mark = processMarker();
    const started = await runCli(['--detach', '-e', mark, 'web', 'sleep', '60'], target.env);
    const id = started.stdout.toString().trim();
    const mallory = { ...target.env, HYPEMAN_TOKEN: await signDevelopmentToken(SECRET, { sub: 'mallory' }) };
    const r = await runCli(['attach', 'web', id], mallory);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^hypeman-exec: session [0-9a-f]{32} belongs to another owner; only the subject that started it may resume it \(the token's subject is the owner\)/);
    const ps = await runCli(['ps', 'web'], mallory);
    assert.ok(!ps.stdout.toString().includes(id));
    // Its owner hangs it up: attach, then SIGTERM (forwarded, then the session hung up).
    const a = new CliProcess(['attach', 'web', id], target.env);
    await new Promise((resolve) => setTimeout(resolve, 500));
    a.child.kill('SIGTERM');
    assert.equal((await a.done).status, 143);
  });

  it('an attach after the linger passed says the session is gone', async () => {
    const started = await runCli(['--detach', '--linger', '1', 'web', 'sleep', '60'], target.env);
    const id = started.stdout.toString().trim();
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const r = await runCli(['attach', 'web', id], target.env);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^hypeman-exec: no session [0-9a-f]{32}: it never existed, or it ended and its linger passed; hypeman-exec ps web lists your sessions there\n$/);
  });

  it('attach under a terminal sends its size again', async () => {
    const started = await runCli(['--detach', '-t', 'web', 'sh', '-c', 'read x; stty size'], target.env);
    const id = started.stdout.toString().trim();
    const term = pty.spawn(process.execPath, [CLI, 'attach', 'web', id], { cols: 101, rows: 33, env: target.env as Record<string, string> });
    let output = '';
    term.onData((d) => (output += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    // Typed until the attach is in place: keys before it are the local terminal's.
    await waitUntil(() => {
      term.write('\r');
      return /33 101/.test(output);
    }, `the remote's stty size; got ${JSON.stringify(output)}`);
    assert.equal(await exited, 0);
  });

  it('attach --read-only watches, its keys going nowhere; a second writer is refused; --take-over leaves the first writer watching', async () => {
    const started = await runCli(['--detach', 'web', 'sh', '-c', 'while read l; do echo "got $l"; done; echo bye'], target.env);
    const id = started.stdout.toString().trim();
    const writer = new CliProcess(['attach', 'web', id], target.env);
    writer.child.stdin.write('one\n');
    await waitUntil(() => writer.stdoutText.includes('got one\n'), 'the writer\'s first line');
    const watcher = new CliProcess(['attach', '--read-only', 'web', id], target.env);
    await waitUntil(() => watcher.stderr.includes('read-only'), `the watcher saying it watches; stderr: ${watcher.stderr}`);
    assert.match(watcher.stderr, /^hypeman-exec: watching session [0-9a-f]{32} read-only: your keys go nowhere; Ctrl-C leaves \(the session goes on\)\n$/);
    watcher.child.stdin.write('from the watcher\n');
    writer.child.stdin.write('two\n');
    await waitUntil(() => watcher.stdoutText.includes('got two\n'), 'the writer\'s line at the watcher');
    assert.equal(watcher.stdoutText, 'got two\n', 'from the current point, and nothing of its own keys');
    const busy = await runCli(['attach', 'web', id], target.env);
    assert.equal(busy.status, 255);
    assert.match(busy.stderr, /has a writer attached; attach read-only to watch it, or take it over \(--take-over\) \(SESSION_BUSY\)/);
    const leaver = new CliProcess(['attach', '-r', 'web', id], target.env);
    await waitUntil(() => leaver.stderr.includes('read-only'), 'a second watcher');
    leaver.child.kill('SIGINT');
    assert.equal((await leaver.done).status, 0, 'Ctrl-C leaves a watched session, which goes on');
    const taker = new CliProcess(['attach', '--take-over', 'web', id], target.env);
    await waitUntil(() => writer.stderr.includes('took this session over'), `the first writer told; stderr: ${writer.stderr}`);
    writer.child.stdin.write('from the old writer\n');
    taker.child.stdin.write('three\n');
    await waitUntil(() => watcher.stdoutText.includes('got three\n'), 'the new writer\'s line');
    taker.child.stdin.end();
    const [w, o, t] = await Promise.all([writer.done, watcher.done, taker.done]);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(o.status, 0, o.stderr);
    assert.equal(w.status, 0, w.stderr);
    assert.equal(o.stdout.toString(), 'got two\ngot three\nbye\n');
    assert.doesNotMatch(w.stdout.toString(), /watcher|old writer/);
    assert.match(w.stderr, /another connection took this session over as its writer: this one observes from now on \(its input is dropped\); Ctrl-C leaves\n/);
  });
});
