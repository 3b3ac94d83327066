// /init: its commands in a dry run, config.sh round trips, and the whole script run as PID 1
// of new namespaces against directories standing in for the VM's disks.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  buildImage,
  ENTRYPOINT_SHIM_SOURCE,
  findProjectRoot,
  imageLayout,
  INIT_SCRIPT_SOURCE,
  InitrdError,
  renderGuestConfig,
  renderInitScript,
  RUNTIME_IMAGE_DEVICE,
  type GuestConfig,
} from '../../src/host/initrd/index.js';
import {
  busyboxOnlyRoot,
  exec,
  extractImage,
  mountsUnder,
  needsRoot,
  processesRootedUnder,
  ptyAddon,
  removeTree,
  runInNamespaces,
  temporaryDirectory,
  writeStandInAgent,
} from './helpers.js';

const layout = imageLayout();
const busybox = (await exec('sh', ['-c', 'command -v busybox'])).stdout.trim();

/** Runs /init with HYPEMAN_DRY_RUN=1 under the host's busybox and returns its output lines. */
async function dryRun(configDir: string, env: Record<string, string> = {}): Promise<string[]> {
  const { stdout } = await exec(busybox, ['sh', '-c', renderInitScript({ layout }), 'init'], {
    env: { HYPEMAN_DRY_RUN: '1', HYPEMAN_CONFIG: configDir, ...env },
  });
  return stdout.split('\n');
}

