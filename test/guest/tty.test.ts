// Sessions under a terminal (node-pty): size, resize and SIGWINCH, TERM, end of input as
// ^D, signals to the foreground job, job control, and hang-up when the client leaves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  ExitKind,
  FrameType as T,
  encodeDataFrame,
  encodeSignal,
  encodeWindowSize,
  type Message,
  type StartedMessage,
} from '../../src/wire/index.js';
import { AgentProcess, processExists, waitUntil } from './agentProcess.js';
import { ExecConnection } from './execClient.js';

let agent: AgentProcess;
before(async () => {
  agent = await AgentProcess.start();
});
after(async () => {
  await agent.stop();
});

const isStarted = (m: Message): m is StartedMessage => m.type === T.Started;
const stdin = (text: string) => encodeDataFrame(T.Stdin, Buffer.from(text));

async function tty(argv: string[], window?: { rows: number; cols: number }): Promise<ExecConnection> {
  const c = await ExecConnection.open(agent.socketPath);
  c.start({ argv, tty: true, ...(window ? { window } : {}) });
  return c;
}

describe('terminal sessions', () => {
  it('runs under a terminal with the requested size and TERM=xterm-256color', async () => {
    const c = await tty(['sh', '-c', 'tty; stty size; echo "TERM=$TERM"; test -t 0 && test -t 1 && test -t 2 && echo all-tty'], { rows: 33, cols: 101 });
    const r = await c.finish();
    c.destroy();
    const text = r.stdout.toString();
    assert.match(text, /^\/dev\/pts\/\d+\r\n33 101\r\nTERM=xterm-256color\r\nall-tty\r\n$/, `got ${c.describe()}: ${JSON.stringify(text)}`);
    assert.equal(r.stderr.length, 0, 'with a TTY there is one stream, sent as Stdout');
    assert.equal(r.exit?.code, 0, c.describe());
  });

  it('delivers large output written just before exit', async () => {
    const runs = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const c = await tty(['sh', '-c', "head -c 3000000 /dev/zero | tr '\\0' a"]);
        const r = await c.finish();
        c.destroy();
        return r;
      }),
    );
    for (const r of runs) {
      assert.equal(r.stdout.length, 3_000_000);
      assert.equal(r.stdout.toString().replaceAll('a', ''), '');
      assert.equal(r.exit!.stdoutBytes, 3_000_000);
    }
  });

  it('defaults to 24 rows by 80 columns', async () => {
    const c = await tty(['stty', 'size']);
    const r = await c.finish();
    c.destroy();
    assert.equal(r.stdout.toString(), '24 80\r\n');
  });

  it('WindowSize resizes: the program gets SIGWINCH and sees the new size', async () => {
    const c = await tty(['sh', '-c', 'trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.05; done']);
    await c.waitForStdout('ready');
    c.send(encodeWindowSize({ rows: 50, cols: 132 }));
    const r = await c.finish();
    c.destroy();
    assert.match(r.stdout.toString(), /ready\r\n50 132\r\n$/);
  });

  it('StdinClose acts like ^D: cat reaches end of file', async () => {
    const c = await tty(['cat']);
    await c.waitFor(isStarted);
    c.send(stdin('hello\n'));
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    // The terminal echoes the input, then cat prints it back.
    assert.equal(r.stdout.toString(), 'hello\r\nhello\r\n');
    assert.equal(r.exit!.code, 0);
  });

  it('StdinClose after a partial line still ends the input', async () => {
    const c = await tty(['sh', '-c', 'stty -echo; echo ready; cat; echo " <eof>"']);
    await c.waitForStdout('ready');
    c.send(stdin('partial'));
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    assert.equal(r.stdout.toString(), 'ready\r\npartial <eof>\r\n');
  });

  it('StdinClose reaches a reader that turns the terminal raw after the ^D arrived (a line editor starting)', async () => {
    // The ^D arrives while the terminal is canonical; `stty raw` then turns that end-of-file
    // mark into a NUL byte (the kernel's n_tty). The helper finds it read and asks for
    // another ^D, which the raw reader gets as a byte: what a line editor takes as end of file.
    const c = await tty(['sh', '-c', 'stty -echo; echo ready; sleep 0.3; stty raw; head -c 2 | od -An -tx1; stty -raw']);
    await c.waitForStdout('ready');
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    assert.match(r.stdout.toString(), /ready\r\n 00 04\r?\n/);
  });

  it('after StdinClose every canonical read finds end of file, as with a pipe', async () => {
    const c = await tty(['sh', '-c', 'stty -echo; echo ready; cat; echo one; cat; echo two']);
    await c.waitForStdout('ready');
    c.send(stdin('a\n'));
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    assert.equal(r.stdout.toString(), 'ready\r\na\r\none\r\ntwo\r\n');
    assert.equal(r.exit!.code, 0);
  });

  it('a program that keeps the terminal raw gets at most three ^Ds after StdinClose', async () => {
    const c = await tty(['sh', '-c', 'stty raw -echo; echo ready; timeout --foreground 2 dd bs=1 count=10 2>/dev/null | od -An -tx1; stty -raw']);
    await c.waitForStdout('ready');
    c.closeStdin();
    const r = await c.finish();
    c.destroy();
    assert.match(r.stdout.toString(), /ready\r?\n 04 04 04\r?\n/);
  });

  it('a Signal goes to the foreground process group: SIGINT ends sleep', async () => {
    const c = await tty(['sleep', '60']);
    await c.waitFor(isStarted);
    c.send(encodeSignal(2));
    const r = await c.finish();
    c.destroy();
    assert.deepEqual([r.exit!.kind, r.exit!.code, r.exit!.signal], [ExitKind.Signaled, 130, 2]);
  });

  it('keeps job control: an interactive shell puts its job in the foreground, ^C reaches only the job', async () => {
    const c = await tty(['sh', '-i']);
    try {
      const shell = (await c.waitFor(isStarted)).pid;
      c.send(stdin('sleep 60\n'));
      await waitUntil(() => foregroundIsNot(shell), 'sleep is the foreground job');
      c.send(encodeSignal(2));
      // The shell survived the ^C and reports its job's death by SIGINT.
      c.send(stdin('echo "job ended $?"\n'));
      await c.waitForStdout('job ended 130');
      c.send(stdin('exit 5\n'));
      const r = await c.finish();
      assert.deepEqual([r.exit!.kind, r.exit!.code], [ExitKind.Exited, 5]);
    } finally {
      c.destroy();
    }
  });

  it('a client that disconnects hangs up the terminal: the shell and its job end and are reaped', async () => {
    const c = await tty(['sh', '-c', 'sleep 60; echo never']);
    const started = await c.waitFor(isStarted);
    c.destroy();
    await waitUntil(() => !processExists(started.pid), `the command ${started.pid} is gone`);
  });
});

/** True once the terminal's foreground group is not the shell's own (its job took over). */
function foregroundIsNot(shellPid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${shellPid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid !== shellPid;
  } catch {
    return false;
  }
}
