// --root: commands run chrooted in a busybox-only root, as users resolved from that root's
// own /etc/passwd and /etc/group, supplementary groups included (spec §9.1, §9.4).
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FrameType as T, encodeWindowSize, type Message, type StartedMessage } from '../../src/wire/index.js';
import { AgentProcess } from './agentProcess.js';
import { ExecConnection, runCommand } from './execClient.js';

const BUSYBOX = '/bin/busybox'; // Debian's busybox-static
const APPLETS = ['sh', 'id', 'ls', 'cat', 'echo', 'pwd', 'env', 'stty', 'sleep', 'test'];

/** A root with nothing but a static busybox, users and groups; /etc/passwd is an absolute symlink. */
function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'hypeman-root-'));
  chmodSync(root, 0o755); // mkdtemp makes it 0700: the users could not enter /
  for (const dir of ['bin', 'etc', 'tmp', 'home/alice', 'home/bob', 'usr/share/base-passwd']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(
    join(root, 'usr/share/base-passwd/passwd'),
    ['root:x:0:0:root:/root:/bin/sh', 'alice:x:1000:1000:Alice:/home/alice:/bin/sh', 'bob:x:1001:1001::/home/bob:/bin/sh', ''].join('\n'),
  );
  // Resolved inside the root, not in the agent's own file system (ContainerRoot).
  symlinkSync('/usr/share/base-passwd/passwd', join(root, 'etc/passwd'));
  writeFileSync(
    join(root, 'etc/group'),
    ['root:x:0:', 'wheel:x:10:alice', 'staff:x:50:', 'audio:x:63:bob,alice', 'alice:x:1000:', 'bob:x:1001:', ''].join('\n'),
  );
  writeFileSync(join(root, 'marker-in-root'), 'inside\n');
  chmodSync(join(root, 'tmp'), 0o1777);
  chownSync(join(root, 'home/alice'), 1000, 1000);
  chownSync(join(root, 'home/bob'), 1001, 1001);
  chmodSync(join(root, 'home/bob'), 0o700);
  return root;
}

let root: string;
let agent: AgentProcess;
before(async () => {
  root = makeRoot();
  agent = await AgentProcess.start({ args: ['--root', root] });
});
after(async () => {
  await agent.stop();
  rmSync(root, { recursive: true, force: true });
});

const run = async (argv: string[], extra: Record<string, unknown> = {}) => {
  const r = await runCommand(agent.socketPath, { argv, ...extra });
  assert.equal(r.error, null, `unexpected Error ${JSON.stringify(r.error)}`);
  return { out: r.stdout.toString(), err: r.stderr.toString(), exit: r.exit! };
};
const idsOf = (text: string) => text.trim().split(/\s+/).map(Number).sort((a, b) => a - b);

describe('--root: commands run inside the container root', () => {
  it('sees the root, not the agent’s file system', async () => {
    assert.equal((await run(['cat', '/marker-in-root'])).out, 'inside\n');
    assert.deepEqual((await run(['ls', '/'])).out.split('\n').filter(Boolean).sort(), ['bin', 'etc', 'home', 'marker-in-root', 'tmp', 'usr']);
    assert.equal((await run(['sh', '-c', 'test -e /work/main; echo $?'])).out, '1\n');
  });

  it('searches PATH inside the root: a program only the agent has is not found', async () => {
    const r = await run(['node', '--version']);
    assert.deepEqual([r.exit.code, r.err], [127, 'node: command not found\n']);
  });

  it('runs as root by default, with HOME from the root’s passwd', async () => {
    assert.equal((await run(['id', '-u'])).out, '0\n');
    assert.equal((await run(['sh', '-c', 'echo $HOME'])).out, '/root\n');
  });

  it('a user name: uid, primary group, supplementary groups from /etc/group, HOME', async () => {
    assert.equal((await run(['id'], { user: 'alice' })).out, 'uid=1000(alice) gid=1000(alice) groups=10(wheel),63(audio),1000(alice)\n');
    assert.deepEqual(idsOf((await run(['id', '-G'], { user: 'alice' })).out), [10, 63, 1000]);
    assert.equal((await run(['sh', '-c', 'echo $HOME; pwd'], { user: 'alice', cwd: '/home/alice' })).out, '/home/alice\n/home/alice\n');
  });

  it('name:group sets the primary group; the supplementary groups stay the user’s', async () => {
    const r = await run(['sh', '-c', 'id -u; id -g; id -G'], { user: 'alice:staff' });
    const [uid, gid, groups] = r.out.trim().split('\n');
    assert.deepEqual([uid, gid], ['1000', '50']);
    assert.deepEqual(idsOf(groups), [10, 50, 63]);
  });

  it('uid:gid numbers, with or without a passwd entry', async () => {
    const bob = await run(['sh', '-c', 'id -u; id -g; id -G'], { user: '1001:10' });
    assert.deepEqual(bob.out.trim().split('\n').slice(0, 2), ['1001', '10']);
    assert.deepEqual(idsOf(bob.out.trim().split('\n')[2]), [10, 63]);
    const nobody = await run(['sh', '-c', 'id -u; id -g; echo $HOME'], { user: '4242' });
    assert.equal(nobody.out, '4242\n0\n/\n');
  });

  it('a working directory the user may not enter is CWD_NOT_FOUND', async () => {
    const r = await runCommand(agent.socketPath, { argv: ['pwd'], user: 'alice', cwd: '/home/bob' });
    assert.equal(r.error?.code, 'CWD_NOT_FOUND');
    assert.match(r.error!.message, /Permission denied/);
  });

  it('unknown users and groups of the root are USER_NOT_FOUND', async () => {
    for (const user of ['carol', 'alice:nogroup']) {
      const r = await runCommand(agent.socketPath, { argv: ['id'], user });
      assert.equal(r.error?.code, 'USER_NOT_FOUND', user);
    }
  });

  it('a terminal works in the root too, and resizes', async () => {
    const c = await ExecConnection.open(agent.socketPath);
    c.start({ argv: ['sh', '-c', 'stty size; trap "stty size; exit 0" WINCH; echo ready; while :; do sleep 0.05; done'], tty: true, window: { rows: 10, cols: 20 } });
    await c.waitFor((m: Message): m is StartedMessage => m.type === T.Started);
    await c.waitForStdout('ready');
    c.send(encodeWindowSize({ rows: 11, cols: 21 }));
    const r = await c.finish();
    c.destroy();
    assert.equal(r.stdout.toString(), '10 20\r\nready\r\n11 21\r\n');
  });
});
