// Boots the guest image for real: Debian's cloud kernel under QEMU, the image's own /init,
// the three disks of the README (a busybox container root, an empty writable layer, a config
// disk) made with mkfs.ext4 -d, and in the runtime-image layout the agent's EROFS image as a
// fourth disk or as a virtio-pmem device. The container's entrypoint is the static client
// (client/vm-client.c), which talks to the agent over AF_VSOCK inside the guest and prints
// one HYPEMAN_VM_RESULT line on the console; /init then powers the VM off. Shared by the VM
// test and the bench's VM section.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureImage, imageLayout, nodeCommand, renderGuestConfig, type EnsureImageResult } from '../../src/host/initrd/index.js';
import { ensureBusyboxRoot } from '../../src/host/local/BusyboxRoot.js';
import { findProjectRoot } from '../../src/host/projectRoot.js';
import { ensureDebianKernel, type GuestKernel } from '../../src/host/vm/DebianKernel.js';
import { makeExt4Image } from '../../src/host/vm/Ext4Disk.js';
import { findQemu, probeKvm, runQemuGuest, type QemuDisk } from '../../src/host/vm/QemuGuest.js';

const PROJECT = findProjectRoot();
const BUILD = join(PROJECT, 'build', 'vm');
const CLIENT_SOURCE = join(PROJECT, 'test', 'vm', 'client', 'vm-client.c');
const CLIENT = join(BUILD, 'hypeman-vm-client');
/** Where the entrypoint sits in the container root. */
const CLIENT_IN_ROOT = '/hypeman-vm-client';
/** A guest that has not powered off by then is killed (a whole run takes 10–20 s under TCG). */
const VM_TIMEOUT_MS = 120_000;

/** How the guest is booted. */
export type GuestLayout = 'initrd' | 'runtime-disk' | 'runtime-pmem';
/** What its entrypoint does: the acceptance cases and figures, or the memory figures of a guest without the agent. */
export type GuestMode = 'acceptance' | 'baseline';

export interface VmMemory {
  readonly MemTotal: number;
  readonly MemFree: number;
  readonly MemAvailable: number;
  readonly Cached: number;
  readonly Shmem: number;
  readonly AnonPages: number;
  readonly [field: string]: number;
}

export interface VmCase {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly detail?: string;
}

/** The client's HYPEMAN_VM_RESULT line (see client/vm-client.c); memory in KiB, times in s of guest uptime or ms. */
export interface VmResult {
  readonly mode: GuestMode;
  readonly ok: boolean;
  readonly uptime: { readonly client: number; readonly agent?: number; readonly listening?: number; readonly firstExit?: number };
  readonly memory: VmMemory;
  readonly agentMemory?: { readonly VmRSS: number; readonly RssAnon: number; readonly RssFile: number; readonly RssShmem: number };
  readonly memoryAfterCases?: VmMemory;
  readonly agentMemoryAfterCases?: { readonly VmRSS: number; readonly RssAnon: number; readonly RssFile: number; readonly RssShmem: number };
  readonly nodeE0ms?: { readonly median: number; readonly runs: readonly number[] };
  readonly agentStartMs?: { readonly median: number; readonly runs: readonly number[] };
  readonly stdout4MiBms?: number;
  readonly restartMs?: number;
  readonly cases?: readonly VmCase[];
}

export interface GuestRun {
  readonly layout: GuestLayout;
  readonly mode: GuestMode;
  /** null when the guest printed no result line (see console). */
  readonly result: VmResult | null;
  /** Guest uptime when /init began (its first log line), s; null if it never did. */
  readonly initUptime: number | null;
  /** What /init, the agent and the guest's client wrote to the console (userspaceConsole). */
  readonly console: string;
  /** The console as it came, the kernel's messages included (saved after a failure). */
  readonly rawConsole: string;
  readonly wallMs: number;
  readonly timedOut: boolean;
}

