// `hypeman-exec cp` as users run it (dist/bin/hypeman-exec, built by npm test), against a
// stack in its own process: both ways, directories, -a, -L, tar streams read and written by
// GNU tar, exit statuses with one line, and the progress bar on a real terminal (node-pty).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pty from 'node-pty';
import { CLI, CliProcess, runCli, useStackProcess } from '../cli/cliProcess.js';
import { waitUntil } from '../guest/agentProcess.js';
import { describeTree, readTree } from './copyStack.js';

describe('hypeman-exec cp', () => {
  const target = useStackProcess();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hypeman-cp-cli-'));
    mkdirSync(join(dir, 'site/css'), { recursive: true });
    writeFileSync(join(dir, 'site/index.html'), '<h1>hi</h1>\n');
    writeFileSync(join(dir, 'site/css/a.css'), 'body{}\n');
    symlinkSync('index.html', join(dir, 'site/home.html'));
    chownSync(join(dir, 'site/css/a.css'), 1000, 1000);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cp = (...args: string[]) => runCli(['cp', ...args], target.env);

  it('copies a directory in and out, as docker cp places it, silently when stderr is not a terminal', async () => {
    mkdirSync(join(dir, 'remote'));
    const up = await cp(join(dir, 'site'), `web:${dir}/remote`);
    assert.deepEqual([up.status, up.stderr], [0, '']);
    assert.equal(readFileSync(join(dir, 'remote/site/index.html'), 'utf8'), '<h1>hi</h1>\n');
    // Without -a the copies belong to the agent's user; with it, to the source's owners.
    assert.equal(lstatSync(join(dir, 'remote/site/css/a.css')).uid, 0);
    assert.equal((await cp('-a', join(dir, 'site'), `web:${dir}/remote/kept`)).status, 0);
    assert.equal(lstatSync(join(dir, 'remote/kept/css/a.css')).uid, 1000);
    const down = await cp('-a', `web:${dir}/remote/kept`, join(dir, 'back'));
    assert.deepEqual([down.status, down.stderr], [0, '']);
    assert.deepEqual(describeTree(readTree(join(dir, 'back')), { mtimeMicroseconds: true }), describeTree(readTree(join(dir, 'site')), { mtimeMicroseconds: true }));
  });

  it('follows links in the source with -L', async () => {
    assert.equal((await cp('-L', join(dir, 'site'), `web:${dir}/followed`)).status, 0);
    assert.ok(lstatSync(join(dir, 'followed/home.html')).isFile());
    assert.equal((await cp(`web:${dir}/followed/home.html`, join(dir, 'home-copy.html'))).status, 0);
    assert.equal(readFileSync(join(dir, 'home-copy.html'), 'utf8'), '<h1>hi</h1>\n');
  });

  it('reads a tar stream on stdin and writes one on stdout, as GNU tar makes and reads them', async () => {
    // Long names (pax headers), UTF-8, a hard link and a symlink, through GNU tar both ways.
    const src = join(dir, 'tarred');
    const long = `${'d'.repeat(60)}/${'n'.repeat(120)}-é.txt`;
    mkdirSync(join(src, 'd'.repeat(60)), { recursive: true });
    writeFileSync(join(src, long), 'long name\n');
    writeFileSync(join(src, 'file'), 'file\n');
    execFileSync('ln', [join(src, 'file'), join(src, 'hard')]);
    symlinkSync('file', join(src, 'soft'));
    const tar = execFileSync('tar', ['-c', '--format=pax', '-C', src, '.']);
    const up = await runCli(['cp', '-', `web:${dir}/untarred`], target.env, tar);
    assert.deepEqual([up.status, up.stderr], [0, '']);
    assert.deepEqual(describeTree(readTree(join(dir, 'untarred'))).slice(1), describeTree(readTree(src)).slice(1));

    const down = await runCli(['cp', `web:${dir}/untarred`, '-'], target.env);
    assert.equal(down.status, 0, down.stderr);
    mkdirSync(join(dir, 'retarred'));
    execFileSync('tar', ['-x', '-C', join(dir, 'retarred')], { input: down.stdout });
    assert.deepEqual(describeTree(readTree(join(dir, 'retarred/untarred'))).slice(1), describeTree(readTree(src)).slice(1));
    const listing = execFileSync('tar', ['-t'], { input: down.stdout, encoding: 'utf8' }).split('\n');
    assert.ok(listing.includes(`untarred/${long}`), listing.join('\n'));
  });

  it('fails with status 1 and one line saying what and where', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[join(dir, 'nope'), `web:${dir}`], /^hypeman-exec: cannot read ".*\/nope" here: no such file or directory \(PATH_NOT_FOUND\)\n$/],
      [[`web:${dir}/nope`, dir], /^hypeman-exec: in instance web: cannot copy ".*\/nope": no such file or directory \(PATH_NOT_FOUND\)\n$/],
      [[join(dir, 'site'), `web:${dir}/site/index.html`], /^hypeman-exec: in instance web: cannot copy a directory onto ".*index\.html", which is a file \(NOT_A_DIRECTORY\)\n$/],
      [[join(dir, 'site'), `nosuch:${dir}`], /^hypeman-exec: no instance nosuch on .*\n$/],
      [[join(dir, 'site'), join(dir, 'other')], /^hypeman-exec: one of SRC and DST must be INSTANCE:PATH .*\(see hypeman-exec cp --help\)\n$/],
      [['web:relative', dir], /^hypeman-exec: web:relative: give an absolute path in the instance \(web:\/relative\) \(see hypeman-exec cp --help\)\n$/],
      [['-x', join(dir, 'site'), `web:${dir}`], /^hypeman-exec: cp: Unknown argument: x \(see hypeman-exec cp --help\)\n$/],
    ];
    for (const [args, line] of cases) {
      const r = await cp(...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, line);
    }
    const noToken = await runCli(['cp', join(dir, 'site'), `web:${dir}`], { ...target.env, HYPEMAN_TOKEN: '' });
    assert.equal(noToken.status, 1);
    assert.match(noToken.stderr, /^hypeman-exec: no token: set HYPEMAN_TOKEN or --token/);
  });

  it('draws a progress bar on a terminal (bytes, rate, time left), none with -q', async () => {
    execFileSync('sh', ['-c', `head -c ${64 * 1024 * 1024} /dev/urandom > ${join(dir, 'big.bin')}`]);
    const onTerminal = (args: string[]) =>
      new Promise<{ status: number; output: string }>((resolve) => {
        const term = pty.spawn(process.execPath, [CLI, 'cp', ...args], { cols: 100, rows: 24, env: target.env as Record<string, string> });
        let output = '';
        term.onData((d) => (output += d));
        term.onExit(({ exitCode }) => resolve({ status: exitCode, output }));
      });
    // Two copies: a bar may not get its first redraw (100 ms) in a copy that quick.
    const shown = await onTerminal([join(dir, 'big.bin'), `web:${dir}/big-1.bin`]);
    const down = await onTerminal([`web:${dir}/big-1.bin`, join(dir, 'big-2.bin')]);
    assert.deepEqual([shown.status, down.status], [0, 0]);
    const bars = `${shown.output}${down.output}`;
    assert.match(bars, /\r +\d+% \[[#.]+\] [\d.]+ (MiB|KiB) \/ 64\.0 MiB  [\d.]+ (MiB|KiB|GiB)\/s  ETA \d+:\d\d\x1b\[K/);
    // Erased at the end, nothing else said.
    assert.ok(shown.output.endsWith('\r\x1b[K') || shown.output === '', JSON.stringify(shown.output.slice(-40)));
    const quiet = await onTerminal(['-q', join(dir, 'big.bin'), `web:${dir}/big-3.bin`]);
    assert.deepEqual([quiet.status, quiet.output], [0, '']);
    assert.equal(readFileSync(join(dir, 'big-2.bin')).equals(readFileSync(join(dir, 'big.bin'))), true);
  });

  it('is interrupted by Ctrl-C with status 130, leaving no partial file', async () => {
    execFileSync('sh', ['-c', `head -c ${512 * 1024 * 1024} /dev/zero > ${join(dir, 'huge.bin')}`]);
    const p = new CliProcess(['cp', `web:${dir}/huge.bin`, join(dir, 'interrupted.bin')], target.env);
    p.child.stdin.end();
    // Once it writes (its temporary file is there), Ctrl-C.
    const writing = () => execFileSync('sh', ['-c', `ls -a ${dir} | grep hypeman-copy || true`], { encoding: 'utf8' }) !== '';
    await waitUntil(() => writing() || p.child.exitCode !== null, 'the copy is writing');
    p.child.kill('SIGINT');
    const r = await p.done;
    // The copy may have finished first on a fast machine; otherwise it stopped cleanly.
    if (r.status === 130) {
      assert.match(r.stderr, /cp interrupted \(SIGINT\)/);
      assert.throws(() => lstatSync(join(dir, 'interrupted.bin')));
    } else {
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(execFileSync('sh', ['-c', `ls -a ${dir} | grep hypeman-copy || true`], { encoding: 'utf8' }), '');
  });
});
