// Kernel modules for stock distribution kernels: dependencies read from each module's own
// .modinfo (or modules.dep when the tree has one), load order, built-in modules, compressed
// modules; and the image layouts that ship them (single initrd, runtime image). The modules
// are real relocatable ELF objects made with gcc and objcopy, as a kernel build makes them;
// Debian's own cloud kernel is checked too when the VM tests have cached it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  buildImage,
  INIT_KERNEL_MODULES,
  InitrdError,
  MODULE_LOAD_LIST,
  modinfoDepends,
  readModule,
  resolveKernelModules,
  RUNTIME_IMAGE_KERNEL_MODULES,
  type WantedModule,
} from '../../src/host/initrd/index.js';
import { cachedKernels } from '../../src/host/vm/DebianKernel.js';
import { exec, listImage, ptyAddon, removeTree, temporaryDirectory, writeStandInAgent } from './helpers.js';

const RELEASE = '6.1.0-99-test-amd64';

/** The dependencies of the modules /init wants, as Debian's 6.1 cloud kernel has them. */
const TREE: Record<string, { path: string; depends: string[] }> = {
  virtio_ring: { path: 'kernel/drivers/virtio/virtio_ring.ko', depends: [] },
  virtio: { path: 'kernel/drivers/virtio/virtio.ko', depends: ['virtio_ring'] },
  virtio_pci_modern_dev: { path: 'kernel/drivers/virtio/virtio_pci_modern_dev.ko', depends: [] },
  virtio_pci_legacy_dev: { path: 'kernel/drivers/virtio/virtio_pci_legacy_dev.ko', depends: [] },
  virtio_pci: { path: 'kernel/drivers/virtio/virtio_pci.ko', depends: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'] },
  virtio_blk: { path: 'kernel/drivers/block/virtio_blk.ko', depends: ['virtio', 'virtio_ring'] },
  overlay: { path: 'kernel/fs/overlayfs/overlay.ko', depends: [] },
  vsock: { path: 'kernel/net/vmw_vsock/vsock.ko', depends: [] },
  vmw_vsock_virtio_transport_common: { path: 'kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko', depends: ['vsock'] },
  vmw_vsock_virtio_transport: { path: 'kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko', depends: ['virtio', 'vmw_vsock_virtio_transport_common', 'virtio_ring', 'vsock'] },
  vsock_loopback: { path: 'kernel/net/vmw_vsock/vsock_loopback.ko', depends: ['vsock', 'vmw_vsock_virtio_transport_common'] },
  libcrc32c: { path: 'kernel/lib/libcrc32c.ko', depends: [] },
  erofs: { path: 'kernel/fs/erofs/erofs.ko', depends: ['libcrc32c'] },
};

const isModule = (name: string) => (e: unknown) => e instanceof InitrdError && e.code === name;

describe('kernel modules', () => {
  const dir = temporaryDirectory('modules');
  const empty = join(dir, 'empty.o');
  after(() => removeTree(dir));

  /** A module as the kernel build leaves it: a relocatable object with a .modinfo section. */
  function writeModule(tree: string, path: string, name: string, depends: readonly string[]): string {
    const info = join(dir, `${name}.modinfo`);
    execFileSync('sh', ['-c', 'printf "license=GPL\\0depends=%s\\0name=%s\\0vermagic=%s\\0" "$1" "$2" "$3" >"$4"', 'modinfo', depends.join(','), name, RELEASE, info]);
    const out = join(tree, path);
    execFileSync('mkdir', ['-p', dirname(out)]);
    execFileSync('objcopy', ['--add-section', `.modinfo=${info}`, '--set-section-flags', '.modinfo=alloc,readonly', empty, out]);
    return out;
  }

  /** A lib/modules/RELEASE tree; `builtin` names go to modules.builtin instead of a file. */
  function writeTree(name: string, options: { builtin?: string[]; without?: string[] } = {}): string {
    const tree = join(dir, name, 'lib', 'modules', RELEASE);
    execFileSync('mkdir', ['-p', tree]);
    for (const [module, { path, depends }] of Object.entries(TREE)) {
      if (options.builtin?.includes(module) || options.without?.includes(module)) continue;
      writeModule(tree, path, module, depends);
    }
    execFileSync('sh', ['-c', 'printf "%s\\n" "$@" >"$0"', join(tree, 'modules.builtin'), ...(options.builtin ?? []).map((m) => TREE[m].path)]);
    return tree;
  }

  before(() => {
    execFileSync('gcc', ['-c', '-x', 'c', '/dev/null', '-o', empty]);
  });

  it('reads dependencies from .modinfo and orders every module after what it needs', async () => {
    const tree = writeTree('plain');
    assert.deepEqual(await modinfoDepends(join(tree, TREE.virtio_pci.path)), TREE.virtio_pci.depends);
    const set = await resolveKernelModules(tree, [...INIT_KERNEL_MODULES, { name: 'vsock-loopback', required: true, why: 'test' }]);
    assert.equal(set.version, RELEASE);
    const order = set.modules.map((m) => m.name);
    // The eleven modules a session once loaded by hand, in an order that works.
    assert.deepEqual([...order].sort(), ['overlay', 'virtio', 'virtio_blk', 'virtio_pci', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'vmw_vsock_virtio_transport', 'vmw_vsock_virtio_transport_common', 'vsock', 'vsock_loopback']);
    for (const module of set.modules) {
      for (const dependency of module.depends) assert.ok(order.indexOf(dependency) < order.indexOf(module.name), `${dependency} before ${module.name}`);
    }
    assert.deepEqual(set.missing, ['virtio_net'], 'an optional module the tree lacks is reported, not an error');
    assert.equal(set.modules.find((m) => m.name === 'overlay')?.path, TREE.overlay.path);
  });

  it('skips what the kernel has built in, and follows modules.dep when the tree has one', async () => {
    const tree = writeTree('builtin', { builtin: ['overlay', 'virtio_ring'] });
    const set = await resolveKernelModules(tree, INIT_KERNEL_MODULES);
    assert.deepEqual(set.builtin, ['overlay']);
    assert.ok(!set.modules.some((m) => m.name === 'overlay' || m.name === 'virtio_ring'), 'built-in modules have no file to load');
    // depmod's word wins over .modinfo: here it makes vsock depend on overlay.
    await writeFile(join(tree, 'modules.dep'), `${TREE.vsock.path}: ${TREE.overlay.path}\n${TREE.virtio_pci.path}: ${TREE.virtio.path}\n`);
    const withDep = await resolveKernelModules(join(dir, 'builtin', 'lib', 'modules', RELEASE), [{ name: 'vsock', required: true, why: 'test' }]);
    assert.deepEqual(withDep.modules.map((m) => m.name), ['vsock'], 'overlay is built in, so only vsock is loaded');
    assert.deepEqual(withDep.modules[0].depends, ['overlay']);
  });

  it('decompresses .ko.gz, .ko.xz and .ko.zst into plain ELF modules', async (t) => {
    const tree = join(dir, 'compressed');
    const plain = readFileSync(writeModule(tree, 'kernel/fs/overlayfs/overlay.ko', 'overlay', []));
    await writeFile(join(tree, 'kernel/fs/overlayfs/overlay.ko.gz'), gzipSync(plain));
    assert.ok((await readModule(join(tree, 'kernel/fs/overlayfs/overlay.ko.gz'))).equals(plain));
    for (const [tool, suffix] of [['xz', 'xz'], ['zstd', 'zst']]) {
      if ((await exec('sh', ['-c', `command -v ${tool}`]).catch(() => null)) === null) {
        t.diagnostic(`${tool} not installed: .ko.${suffix} not checked`);
        continue;
      }
      execFileSync(tool, ['-q', '-k', '-f', join(tree, 'kernel/fs/overlayfs/overlay.ko')]);
      assert.ok((await readModule(join(tree, `kernel/fs/overlayfs/overlay.ko.${suffix}`))).equals(plain), suffix);
    }
  });

  it('refuses a tree without a required module, a missing dependency, a cycle, and files that are not modules', async () => {
    await assert.rejects(resolveKernelModules(writeTree('no-vsock', { without: ['vsock'] }), INIT_KERNEL_MODULES), isModule('KERNEL_MODULE_NOT_FOUND'));
    await assert.rejects(resolveKernelModules(writeTree('no-ring', { without: ['virtio_ring'] }), INIT_KERNEL_MODULES), (e: unknown) => isModule('KERNEL_MODULE_NOT_FOUND')(e) && /virtio_ring, needed by virtio/.test((e as Error).message));
    await assert.rejects(resolveKernelModules(join(dir, 'nowhere'), INIT_KERNEL_MODULES), isModule('KERNEL_MODULES_NOT_FOUND'));
    const cycle = join(dir, 'cycle', 'lib', 'modules', RELEASE);
    writeModule(cycle, 'kernel/a.ko', 'a', ['b']);
    writeModule(cycle, 'kernel/b.ko', 'b', ['a']);
    const wantA: WantedModule[] = [{ name: 'a', required: true, why: 'test' }];
    await assert.rejects(resolveKernelModules(cycle, wantA), isModule('KERNEL_MODULE_INVALID'));
    const junk = join(dir, 'junk', 'lib', 'modules', RELEASE, 'kernel');
    await mkdir(junk, { recursive: true });
    execFileSync('cp', [empty, join(junk, 'a.ko')]);
    await assert.rejects(resolveKernelModules(dirname(junk), wantA), isModule('KERNEL_MODULE_INVALID'));
  });

  it("resolves Debian's cloud kernel, when the VM tests have cached it", async (t) => {
    const [kernel] = await cachedKernels();
    if (!kernel) return t.skip('no Debian kernel in the cache (the VM test fetches it)');
    const set = await resolveKernelModules(kernel.modules, [...INIT_KERNEL_MODULES, ...RUNTIME_IMAGE_KERNEL_MODULES]);
    t.diagnostic(`${kernel.release}: ${set.modules.map((m) => m.name).join(' ')}`);
    for (const name of ['virtio_pci', 'virtio_blk', 'overlay', 'vsock', 'vmw_vsock_virtio_transport', 'erofs']) assert.ok(set.modules.some((m) => m.name === name), name);
  });

  describe('in the image', () => {
    let tree: string;
    let agent: string;
    before(async () => {
      tree = writeTree('image');
      agent = await writeStandInAgent(join(dir, 'agent'));
    });

    it('single initrd: the modules and their load order under lib/modules/RELEASE', async () => {
      const image = await buildImage(join(dir, 'single', 'initrd.cpio.gz'), { agentEntry: agent, vsockAddon: ptyAddon, kernelModules: tree, gzipLevel: 1 });
      const names = await listImage(image.path);
      const list = `lib/modules/${RELEASE}/${MODULE_LOAD_LIST}`;
      assert.ok(names.includes(list));
      for (const module of image.modules!.modules) assert.ok(names.includes(`lib/modules/${RELEASE}/${module.path}`), module.path);
      assert.ok(names.includes('.hypeman/bin/node'), 'the payload is in the initrd');
      assert.equal(image.runtimeImage, null);
      await exec('sh', ['-c', 'mkdir -p x && cd x && gzip -dc "$1" | cpio -idm --quiet "$2"', 'extract', image.path, list], { cwd: join(dir, 'single') });
      assert.equal(readFileSync(join(dir, 'single', 'x', list), 'utf8'), image.modules!.modules.map((m) => `${m.path}\n`).join(''));
    });

    it('runtime image: the initrd keeps busybox, /init and the modules; the payload is an EROFS image', async (t) => {
      const runtime = join(dir, 'split', 'runtime.erofs');
      const image = await buildImage(join(dir, 'split', 'initrd.cpio.gz'), { agentEntry: agent, vsockAddon: ptyAddon, kernelModules: tree, runtimeImage: runtime, gzipLevel: 1 });
      const names = await listImage(image.path);
      assert.ok(names.includes('init') && names.includes('bin/busybox'));
      assert.ok(names.includes('.hypeman'), 'the payload directory stays, as the mount point');
      assert.deepEqual(names.filter((n) => n.startsWith('.hypeman/')), [], 'nothing of the payload in the initrd');
      assert.ok(names.includes(`lib/modules/${RELEASE}/${TREE.erofs.path}`), 'the runtime image needs erofs');
      const init = (await exec('sh', ['-c', 'gzip -dc "$1" | cpio -i --quiet --to-stdout init', 'init', image.path])).stdout;
      assert.match(init, /HYPEMAN_RUNTIME_DEVICE:=\/dev\/vdd/, 'its /init mounts the fourth disk at the payload directory');
      assert.equal(statSync(runtime).size % (2 * 2 ** 20), 0, 'a multiple of 2 MiB, as a pmem device must be');
      assert.equal(image.runtimeImage?.bytes, statSync(runtime).size);
      // fsck.erofs checks and extracts it; the payload is complete, busybox a file of its own.
      const out = join(dir, 'split', 'extracted');
      await exec('fsck.erofs', [`--extract=${out}`, runtime]);
      for (const file of ['bin/node', 'bin/busybox', 'bin/hypeman-exec-agent', 'bin/hypeman-entrypoint', 'agent.cjs', 'node_modules/node-pty/package.json']) assert.ok(existsSync(join(out, file)), file);
      assert.ok((statSync(join(out, 'bin/node')).mode & 0o111) !== 0, 'executables stay executable');
      t.diagnostic(`initrd ${image.compressedBytes} bytes (${image.fileBytes} unpacked), runtime image ${image.runtimeImage?.bytes} bytes; ${readdirSync(out).join(' ')}`);
    });
  });
});