describe('/init', () => {
  const dir = temporaryDirectory('init');
  after(() => removeTree(dir));

  const config: GuestConfig = {
    entrypoint: ['/docker-entrypoint.sh'],
    cmd: ['nginx', '-g', "daemon off; it's"],
    workdir: '/srv',
    env: { PATH: '/usr/bin:/bin', GREETING: 'hello world' },
    volumes: [
      { device: '/dev/vdd', mountPoint: '/data' },
      { device: '/dev/vde', mountPoint: '/ro', readOnly: true },
    ],
    network: { ip: '10.0.0.2', prefix: 24, gateway: '10.0.0.1', dns: ['1.1.1.1', '8.8.8.8'] },
    hostname: 'guest-1',
  };

  it('dry run: prints every step in order, with the default devices and mount points', async () => {
    const configDir = join(dir, 'dry-config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.sh'), renderGuestConfig(config));
    const lines = await dryRun(configDir);
    const expected = [
      '+ mount -t proc proc /proc',
      '+ mount -t sysfs sysfs /sys',
      '+ mount -t devtmpfs devtmpfs /dev',
      '+ mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts',
      '+ mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm',
      '+ mount -o ro /dev/vda /overlay/lower',
      '+ mount -o rw /dev/vdb /overlay/rw',
      '+ mount -t overlay -o lowerdir=/overlay/lower,upperdir=/overlay/rw/upper,workdir=/overlay/rw/work overlay /overlay/newroot',
      `+ mount -o ro /dev/vdc ${configDir}`,
      `hypeman-init: loaded ${configDir}/config.sh`,
      '+ mount --bind /proc /overlay/newroot/proc',
      '+ mount --bind /sys /overlay/newroot/sys',
      '+ mount --bind /dev /overlay/newroot/dev',
      '+ mount --bind /dev/pts /overlay/newroot/dev/pts',
      '+ mount --bind /.hypeman /overlay/newroot/.hypeman',
      '+ mount -o remount,bind,ro /overlay/newroot/.hypeman',
      '+ mount -o rw /dev/vdd /overlay/newroot/data',
      '+ mount -o ro /dev/vde /overlay/newroot/ro',
      '+ ip link set lo up',
      '+ hostname guest-1',
      '+ ip addr add 10.0.0.2/24 dev eth0',
      '+ ip route add default via 10.0.0.1 dev eth0',
      '+ write /overlay/newroot/etc/resolv.conf nameserver 1.1.1.1 8.8.8.8',
      `+ env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot /overlay/newroot ${layout.launcher} --listen vsock:2222 --root /`,
      '+ poweroff -f',
    ];
    let at = -1;
    for (const line of expected) {
      const found = lines.indexOf(line, at + 1);
      assert.ok(found > at, `in order: ${line}\n--- output ---\n${lines.join('\n')}`);
      at = found;
    }
    assert.ok(
      lines.includes(`+ env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PATH=/usr/bin:/bin 'GREETING=hello world' chroot /overlay/newroot ${layout.entrypointShim} /srv /docker-entrypoint.sh nginx -g 'daemon off; it'\\''s'`),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.includes('insmod')), 'no modules: this kernel release has no load-order list in the image');
  });

  it('dry run: the runtime image is mounted at the payload directory first; HYPEMAN_AGENT=0 starts no agent', async () => {
    const configDir = join(dir, 'runtime-config');
    await mkdir(configDir, { recursive: true });
    const lines = await dryRun(configDir, { HYPEMAN_RUNTIME_DEVICE: '/dev/pmem0', HYPEMAN_RUNTIME_OPTIONS: 'ro,dax=always', HYPEMAN_AGENT: '0' });
    const mounted = lines.indexOf('+ mount -o ro,dax=always /dev/pmem0 /.hypeman');
    assert.ok(mounted > 0 && mounted < lines.indexOf('+ mount -o ro /dev/vda /overlay/lower'), lines.join('\n'));
    assert.ok(lines.includes('hypeman-init: HYPEMAN_AGENT=0: not starting the agent'), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('--listen')), 'no agent');
  });

  it('init.sh in the repository is what the builder ships for the default layout, and runtime-image images differ only in parameters', () => {
    const source = readFileSync(join(findProjectRoot(), INIT_SCRIPT_SOURCE), 'utf8');
    assert.equal(renderInitScript({ layout }), source, 'the parameter block of init.sh must be renderInitParameters({ layout: imageLayout() })');
    const runtime = renderInitScript({ layout, defaults: { HYPEMAN_RUNTIME_DEVICE: RUNTIME_IMAGE_DEVICE } }).split('\n');
    const changed = source.split('\n').flatMap((line, i) => (line === runtime[i] ? [] : [`${line} → ${runtime[i]}`]));
    assert.deepEqual(changed, [': "${HYPEMAN_RUNTIME_DEVICE:=none}" → : "${HYPEMAN_RUNTIME_DEVICE:=/dev/vdd}"']);
  });

  it('shellcheck finds nothing in /init and the entrypoint shim, as written and as rendered', async () => {
    const files = [join(findProjectRoot(), INIT_SCRIPT_SOURCE), join(findProjectRoot(), ENTRYPOINT_SHIM_SOURCE)];
    const rendered = join(dir, 'init-rendered.sh');
    await writeFile(rendered, renderInitScript({ layout, agentPort: 4444, defaults: { HYPEMAN_RUNTIME_DEVICE: RUNTIME_IMAGE_DEVICE, HYPEMAN_CONSOLE: '/dev/ttyS0' } }));
    const result = await exec('shellcheck', ['--severity=style', ...files, rendered]).catch((error: { code?: string | number; stdout?: string }) => {
      if (error.code === 'ENOENT') throw new Error('shellcheck is not installed: apt-get install shellcheck');
      return { stdout: error.stdout ?? String(error) };
    });
    assert.equal(result.stdout, '', result.stdout);
  });

  it('dry run: devices and mount points are parameters', async () => {
    const configDir = join(dir, 'empty-config');
    await mkdir(configDir, { recursive: true });
    const lines = await dryRun(configDir, {
      HYPEMAN_ROOTFS_DEVICE: '/dev/sda',
      HYPEMAN_WRITABLE_DEVICE: '/dev/sdb',
      HYPEMAN_CONFIG_DEVICE: '/dev/sdc',
      HYPEMAN_LOWER: '/m/lower',
      HYPEMAN_WRITABLE: '/m/rw',
      HYPEMAN_NEWROOT: '/m/root',
    });
    for (const line of [
      '+ mount -o ro /dev/sda /m/lower',
      '+ mount -o rw /dev/sdb /m/rw',
      '+ mount -t overlay -o lowerdir=/m/lower,upperdir=/m/rw/upper,workdir=/m/rw/work overlay /m/root',
      `+ mount -o ro /dev/sdc ${configDir}`,
      '+ mount --bind /.hypeman /m/root/.hypeman',
    ]) {
      assert.ok(lines.includes(line), line);
    }
    assert.ok(lines.some((l) => l.startsWith('hypeman-init: no config.sh')), 'no config: agent only');
    assert.ok(!lines.some((l) => l.includes('hypeman-entrypoint')), 'no entrypoint without config');
  });

  it('config.sh gives back the exact words, whatever they contain', async () => {
    const words = ['plain', 'two words', "it's", '$HOME', '`id`', 'a"b', 'back\\slash', 'new\nline', ''];
    const script = `${renderGuestConfig({ entrypoint: words.slice(0, 1), cmd: words.slice(1), env: { A: "x'y z" } })}
eval "set -- $ENTRYPOINT $CMD"; printf '%s\\0' "$@"; printf '|'; eval "set -- $ENV"; printf '%s\\0' "$@"`;
    const { stdout } = await exec(busybox, ['sh', '-c', script]);
    const [argv, env] = stdout.split('|');
    assert.deepEqual(argv.split('\0').slice(0, -1), words);
    assert.deepEqual(env.split('\0').slice(0, -1), ["A=x'y z"]);
  });

  it('config.sh refuses what init could not use', () => {
    const invalid = (c: GuestConfig) => assert.throws(() => renderGuestConfig(c), (e: unknown) => e instanceof InitrdError && e.code === 'INVALID_GUEST_CONFIG');
    invalid({ workdir: 'relative' });
    invalid({ env: { 'A-B': 'x' } });
    invalid({ volumes: [{ device: '/dev/vdd', mountPoint: '/a:b' }] });
    invalid({ network: { ip: '10.0.0.1; reboot' } });
    invalid({ hostname: 'bad host' });
  });

  it('runs as PID 1 against directories: overlay, config, agent restarted, entrypoint, orphans reaped, poweroff', { skip: needsRoot, timeout: 45_000 }, async (t) => {
    const image = join(dir, 'initrd.cpio.gz');
    await buildImage(image, { agentEntry: await writeStandInAgent(join(dir, 'agent')), vsockAddon: ptyAddon, gzipLevel: 1 });
    const vm = join(dir, 'vm');
    await extractImage(image, vm);
    // The "disks", as directories inside the unpacked image: init bind-mounts directories.
    const rootfs = join(vm, 'disks/rootfs');
    await busyboxOnlyRoot(rootfs, join(vm, 'bin/busybox'));
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc/stand-in.json'), JSON.stringify({ exitFirst: true, stay: true }));
    await mkdir(join(vm, 'disks/rw'), { recursive: true });
    await mkdir(join(vm, 'disks/config'), { recursive: true });
    const entry = [
      'pwd > /tmp/entry-cwd; env > /tmp/entry-env',
      // an orphan: its parent exits at once, so it is re-parented to PID 1, which must reap it
      `( sh -c 'sleep 0.1; grep PPid /proc/$$/status > /tmp/orphan-ppid; sleep 0.1' & )`,
      // twice, half a second apart: a process that has just exited is a zombie for an instant
      // before its parent reaps it (init's own `date` was seen so under load); the orphan's
      // would stay one
      'sleep 1; cat /proc/[0-9]*/stat > /tmp/entry-stats; sleep 0.5; cat /proc/[0-9]*/stat > /tmp/entry-stats-later',
      'touch /.hypeman/probe 2> /tmp/entry-touch',
      'i=0; while [ ! -e /tmp/agent-result.json ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      'exit 7',
    ].join('\n');
    await writeFile(join(vm, 'disks/config/config.sh'), renderGuestConfig({ entrypoint: ['sh'], cmd: ['-c', entry], workdir: '/srv', env: { GREETING: 'hello world' } }));

    const started = performance.now();
    const run = await runInNamespaces(
      ['chroot', vm, '/bin/busybox', 'env', '-i',
        'HYPEMAN_ROOTFS_DEVICE=/disks/rootfs', 'HYPEMAN_WRITABLE_DEVICE=/disks/rw', 'HYPEMAN_CONFIG_DEVICE=/disks/config',
        'HYPEMAN_CONSOLE=none', 'HYPEMAN_AGENT_BACKOFF_MAX=1', '/init'],
      { timeoutMs: 30_000 },
    );
    t.diagnostic(`init ran for ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(mountsUnder(dir), [], 'every mount went with the namespace');
    assert.deepEqual(processesRootedUnder(vm), [], 'no process left');

    const log = run.stdout + run.stderr;
    assert.match(log, /hypeman-init: starting \(PID 1\)/);
    assert.match(log, /hypeman-init: loaded \/overlay\/config\/config\.sh/);
    assert.match(log, /the agent exited with status 3; restarting it in 1s/);
    assert.match(log, /hypeman-init: the entrypoint exited with status 7; powering off/);
    assert.equal(run.signal, 'SIGINT', `poweroff -f in a pid namespace ends its init as if by SIGINT (code ${run.code})\n${log}`);

    const tmp = join(vm, 'disks/rw/upper/tmp'); // what the container wrote lands in the overlay's upper layer
    assert.deepEqual(readdirSync(join(rootfs, 'tmp')), [], 'the read-only lower layer is untouched');
    assert.equal(readFileSync(join(tmp, 'entry-cwd'), 'utf8').trim(), '/srv');
    const env = readFileSync(join(tmp, 'entry-env'), 'utf8');
    assert.match(env, /^GREETING=hello world$/m);
    assert.doesNotMatch(env, /HYPEMAN_/, 'init parameters do not leak into the container');
    assert.match(readFileSync(join(tmp, 'entry-touch'), 'utf8'), /Read-only file system/);
    assert.match(readFileSync(join(tmp, 'orphan-ppid'), 'utf8'), /^PPid:\s+1$/m, 'the orphan was re-parented to init');
    const zombiesIn = (file: string) => readFileSync(join(tmp, file), 'utf8').split('\n').filter((l) => /^\d+ \([^)]*\) Z /.test(l));
    const pidOf = (line: string) => line.split(' ')[0];
    const later = new Set(zombiesIn('entry-stats-later').map(pidOf));
    assert.deepEqual(zombiesIn('entry-stats').filter((z) => later.has(pidOf(z))), [], 'init reaped the orphan');

    assert.equal(readFileSync(join(tmp, 'agent-starts'), 'utf8'), '--listen vsock:2222 --root /\n'.repeat(2));
    const agent = JSON.parse(readFileSync(join(tmp, 'agent-result.json'), 'utf8')) as { env: Record<string, string>; addon: string; pty: { output: string } };
    assert.equal(agent.env.HYPEMAN_VSOCK_ADDON, layout.vsockAddon);
    assert.equal(agent.addon, 'object');
    assert.match(agent.pty.output, /pty-ok\r\n\/dev\/pts\/\d+\r\n17 91/);
    assert.equal(existsSync(join(vm, 'overlay/newroot/tmp')), false, 'the overlay was mounted only inside the namespace');
  });
});
