// hypeman-exec -it under a real pseudo-terminal (node-pty): the window size goes with the
// request and follows resizes, keys reach the command as typed (^C included), and the local
// terminal's mode is the same after the session as before it, however the CLI ends.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pty from 'node-pty';
import { descendantsOf, processExists, waitUntil } from '../guest/agentProcess.js';
import { CLI, processMarker, requireBuiltCli, stackEnv, waitUntilSessionGone } from './cliProcess.js';
import { startStackProcess, type StackProcess } from './stackProcess.js';

let stack: StackProcess;
before(async () => {
  requireBuiltCli();
  stack = await startStackProcess();
});
after(async () => {
  await stack.stop();
});

/**
 * A local shell in a pty that prints its terminal mode (`stty -g`), runs the CLI, prints
 * the CLI's status and the mode again, between markers the test can find.
 */
class Terminal {
  readonly term: pty.IPty;
  output = '';
  readonly exited: Promise<number>;

  constructor(cliArgs: string[], target: StackProcess = stack) {
    const quoted = [process.execPath, CLI, ...cliArgs].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const script = `echo "mode-before=$(stty -g)"; ${quoted}; echo "status=$?"; echo "mode-after=$(stty -g)"`;
    this.term = pty.spawn('/bin/sh', ['-c', script], { cols: 80, rows: 24, env: stackEnv(target, { PS1: 'remote$ ' }) as Record<string, string> });
    // Node's raw mode keeps output processing (ONLCR), so the remote's \r\n arrives as \r\r\n.
    this.term.onData((d) => (this.output += d));
    this.exited = new Promise((resolve) => this.term.onExit(({ exitCode }) => resolve(exitCode)));
  }

  async expect(pattern: RegExp, from = 0): Promise<RegExpMatchArray> {
    await waitUntil(() => pattern.test(this.output.slice(from)), `${pattern} in the terminal; got ${JSON.stringify(this.output.slice(-400))}`);
    return this.output.slice(from).match(pattern)!;
  }

  /** Types `line`, then waits for `pattern` in what follows; retyped while it does not come (a resize in flight). */
  async typeUntil(line: string, pattern: RegExp): Promise<void> {
    for (;;) {
      const from = this.output.length;
      this.term.write(line);
      try {
        await waitUntil(() => pattern.test(this.output.slice(from)), `${pattern}`, 2000);
        return;
      } catch {
        // Not yet: try again (the hang guard below bounds it).
      }
      if (this.output.length > 1_000_000) throw new Error(`never saw ${pattern}`);
    }
  }

  /** The local terminal's settings now (`stty -a` on the pty, from outside). */
  localMode(): string {
    return execFileSync('stty', ['-a', '-F', (this.term as unknown as { ptsName: string }).ptsName], { encoding: 'utf8' });
  }

  /** The pid of the hypeman-exec process under the local shell. */
  cliPid(): number {
    const pid = descendantsOf(this.term.pid).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(CLI);
      } catch {
        return false; // gone meanwhile
      }
    });
    assert.ok(pid, 'the CLI process');
    return pid;
  }

  async finish(): Promise<{ status: number; before: string; after: string }> {
    await this.exited;
    const before = this.output.match(/mode-before=(\S+)/)![1];
    const afterMode = this.output.match(/mode-after=(\S+)/)![1];
    const status = Number(this.output.match(/status=(\d+)/)![1]);
    return { status, before, after: afterMode };
  }
}

describe('hypeman-exec -it under a pseudo-terminal', () => {
  it('sends the size, follows a resize, echoes typed input, delivers ^C, and restores the terminal', async () => {
    const t = new Terminal(['-it', '-e', 'PS1', 'web', 'sh']);
    await t.expect(/mode-before=/);
    await t.expect(/remote\$ /);
    // Raw: no line editing, no local echo, no local signal keys; all of it is the remote's.
    assert.match(t.localMode(), /-isig -icanon .*-echo /s);

    t.term.write('stty size\r');
    await t.expect(/\n24 80\r*\n/);

    t.term.resize(100, 30);
    await t.typeUntil('stty size\r', /\n30 100\r*\n/);

    let from = t.output.length;
    t.term.write('cat\r');
    await t.expect(/cat\r*\n/, from);
    from = t.output.length;
    t.term.write('hello\r');
    // The remote terminal echoes what was typed, then cat writes it back.
    await t.expect(/hello\r*\nhello\r*\n/, from);

    from = t.output.length;
    t.term.write('\x03');
    await t.expect(/remote\$ /, from);
    from = t.output.length;
    t.term.write('echo "rc=$?"\r');
    await t.expect(/rc=130\r*\n/, from);

    t.term.write('exit 3\r');
    const r = await t.finish();
    assert.equal(r.status, 3);
    assert.equal(r.after, r.before, 'the local terminal mode is restored');
  });

  it('restores the terminal when the CLI is hung up (SIGHUP) mid-session', async () => {
    const t = new Terminal(['-it', '-e', 'PS1', 'web', 'sh']);
    await t.expect(/remote\$ /);
    // The session is in raw mode now: the local mode differs from the one printed before.
    process.kill(t.cliPid(), 'SIGHUP');
    const r = await t.finish();
    assert.equal(r.status, 129);
    assert.equal(r.after, r.before, 'the local terminal mode is restored');
  });

  it('ends on SIGTERM within 2 s though the interactive shell ignores it: 143, terminal restored, nothing left behind', async () => {
    const mark = processMarker();
    const t = new Terminal(['-it', '-e', 'PS1', '-e', mark, 'web', 'sh']);
    await t.expect(/remote\$ /);
    const pid = t.cliPid();
    const sent = performance.now();
    process.kill(pid, 'SIGTERM');
    // The CLI's own end, not the local shell's work after it (stty, under load).
    await waitUntil(() => !processExists(pid), 'the CLI to exit');
    const ms = performance.now() - sent;
    const r = await t.finish();
    assert.equal(r.status, 143);
    assert.ok(ms < 2000, `the CLI took ${Math.round(ms)} ms to exit`);
    assert.equal(r.after, r.before, 'the local terminal mode is restored');
    await waitUntilSessionGone(stack, mark);
  });

  it('restores the terminal when the session fails (the API server shuts down mid-session)', async () => {
    const doomed = await startStackProcess();
    try {
      const t = new Terminal(['-it', '-e', 'PS1', 'web', 'sh'], doomed);
      await t.expect(/remote\$ /);
      await doomed.stop();
      const r = await t.finish();
      assert.equal(r.status, 255);
      assert.match(t.output, /hypeman-exec: .*shutting down/);
      assert.equal(r.after, r.before, 'the local terminal mode is restored');
    } finally {
      await doomed.stop();
    }
  });
});
