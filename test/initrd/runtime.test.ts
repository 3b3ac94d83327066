// The image's Node runs in a container root made of busybox alone (no libc, no loader, no
// node), chrooted, in new mount and pid namespaces, started the way /init starts it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, nodeCommand, type ImageLayout } from '../../src/host/initrd/index.js';
import {
  busyboxOnlyRoot,
  extractImage,
  mountsUnder,
  needsRoot,
  processesRootedUnder,
  ptyAddon,
  removeTree,
  runInNamespaces,
  temporaryDirectory,
  writeStandInAgent,
  type Finished,
} from './helpers.js';

/**
 * What init does before it starts the agent, on directories: proc of the new pid namespace,
 * /dev and /dev/pts bound in, the payload bound read-only; then the command, not as PID 1.
 */
const HARNESS = `
set -e
root=$1; payload=$2; shift 2
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind "$payload" "$root/.hypeman"
mount -o remount,bind,ro "$root/.hypeman"
set +e
"$@"
`;

const CONTAINER_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];

describe('the image runtime in a busybox-only container root', { skip: needsRoot }, () => {
  const dir = temporaryDirectory('runtime');
  const image = join(dir, 'initrd.cpio.gz');
  const unpacked = join(dir, 'image');
  const container = join(dir, 'container');
  let layout: ImageLayout;

  before(async () => {
    const built = await buildImage(image, { agentEntry: await writeStandInAgent(join(dir, 'agent')), vsockAddon: ptyAddon, gzipLevel: 1 });
    layout = built.layout;
    await extractImage(image, unpacked);
    await busyboxOnlyRoot(container, join(unpacked, 'bin', 'busybox'));
  });
  after(() => removeTree(dir));

  async function inContainer(argv: readonly string[]): Promise<Finished> {
    const finished = await runInNamespaces(['sh', '-c', HARNESS, 'harness', container, join(unpacked, '.hypeman'), 'env', '-i', ...CONTAINER_ENV, ...argv], { timeoutMs: 20_000 });
    // The mount namespace is gone with its last process: nothing may be left on the host.
    assert.deepEqual(mountsUnder(dir), []);
    assert.deepEqual(processesRootedUnder(container), []);
    return finished;
  }

  it('has no libc, loader or node of its own', async () => {
    for (const path of ['lib', 'lib64', 'usr', 'etc/ld.so.cache']) assert.equal(existsSync(join(container, path)), false, path);
    // The node binary asks for /lib64/ld-linux-x86-64.so.2, which this root does not have.
    const direct = await inContainer(['chroot', container, layout.node, '-e', '1']);
    assert.equal(direct.code, 127, 'node cannot start without the payload loader');
    assert.match(direct.stderr, /\/\.hypeman\/bin\/node.*No such file or directory/);
  });

  it('runs node -e through the payload loader, in the new pid namespace, and spawns a PTY with node-pty from /.hypeman', async () => {
    const script = `
      const pty = require('${layout.nodeModules}/node-pty');
      const procs = require('fs').readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length;
      const term = pty.spawn('/bin/sh', ['-c', 'echo hello from a pty; tty'], { cols: 80, rows: 24 });
      let out = '';
      term.onData((d) => (out += d));
      term.onExit(({ exitCode }) => console.log(JSON.stringify({ node: process.version, pid: process.pid, procs, out, exitCode })));`;
    const result = await inContainer(['chroot', container, ...nodeCommand(layout, ['-e', script])]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim().split('\n').pop()!) as { node: string; pid: number; procs: number; out: string; exitCode: number };
    assert.equal(report.node, process.version);
    assert.ok(report.pid < 10, `a low pid (${report.pid}): the pid namespace is new`);
    assert.ok(report.procs < 10, `only the namespace's processes are visible (${report.procs})`);
    assert.match(report.out, /hello from a pty\r\n\/dev\/pts\/\d+/);
    assert.equal(report.exitCode, 0);
  });

  it('starts the agent exactly as init does: env -i … chroot ROOT launcher --listen vsock:2222 --root /', async () => {
    const result = await inContainer([`HYPEMAN_VSOCK_ADDON=${layout.vsockAddon}`, 'chroot', container, layout.launcher, '--listen', 'vsock:2222', '--root', '/']);
    assert.equal(result.code, 0, result.stderr);
    const line = result.stdout.split('\n').find((l) => l.startsWith('STAND-IN '));
    assert.ok(line, `the stand-in agent reported: ${result.stdout} ${result.stderr}`);
    const report = JSON.parse(line.slice('STAND-IN '.length)) as { argv: string[]; node: string; addon: string; pty: { output: string } };
    assert.deepEqual(report.argv, ['--listen', 'vsock:2222', '--root', '/']);
    assert.equal(report.addon, 'object', 'the addon named by HYPEMAN_VSOCK_ADDON loads');
    assert.match(report.pty.output, /pty-ok\r\n\/dev\/pts\/\d+\r\n17 91/, 'PTY with the requested size');
    assert.match(result.stderr, /"msg":"stand-in agent up"/, 'pino, a bundled CommonJS dependency, works');
  });
});