/** Why VMs cannot run here, or null when they can (QEMU, mkfs.ext4, mkfs.erofs, a static C compiler). */
export function vmUnavailable(): string | null {
  if (!findQemu()) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  for (const [tool, pkg] of [['mkfs.ext4', 'e2fsprogs'], ['mkfs.erofs', 'erofs-utils'], ['gcc', 'gcc']]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  return null;
}

/** Why VMs cannot run here, the kernel included (fetched if need be), or null when they can. */
export async function whyNoVm(): Promise<string | null> {
  const tools = vmUnavailable();
  if (tools) return tools;
  try {
    await ensureDebianKernel();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The static client, rebuilt when missing or older than its source. */
export function ensureVmClient(): string {
  if (!existsSync(CLIENT) || statSync(CLIENT).mtimeMs < statSync(CLIENT_SOURCE).mtimeMs) {
    mkdirSync(BUILD, { recursive: true });
    const temporary = `${CLIENT}.${process.pid}.tmp`;
    execFileSync('gcc', ['-static', '-Os', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', temporary, CLIENT_SOURCE]);
    execFileSync('sh', ['-c', 'mv "$1" "$2"', 'mv', temporary, CLIENT]);
  }
  return CLIENT;
}

/** Everything a run needs, prepared once: the kernel, both layouts' images, the client, the disks that do not change. */
export interface VmFixtures {
  readonly kernel: GuestKernel;
  /** TCG, unless HYPEMAN_VM_ACCEL=auto and a probe shows a guest really boots under KVM here. */
  readonly accel: 'tcg' | 'kvm';
  readonly single: EnsureImageResult;
  readonly split: EnsureImageResult;
  readonly runtimeImage: string;
  readonly dir: string;
  readonly rootfs: string;
  readonly config: Record<GuestMode, string>;
}

export async function prepareVmFixtures(): Promise<VmFixtures> {
  const kernel = await ensureDebianKernel();
  const client = ensureVmClient();
  // The test reaches the agent through vsock loopback inside the guest: an extra module.
  const modules = { kernelModules: kernel.modules, extraKernelModules: ['vsock_loopback'], projectRoot: PROJECT };
  await mkdir(BUILD, { recursive: true });
  const runtimeImage = join(BUILD, 'runtime.erofs');
  const single = await ensureImage(join(BUILD, 'initrd.cpio.gz'), modules);
  const split = await ensureImage(join(BUILD, 'initrd-runtime.cpio.gz'), { ...modules, runtimeImage });

  const dir = mkdtempSync(join(tmpdir(), 'hypeman-vm-'));
  const root = join(dir, 'rootfs');
  await ensureBusyboxRoot(root, execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim());
  await copyFile(client, join(root, CLIENT_IN_ROOT));
  const rootfs = join(dir, 'rootfs.ext4');
  await makeExt4Image(rootfs, 24, root);

  const layout = imageLayout();
  const [loader, , libraries, node] = nodeCommand(layout, []);
  const config = {} as Record<GuestMode, string>;
  for (const mode of ['acceptance', 'baseline'] as const) {
    const cmd = mode === 'acceptance' ? ['acceptance', loader, libraries, node, layout.launcher, layout.vsockAddon] : ['baseline'];
    const configDir = join(dir, `config-${mode}`);
    await mkdir(configDir);
    await writeFile(join(configDir, 'config.sh'), renderGuestConfig({ entrypoint: [CLIENT_IN_ROOT], cmd, hostname: 'vm-test' }));
    config[mode] = join(dir, `config-${mode}.ext4`);
    await makeExt4Image(config[mode], 4, configDir);
  }
  const accel = process.env.HYPEMAN_VM_ACCEL === 'auto' && (await probeKvm(kernel.vmlinuz)) ? 'kvm' : 'tcg';
  return { kernel, accel, single, split, runtimeImage, dir, rootfs, config };
}

export function removeVmFixtures(fixtures: VmFixtures): void {
  rmSync(fixtures.dir, { recursive: true, force: true });
}

/** Boots one guest and reads its result line from the console. */
export async function runGuest(fixtures: VmFixtures, layout: GuestLayout, mode: GuestMode): Promise<GuestRun> {
  const writable = join(fixtures.dir, `rw-${layout}-${mode}-${process.hrtime.bigint()}.ext4`);
  await makeExt4Image(writable, 16);
  try {
    const disks: QemuDisk[] = [
      { path: fixtures.rootfs, readOnly: true },
      { path: writable },
      { path: fixtures.config[mode], readOnly: true },
    ];
    const append: string[] = mode === 'baseline' ? ['HYPEMAN_AGENT=0'] : [];
    if (layout === 'runtime-disk') disks.push({ path: fixtures.runtimeImage, readOnly: true });
    if (layout === 'runtime-pmem') append.push('HYPEMAN_RUNTIME_DEVICE=/dev/pmem0', 'HYPEMAN_RUNTIME_OPTIONS=ro,dax=always');
    const guest = await runQemuGuest({
      kernel: fixtures.kernel.vmlinuz,
      initrd: layout === 'initrd' ? fixtures.single.path : fixtures.split.path,
      append,
      disks,
      ...(layout === 'runtime-pmem' ? { pmem: [fixtures.runtimeImage] } : {}),
      accel: fixtures.accel,
      timeoutMs: VM_TIMEOUT_MS,
    });
    const text = userspaceConsole(guest.console);
    const line = /HYPEMAN_VM_RESULT (\{.*\})/.exec(text);
    const init = /hypeman-init: starting \(PID 1\) at uptime ([\d.]+) s/.exec(text);
    return {
      layout,
      mode,
      result: line ? (JSON.parse(line[1]) as VmResult) : null,
      initUptime: init ? Number(init[1]) : null,
      console: text,
      rawConsole: guest.console,
      wallMs: guest.wallMs,
      timedOut: guest.timedOut,
    };
  } finally {
    rmSync(writable, { force: true });
  }
}

/**
 * The console without the kernel's own messages (`[    3.141592] …` lines). The serial port
 * interleaves them with userspace's output, even inside a line: the kernel's "reboot: Power
 * down" once landed in the middle of /init's last line, and the test's match of that line
 * failed (about one full run in ten under load).
 */
export function userspaceConsole(raw: string): string {
  return raw.replace(/\[\s*\d+\.\d+\] [^\n]*\n/g, '');
}

/** The console's last lines, for a failure message. */
export function consoleTail(run: GuestRun, lines = 40): string {
  return run.rawConsole.split(/\r?\n/).slice(-lines).join('\n');
}

/** Writes a run's console to build/vm/ for a look after a failure; returns the path. */
export function saveConsole(run: GuestRun): string {
  const path = join(BUILD, `console-${run.layout}-${run.mode}.log`);
  writeFileSync(path, run.rawConsole);
  return path;
}
