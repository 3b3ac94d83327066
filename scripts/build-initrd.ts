// npm run build:initrd [-- --out PATH] [--entry FILE] [--vsock-addon FILE | --no-vsock-addon]
//                      [--spawn-helper FILE] [--gzip-level N] [--force]
//                      [--kernel-modules DIR [--kernel-module NAME ...]] [--runtime-image PATH]
// Builds the guest image (initrd.cpio.gz in the checkout by default), only when its inputs
// changed since the last build, unless --force. --kernel-modules ships the modules /init
// needs from a kernel's lib/modules/VERSION tree; --runtime-image builds the runtime-image
// layout (the agent's payload as an EROFS image at PATH, the initrd without it).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage, ensureImage, findProjectRoot, InitrdError, type ImageBuildOptions } from '../src/host/initrd/index.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    entry: { type: 'string' },
    'vsock-addon': { type: 'string' },
    'no-vsock-addon': { type: 'boolean', default: false },
    'spawn-helper': { type: 'string' },
    'gzip-level': { type: 'string' },
    'kernel-modules': { type: 'string' },
    'kernel-module': { type: 'string', multiple: true },
    'runtime-image': { type: 'string' },
    force: { type: 'boolean', default: false },
  },
});

const projectRoot = findProjectRoot();
const out = resolve(values.out ?? resolve(projectRoot, 'initrd.cpio.gz'));
if (values['kernel-module'] && !values['kernel-modules']) {
  console.error('build-initrd: --kernel-module needs --kernel-modules DIR (the tree to take it from)');
  process.exit(2);
}
const options: ImageBuildOptions = {
  projectRoot,
  ...(values.entry ? { agentEntry: resolve(values.entry) } : {}),
  ...(values['no-vsock-addon'] ? { vsockAddon: null } : values['vsock-addon'] ? { vsockAddon: resolve(values['vsock-addon']) } : {}),
  ...(values['spawn-helper'] ? { spawnHelper: resolve(values['spawn-helper']) } : {}),
  ...(values['gzip-level'] ? { gzipLevel: Number(values['gzip-level']) } : {}),
  ...(values['kernel-modules'] ? { kernelModules: resolve(values['kernel-modules']), extraKernelModules: values['kernel-module'] ?? [] } : {}),
  ...(values['runtime-image'] ? { runtimeImage: resolve(values['runtime-image']) } : {}),
};

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
try {
  const result = values.force ? { ...(await buildImage(out, options)), rebuilt: true } : await ensureImage(out, options);
  console.log(`${result.rebuilt ? 'built' : 'up to date:'} ${result.path}`);
  console.log(`  compressed ${mib(result.compressedBytes)}, unpacked ${mib(result.fileBytes)} (archive ${mib(result.archiveBytes)}), ${result.durationMs} ms`);
  if (result.runtimeImage) {
    console.log(`  runtime image ${result.runtimeImage.path}: ${mib(result.runtimeImage.bytes)} (EROFS, files ${mib(result.runtimeImage.fileBytes)}); attach it as the fourth disk (/dev/vdd)`);
  }
  if (result.modules) {
    const { version, modules, builtin, missing } = result.modules;
    console.log(`  kernel modules for ${version}: ${modules.map((m) => m.name).join(' ')}`);
    if (builtin.length > 0) console.log(`  built into that kernel: ${builtin.join(' ')}`);
    if (missing.length > 0) console.log(`  not in that kernel (optional): ${missing.join(' ')}`);
  }
  console.log(`  sha256 ${result.hash}`);
  console.log(`  agent: ${result.layout.launcher} --listen vsock:2222 --root /`);
  if (!result.spawnHelper) {
    console.warn('  WARNING: built without the exec helper (build/guest/hypeman-exec-spawn is missing; run `sh src/guest/native/build.sh`)');
  }
  if (!result.vsockAddon) {
    console.warn('  WARNING: built without the vsock addon (src/vsock/native/build/Release/*.node is missing; run `npm run build:native`): the agent in this image cannot listen on vsock');
  }
} catch (error) {
  if (error instanceof InitrdError) {
    console.error(`build-initrd: ${error.code}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
