// npm run fetch:kernel: fetches Debian's current cloud kernel package by name with apt
// (apt-cache depends linux-image-cloud-amd64, apt-get download, dpkg-deb -x; nothing is
// installed) into the cache the VM test and `npm run bench` share, unless it is there
// already, and prints where its vmlinuz and modules tree are.
import { defaultKernelCache, ensureDebianKernel } from '../src/host/vm/DebianKernel.js';
import { VmError } from '../src/host/vm/errors.js';

try {
  const kernel = await ensureDebianKernel();
  console.log(`${kernel.package} (${kernel.release}) in ${defaultKernelCache()}`);
  console.log(`  kernel   ${kernel.vmlinuz}`);
  console.log(`  modules  ${kernel.modules}   (npm run build:initrd -- --kernel-modules ${kernel.modules})`);
} catch (error) {
  if (!(error instanceof VmError)) throw error;
  console.error(`fetch-kernel: ${error.code}: ${error.message}`);
  process.exit(1);
}
