/**
 * Boots a guest in QEMU with a kernel, an initrd and disks, its serial console captured,
 * and waits for it to power off. The invocation is the one the README documents as tested:
 *
 *   qemu-system-x86_64 -machine q35,accel=tcg -m 512M -nographic -no-reboot -nic none \
 *     -kernel vmlinuz -initrd initrd.cpio.gz -append "console=ttyS0 panic=-1 quiet" \
 *     -drive file=rootfs.ext4,if=virtio,format=raw,readonly=on -drive file=… …
 *
 * No network device (-nic none): the guests here need none, and QEMU's default NIC would
 * want an iPXE option ROM that a minimal install lacks.
 * TCG (QEMU's own translator) by default: where the machine offers /dev/kvm inside another
 * VM, a nested guest has been seen to hang after "Probing EDD", so KVM is used only when
 * asked for, and probeKvm tells whether a guest really boots under it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { VmError } from './errors.js';

export const QEMU = 'qemu-system-x86_64';

export interface QemuDisk {
  readonly path: string;
  readonly readOnly?: boolean;
}

export interface QemuGuestOptions {
  readonly kernel: string;
  /** Absent only for probing: the kernel then panics for want of a root. */
  readonly initrd?: string;
  /** Kernel command line words after `console=ttyS0 panic=-1 quiet`. */
  readonly append?: readonly string[];
  /** virtio-blk disks, in order: /dev/vda, /dev/vdb, … */
  readonly disks?: readonly QemuDisk[];
  /** Files attached read-only as virtio-pmem devices (/dev/pmem0, …); sizes must be multiples of 2 MiB. */
  readonly pmem?: readonly string[];
  readonly memoryMiB?: number;
  readonly accel?: 'tcg' | 'kvm';
  /** The guest is killed after this long. */
  readonly timeoutMs: number;
  readonly qemu?: string;
}

export interface QemuGuestResult {
  /** Everything the guest wrote on its serial console (firmware, kernel, /init, the workload). */
  readonly console: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the guest did not power off within timeoutMs and was killed. */
  readonly timedOut: boolean;
  readonly wallMs: number;
}

/** Where QEMU is, or null when it is not installed. */
export function findQemu(qemu = QEMU): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${qemu}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

/** The arguments of qemu-system-x86_64 for `options`. */
export function qemuArguments(options: QemuGuestOptions): string[] {
  const memory = options.memoryMiB ?? 512;
  const pmem = (options.pmem ?? []).map((path) => ({ path, mib: Math.ceil(statSync(path).size / 2 ** 20) }));
  // virtio-pmem is memory the guest can hot-plug: QEMU wants a slot and room above the RAM for it.
  const hotplug = pmem.length > 0 ? `,slots=${pmem.length},maxmem=${memory + pmem.reduce((sum, p) => sum + p.mib, 0)}M` : '';
  return [
    '-machine', `q35,accel=${options.accel ?? 'tcg'}`,
    '-m', `${memory}M${hotplug}`,
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', options.kernel,
    ...(options.initrd ? ['-initrd', options.initrd] : []),
    '-append', ['console=ttyS0', 'panic=-1', 'quiet', ...(options.append ?? [])].join(' '),
    ...(options.disks ?? []).flatMap((d) => ['-drive', `file=${d.path},if=virtio,format=raw${d.readOnly ? ',readonly=on' : ''}`]),
    ...pmem.flatMap((p, i) => [
      '-object', `memory-backend-file,id=pmem${i},share=off,readonly=on,mem-path=${p.path},size=${p.mib}M`,
      '-device', `virtio-pmem-pci,memdev=pmem${i}`,
    ]),
  ];
}

/** Boots the guest and resolves when QEMU exits (the guest powered off, panicked, or timed out). */
export function runQemuGuest(options: QemuGuestOptions): Promise<QemuGuestResult> {
  const qemu = options.qemu ?? QEMU;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(qemu, qemuArguments(options), { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new VmError('QEMU_NOT_FOUND', `${qemu} is not installed; install it: apt-get install qemu-system-x86`, { cause: error }) : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ console: Buffer.concat(chunks).toString('utf8'), code, signal, timedOut, wallMs: performance.now() - started });
    });
  });
}

/**
 * Whether a guest really boots under KVM here: the kernel alone, without an initrd, must
 * reach its panic for want of a root file system (then -no-reboot ends QEMU) within
 * `timeoutMs`. /dev/kvm existing is not enough: nested guests can hang in the firmware.
 */
export async function probeKvm(kernel: string, timeoutMs = 10_000): Promise<boolean> {
  try {
    const result = await runQemuGuest({ kernel, accel: 'kvm', timeoutMs, memoryMiB: 128 });
    return !result.timedOut && /Kernel panic/.test(result.console);
  } catch {
    return false;
  }
}
