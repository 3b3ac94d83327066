// The whole image: its layout as the real cpio lists and extracts it, and reproducibility.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  collectImageInputs,
  findProjectRoot,
  findVsockAddon,
  imageEntries,
  InitrdError,
  launcherScript,
  BUNDLE_BANNER,
  resolveRuntimeDependencies,
  type ImageBuildResult,
} from '../../src/host/initrd/index.js';
import { exec, extractImage, listImage, ptyAddon, removeTree, temporaryDirectory, writeStandInAgent } from './helpers.js';

const busybox = (await exec('sh', ['-c', 'command -v busybox'])).stdout.trim();
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('guest image', () => {
  const dir = temporaryDirectory('image');
  let entry: string;
  let first: ImageBuildResult;
  let second: ImageBuildResult;
  const root = join(dir, 'root');

  before(async () => {
    entry = await writeStandInAgent(join(dir, 'agent'));
    // Stand-ins for what other parts of the project build: pty.node for the vsock addon (a
    // real N-API addon whose libraries must be shipped too), busybox for the static exec helper.
    const options = { agentEntry: entry, vsockAddon: ptyAddon, spawnHelper: busybox };
    first = await buildImage(join(dir, 'a', 'initrd.cpio.gz'), options);
    second = await buildImage(join(dir, 'b', 'initrd.cpio.gz'), options);
    await extractImage(first.path, root);
  });
  after(() => removeTree(dir));

  it('is reproducible: two builds give identical bytes', (t) => {
    assert.ok(readFileSync(first.path).equals(readFileSync(second.path)));
    assert.equal(first.hash, second.hash);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    t.diagnostic(`image ${mib(first.compressedBytes)} gzip, unpacked ${mib(first.fileBytes)}, built in ${first.durationMs} ms and ${second.durationMs} ms`);
  });

  it('is listed by cpio -t with the layout init and the local runtime agree on', async () => {
    const names = await listImage(first.path);
    const { layout } = first;
    const rel = (p: string) => p.slice(1);
    for (const path of [layout.init, layout.busybox, '/bin/sh', '/sbin/ifconfig', '/dev/console', layout.payloadBusybox, layout.node, layout.loader, layout.agentBundle, layout.launcher, layout.vsockAddon, layout.spawnHelper]) {
      assert.ok(names.includes(rel(path)), `${path} is in the image`);
    }
    for (const file of ['package.json', 'lib/index.js', 'lib/unixTerminal.js', 'build/Release/pty.node']) {
      assert.ok(names.includes(rel(`${layout.nodeModules}/node-pty/${file}`)), `node-pty's ${file}`);
    }
    assert.ok(!names.some((n) => n.endsWith('.test.js') || n.endsWith('.map')), 'no tests or source maps of node-pty');
    assert.deepEqual(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'sorted');
  });

  it('ships every library the runtime and the addons need, as real files under their DT_NEEDED names', async () => {
    const deps = await resolveRuntimeDependencies([process.execPath, ptyAddon]);
    const lib = join(root, first.layout.libraries);
    assert.equal(sha256(join(root, first.layout.loader)), sha256(deps.interpreter.realPath));
    for (const library of deps.libraries) {
      const shipped = join(lib, library.name);
      assert.ok(statSync(shipped).isFile() && statSync(shipped).nlink === 1, `${library.name} is a regular file`);
      assert.equal(sha256(shipped), sha256(library.realPath), library.name);
    }
    assert.equal(sha256(join(root, first.layout.node)), sha256(process.execPath));
  });

  it('holds busybox once (a hard link in the payload) with applet links, and an executable /init', () => {
    const [bin, payload] = [statSync(join(root, 'bin/busybox')), statSync(join(root, first.layout.payloadBusybox))];
    assert.equal(bin.ino, payload.ino);
    assert.equal(readlinkSync(join(root, 'bin/sh')), '/bin/busybox');
    assert.equal(readlinkSync(join(root, 'sbin/ifconfig')), '/bin/busybox');
    assert.equal(statSync(join(root, 'init')).mode & 0o777, 0o755);
    assert.match(readFileSync(join(root, 'init'), 'utf8'), /^#!\/bin\/busybox sh\n/);
  });

  it('starts the agent through a launcher that runs the loader directly', async () => {
    const launcher = readFileSync(join(root, first.layout.launcher), 'utf8');
    assert.equal(launcher, launcherScript(first.layout));
    assert.ok(launcher.includes(`exec ${first.layout.loader} --library-path ${first.layout.libraries} ${first.layout.node} ${first.layout.agentBundle} "$@"`));
    assert.equal(statSync(join(root, first.layout.launcher)).mode & 0o777, 0o755);
  });

  it('bundles the agent into one CommonJS file with node-pty left outside, loaded on first use', async () => {
    const bundle = readFileSync(join(root, first.layout.agentBundle), 'utf8');
    assert.ok(bundle.startsWith(BUNDLE_BANNER));
    assert.match(bundle, /nodePty \?\?= require\("node-pty"\)/);
    assert.doesNotMatch(bundle, /import\.meta/);
    assert.ok(!bundle.includes(findProjectRoot()), 'no absolute checkout paths in the bundle');
  });

  it('is built without the vsock addon when it has not been built (and the result says so)', async () => {
    const project = join(dir, 'project');
    assert.equal(await findVsockAddon(project), null);
    const built = join(project, 'src/vsock/native/build/Release/vsock.node');
    await mkdir(dirname(built), { recursive: true });
    await writeFile(built, '');
    assert.equal(await findVsockAddon(project), built);

    const inputs = await collectImageInputs({ agentEntry: entry, vsockAddon: null });
    assert.equal(inputs.vsockAddon, null);
    assert.ok(!imageEntries(inputs).some((e) => e.path === first.layout.vsockAddon.slice(1)));
    assert.equal(first.vsockAddon, ptyAddon);
  });

  it('ships the static exec helper beside the launcher, and refuses a dynamically linked one', async () => {
    assert.equal(first.spawnHelper, busybox);
    assert.equal(sha256(join(root, first.layout.spawnHelper)), sha256(busybox));
    assert.equal(statSync(join(root, first.layout.spawnHelper)).mode & 0o777, 0o755);
    await assert.rejects(
      collectImageInputs({ agentEntry: entry, spawnHelper: process.execPath }),
      (e: unknown) => e instanceof InitrdError && e.code === 'SPAWN_HELPER_NOT_STATIC',
    );
  });
});
