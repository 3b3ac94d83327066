// The agent's pure pieces: listen addresses, user databases, paths inside a root, the
// helper's report lines, exit records and the command's environment.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ExitKind } from '../../src/wire/index.js';
import { commandEnvironment } from '../../src/guest/command/CommandEnvironment.js';
import { ContainerRoot } from '../../src/guest/container/ContainerRoot.js';
import { SessionError } from '../../src/guest/errors.js';
import { classifyFailure, exitRecord } from '../../src/guest/command/ExitStatus.js';
import { parseHelperReport, type HelperReport } from '../../src/guest/command/HelperReports.js';
import { parseListenAddress } from '../../src/guest/listen/ListenAddress.js';
import { spawnHelperArguments } from '../../src/guest/command/SpawnHelper.js';
import { UserDatabase, parseGroup, parsePasswd } from '../../src/guest/container/UserDatabase.js';

describe('parseListenAddress', () => {
  it('parses the three kinds', () => {
    assert.deepEqual(parseListenAddress('vsock:2222'), { kind: 'vsock', port: 2222 });
    assert.deepEqual(parseListenAddress('unix:/run/a b.sock'), { kind: 'unix', path: '/run/a b.sock' });
    assert.deepEqual(parseListenAddress('tcp:127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('tcp:127.8.9.10:80'), { kind: 'tcp', host: '127.8.9.10', port: 80 });
    assert.deepEqual(parseListenAddress('tcp:[::1]:9'), { kind: 'tcp', host: '::1', port: 9 });
  });

  it('refuses TCP addresses that are not loopback, and malformed ones', () => {
    for (const bad of ['tcp:0.0.0.0:1', 'tcp:[::]:1', 'tcp:10.0.0.1:1', 'tcp:localhost:1', 'tcp:127.0.0.1', 'tcp:127.0.0.1:70000', 'vsock:-1', 'vsock:x', 'unix:', 'http://x', '']) {
      assert.throws(() => parseListenAddress(bad), (e: unknown) => (e as { code?: string }).code === 'INVALID_OPTION', bad);
    }
    assert.throws(() => parseListenAddress('tcp:0.0.0.0:1'), /loopback only/);
  });
});

describe('UserDatabase', () => {
  const passwd = parsePasswd(
    ['# comment', 'root:x:0:0:root:/root:/bin/sh', 'alice:x:1000:1000::/home/alice:/bin/sh', 'broken:x:notanumber:1::/:/bin/sh', '+nis', 'short:x:5', 'nohome:x:2000:2000:::/bin/sh', ''].join('\n'),
  );
  const groups = parseGroup(['wheel:x:10:alice,bob', 'staff:x:50:', 'audio:x:63: alice ', 'alice:x:1000:', 'bad:x:y:alice'].join('\n'));
  const db = new UserDatabase(passwd, groups);

  it('parses passwd and group, skipping comments, NIS entries and malformed lines', () => {
    assert.deepEqual(passwd.map((p) => p.name), ['root', 'alice', 'nohome']);
    assert.deepEqual(groups.map((g) => [g.name, g.gid, g.members]), [['wheel', 10, ['alice', 'bob']], ['staff', 50, []], ['audio', 63, ['alice']], ['alice', 1000, []]]);
  });

  it('resolves names, numbers and groups (spec §9.4)', () => {
    assert.deepEqual(db.resolve('', 0), { uid: 0, gid: 0, groups: [0], home: '/root', name: 'root' });
    assert.deepEqual(db.resolve('alice', 0), { uid: 1000, gid: 1000, groups: [1000, 10, 63], home: '/home/alice', name: 'alice' });
    assert.deepEqual(db.resolve('alice:staff', 0), { uid: 1000, gid: 50, groups: [50, 10, 63], home: '/home/alice', name: 'alice' });
    assert.deepEqual(db.resolve('1000:7', 0), { uid: 1000, gid: 7, groups: [7, 10, 63], home: '/home/alice', name: 'alice' });
    assert.deepEqual(db.resolve('4242', 0), { uid: 4242, gid: 0, groups: [0], home: '/', name: null });
    assert.deepEqual(db.resolve('4242:wheel', 0), { uid: 4242, gid: 10, groups: [10], home: '/', name: null });
    assert.equal(db.resolve('nohome', 0).home, '/');
  });

  it('USER_NOT_FOUND for unknown names, INVALID_REQUEST for empty parts', () => {
    const code = (spec: string) => {
      try {
        db.resolve(spec, 0);
        return 'resolved';
      } catch (error) {
        assert.ok(error instanceof SessionError);
        return error.code;
      }
    };
    assert.equal(code('carol'), 'USER_NOT_FOUND');
    assert.equal(code('alice:nogroup'), 'USER_NOT_FOUND');
    assert.equal(code('99999999999'), 'USER_NOT_FOUND'); // beyond uid_t: not a number, so a name
    assert.equal(code(':staff'), 'INVALID_REQUEST');
    assert.equal(code('alice:'), 'INVALID_REQUEST');
  });
});

describe('ContainerRoot', () => {
  it('resolves symbolic links inside the root, and .. stops at the root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hx-root-'));
    try {
      mkdirSync(join(dir, 'etc'));
      mkdirSync(join(dir, 'real'));
      writeFileSync(join(dir, 'real/passwd'), 'inside');
      symlinkSync('/real/passwd', join(dir, 'etc/passwd')); // absolute: must stay in the root
      symlinkSync('../../../../real', join(dir, 'up')); // climbs past the root
      symlinkSync('loop', join(dir, 'loop'));
      const root = new ContainerRoot(dir);
      assert.equal(root.readTextFile('/etc/passwd'), 'inside');
      assert.equal(root.resolve('/up/passwd'), join(dir, 'real/passwd'));
      assert.equal(root.readTextFile('/etc/group'), null);
      assert.throws(() => root.resolve('/loop/x'), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
      assert.equal(new ContainerRoot('/').resolve('/etc/passwd'), '/etc/passwd');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a file again whenever it changed, even to the same size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hx-root-'));
    try {
      mkdirSync(join(dir, 'etc'));
      const file = join(dir, 'etc/passwd');
      const root = new ContainerRoot(dir);
      writeFileSync(file, 'first');
      assert.equal(root.readTextFile('/etc/passwd'), 'first');
      writeFileSync(file, 'again'); // just written: not kept, whatever the timestamps say
      assert.equal(root.readTextFile('/etc/passwd'), 'again');
      const past = new Date(Date.now() - 60_000);
      utimesSync(file, past, past); // settled (its ctime, though, is now)
      assert.equal(root.readTextFile('/etc/passwd'), 'again');
      writeFileSync(file, 'third');
      utimesSync(file, past, past); // the same mtime as before: the change shows in ctime
      assert.equal(root.readTextFile('/etc/passwd'), 'third');
      renameSync(file, join(dir, 'etc/old'));
      writeFileSync(join(dir, 'etc/new'), 'fifth');
      renameSync(join(dir, 'etc/new'), file); // as useradd replaces it: another inode
      assert.equal(root.readTextFile('/etc/passwd'), 'fifth');
      rmSync(file);
      assert.equal(root.readTextFile('/etc/passwd'), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the helper's report lines", () => {
  it('parses each kind and rejects anything else', () => {
    const cases: Array<[string, HelperReport | null]> = [
      ['started 1234', { kind: 'started', pid: 1234 }],
      ['exited 0', { kind: 'exited', code: 0 }],
      ['signaled 11 1', { kind: 'signaled', signal: 11, coreDumped: true }],
      ['signaled 9 0', { kind: 'signaled', signal: 9, coreDumped: false }],
      ['failed exec 2 1 No such file or directory', { kind: 'failed', stage: 'exec', errno: 2, fileExists: true, text: 'No such file or directory' }],
      ['failed cwd 13 0 Permission denied', { kind: 'failed', stage: 'cwd', errno: 13, fileExists: false, text: 'Permission denied' }],
      ['failed elsewhere 1 0 x', null],
      ['type-eof', { kind: 'type-eof' }],
      ['type-eof 4', null],
      ['started -1', null],
      ['started', null],
      ['hello token', null],
      ['', null],
    ];
    for (const [line, expected] of cases) assert.deepEqual(parseHelperReport(line), expected, line);
  });

  it('builds the helper command line', () => {
    assert.deepEqual(spawnHelperArguments({ root: '/r', argv: ['ls', '-l'], cwd: '/tmp', credentials: null, pwd: null, tty: false }), ['--root', '/r', '--cwd', '/tmp', '--', 'ls', '-l']);
    assert.deepEqual(
      spawnHelperArguments({ root: '/', argv: ['--weird'], cwd: '/', credentials: { uid: 1, gid: 2, groups: [2, 3], home: '/', name: null }, pwd: '/x', tty: true }),
      ['--root', '/', '--cwd', '/', '--uid', '1', '--gid', '2', '--groups', '2,3', '--pwd', '/x', '--tty', '--', '--weird'],
    );
  });
});

describe('exit records and failures (spec §4.8, §9.5, §9.6)', () => {
  it('maps wait statuses', () => {
    assert.deepEqual(exitRecord({ kind: 'exited', code: 3 }, false, 1, 2), { kind: ExitKind.Exited, code: 3, signal: 0, coreDumped: false, stdoutBytes: 1, stderrBytes: 2 });
    assert.deepEqual(exitRecord({ kind: 'signaled', signal: 11, coreDumped: true }, false, 0, 0), { kind: ExitKind.Signaled, code: 139, signal: 11, coreDumped: true, stdoutBytes: 0, stderrBytes: 0 });
    assert.equal(exitRecord({ kind: 'signaled', signal: 64, coreDumped: false }, false, 0, 0).code, 192);
  });

  it('a timeout is kind 2, code 124, with the kill signal only if the kill ended it', () => {
    assert.deepEqual(exitRecord({ kind: 'signaled', signal: 9, coreDumped: false }, true, 0, 0), { kind: ExitKind.TimedOut, code: 124, signal: 9, coreDumped: false, stdoutBytes: 0, stderrBytes: 0 });
    assert.equal(exitRecord({ kind: 'exited', code: 0 }, true, 0, 0).signal, 0);
  });

  it('classifies helper failures', () => {
    const request = { argv0: 'prog', cwd: '/w', user: 'alice' };
    const failure = (stage: 'exec' | 'cwd' | 'credentials' | 'chroot' | 'fork', errno: number, fileExists = false, text = 'text') => classifyFailure({ kind: 'failed', stage, errno, fileExists, text }, request);
    assert.deepEqual(failure('exec', 2), { exitCode: 127, message: 'prog: command not found\n' });
    assert.deepEqual(classifyFailure({ kind: 'failed', stage: 'exec', errno: 2, fileExists: false, text: '' }, { ...request, argv0: './prog' }), { exitCode: 127, message: './prog: No such file or directory\n' });
    assert.equal((failure('exec', 2, true) as { exitCode: number }).exitCode, 126);
    assert.deepEqual(failure('exec', 13, true, 'Permission denied'), { exitCode: 126, message: 'prog: cannot execute: Permission denied\n' });
    assert.equal((failure('cwd', 2) as SessionError).code, 'CWD_NOT_FOUND');
    for (const stage of ['credentials', 'chroot', 'fork'] as const) assert.equal((failure(stage, 1) as SessionError).code, 'SPAWN_FAILED');
  });
});

describe('commandEnvironment (spec §9.2)', () => {
  it('layers defaults, configuration and request; TERM only with a TTY', () => {
    assert.deepEqual({ ...commandEnvironment('/home/a', false, {}, {}) }, { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/a' });
    assert.deepEqual({ ...commandEnvironment('/', true, { PATH: '/c', X: 'c' }, { X: 'r', TERM: 'vt100' }) }, { PATH: '/c', HOME: '/', TERM: 'vt100', X: 'r' });
    const proto = commandEnvironment('/', false, {}, JSON.parse('{"__proto__":"v"}'));
    assert.equal(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, 'v');
  });
});
