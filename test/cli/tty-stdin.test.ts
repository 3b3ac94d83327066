// hypeman-exec with a terminal for the command but stdin that is not one (a pipe, /dev/null):
// the end of the piped input reaches a line-editing shell every time (spec §9.8), and -it
// without a local terminal falls back to pipes with one warning.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliProcess, runCli, useStackProcess } from './cliProcess.js';

const target = useStackProcess();

/** A run that has not ended this long after its input was closed hangs (normal: well under 1 s). */
const HANG_MS = 10_000;
const RUNS = 200;
const AT_ONCE = 10;

/**
 * Shells that edit lines (the terminal raw while they read a line, canonical while a
 * command runs), fed a line or nothing: the cases where the end of input used to be lost.
 * busybox sh is the shell of the local instance; bash --norc reads with readline.
 */
const CASES: Array<{ shell: string[]; input: string }> = [
  { shell: ['busybox', 'sh'], input: 'echo hi\n' },
  { shell: ['busybox', 'sh'], input: '' },
  { shell: ['bash', '--norc'], input: 'echo hi\n' },
  { shell: ['bash', '--norc'], input: '' },
];

interface Outcome {
  hung: boolean;
  status: number | null;
  output: string;
}

async function runOnce(shell: string[], input: string): Promise<Outcome> {
  const p = new CliProcess(['-t', 'web', ...shell], target.env);
  p.child.stdin.end(input);
  let timer: NodeJS.Timeout | undefined;
  const hung = await Promise.race([
    p.done.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), HANG_MS))),
  ]);
  clearTimeout(timer);
  if (hung) p.child.kill('SIGKILL');
  const r = await p.done;
  return { hung, status: r.status, output: r.stdout.toString() + r.stderr };
}

describe('hypeman-exec -t with stdin that is not a terminal', () => {
  it(`ends a line-editing shell at the end of its piped input, ${RUNS} times out of ${RUNS}`, async () => {
    const failures: string[] = [];
    let hangs = 0;
    for (let i = 0; i < RUNS; i += AT_ONCE) {
      const batch = Array.from({ length: AT_ONCE }, (_, j) => CASES[(i + j) % CASES.length]);
      const outcomes = await Promise.all(batch.map((c) => runOnce(c.shell, c.input)));
      outcomes.forEach((o, j) => {
        const c = batch[j];
        const what = `${JSON.stringify(c.input)} | hypeman-exec -t web ${c.shell.join(' ')}`;
        if (o.hung) hangs++;
        const ok = !o.hung && o.status === 0 && (c.input === '' || /[\r\n]hi\r?\n/.test(o.output));
        if (!ok) failures.push(`${what}: ${o.hung ? 'hung' : `status ${o.status}`}; output ${JSON.stringify(o.output.slice(-160))}`);
      });
    }
    assert.equal(hangs, 0, `${hangs} of ${RUNS} runs hung; first failures:\n${failures.slice(0, 5).join('\n')}`);
    assert.deepEqual(failures, []);
  });
});

describe('hypeman-exec -it with stdin that is not a terminal', () => {
  it('warns once and runs the command without a TTY (piped stdin, stderr apart)', async () => {
    const r = await runCli(['-it', 'web', 'sh', '-c', 'if [ -t 0 ]; then echo tty; else cat; fi; echo err >&2'], target.env, 'piped\n');
    assert.equal(r.stdout.toString(), 'piped\n');
    assert.equal(r.stderr, 'hypeman-exec: stdin is not a terminal: running without a TTY, as -i alone (-t without -i keeps one for piped input)\nerr\n');
    assert.equal(r.status, 0);
  });

  it('-t alone keeps the terminal and feeds it from the pipe, without a warning', async () => {
    const r = await runCli(['-t', 'web', 'sh', '-c', 'stty -echo; [ -t 0 ] && read line && echo "tty: $line"'], target.env, 'hello\n');
    assert.equal(r.stderr, '');
    assert.match(r.stdout.toString(), /tty: hello\r\n$/);
    assert.equal(r.status, 0);
  });
});
