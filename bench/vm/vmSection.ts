// The bench's VM section: the guest booted for real (Debian's cloud kernel under QEMU TCG,
// the image's /init, the agent on AF_VSOCK inside the guest), in the single-initrd layout and
// in the runtime-image layout (a disk, and virtio-pmem with DAX), through the VM test's own
// harness (test/vm). Figures: boot phases to the first Exit, the guest RAM exec costs against
// the same guest without the agent, the agent's RSS and start against `node -e 0` in the
// guest, image sizes. Skipped, with the reason in the report, where QEMU or the kernel is
// missing, in --smoke runs, and with --no-vm.
import { layoutFigures, type LayoutFigures } from '../../test/vm/vmFigures.js';
import { prepareVmFixtures, removeVmFixtures, runGuest, whyNoVm, type GuestLayout, type GuestRun } from '../../test/vm/vmGuest.js';
import type { Figures, Target } from '../report/Report.js';

const LABELS: Record<GuestLayout, string> = {
  initrd: 'VM: single initrd (QEMU TCG)',
  'runtime-disk': 'VM: runtime image on a disk (QEMU TCG)',
  'runtime-pmem': 'VM: runtime image on virtio-pmem, DAX (QEMU TCG)',
};
/** Each layout's acceptance run is compared with the baseline booted the same way. */
const BASELINE: Record<GuestLayout, GuestLayout> = { initrd: 'runtime-disk', 'runtime-disk': 'runtime-disk', 'runtime-pmem': 'runtime-pmem' };

const MiB = 2 ** 20;

export interface VmSection {
  readonly skipped?: string;
  readonly layouts: readonly LayoutFigures[];
}

export async function measureVm(figures: Figures, progress: (text: string) => void, skip?: string): Promise<VmSection> {
  const why = skip ?? (await whyNoVm());
  if (why) {
    progress(`VM section skipped: ${why}`);
    return { skipped: why, layouts: [] };
  }
  progress('VM: preparing the kernel, both layouts\' images and the disks');
  const fixtures = await prepareVmFixtures();
  try {
    const runs = new Map<string, GuestRun>();
    for (const [layout, mode] of [['initrd', 'acceptance'], ['runtime-disk', 'acceptance'], ['runtime-disk', 'baseline'], ['runtime-pmem', 'acceptance'], ['runtime-pmem', 'baseline']] as const) {
      progress(`VM: ${layout} ${mode}`);
      const run = await runGuest(fixtures, layout, mode);
      if (!run.result?.ok) throw new Error(`the ${layout} ${mode} guest failed (npm run test:vm shows why): ${run.result ? JSON.stringify(run.result.cases?.filter((c) => !c.ok)) : 'no result line'}`);
      runs.set(`${layout}/${mode}`, run);
    }
    const layouts = (['initrd', 'runtime-disk', 'runtime-pmem'] as const).map((layout) =>
      layoutFigures(fixtures, runs.get(`${layout}/acceptance`)!, runs.get(`${BASELINE[layout]}/baseline`)!),
    );
    for (const f of layouts) addLayoutFigures(figures, f);
    return { layouts };
  } finally {
    removeVmFixtures(fixtures);
  }
}

function addLayoutFigures(figures: Figures, f: LayoutFigures): void {
  const path = LABELS[f.layout];
  const id = (name: string) => `vm.${f.layout}.${name}`;
  const ms = (s: number) => Math.round(s * 1000);
  figures.add({
    id: id('boot'),
    measure: 'guest boot to the first Exit of `true`',
    path,
    unit: 'ms',
    value: ms(f.firstExitS),
    parts: { 'kernel → /init': ms(f.kernelToInitS), '/init → agent': ms(f.initToAgentS), 'agent → listening': ms(f.agentToListeningS), '→ first Exit': ms(f.listeningToFirstExitS) },
    detail: { wallSeconds: f.wallS },
  });
  figures.add({
    id: id('exec-ram'),
    measure: 'guest RAM exec costs (MemAvailable against the guest without the agent)',
    path,
    unit: 'MiB',
    value: f.execRamMiB,
    parts: { 'by MemFree': f.execRamFreeMiB },
  });
  figures.add({
    id: id('agent-rss'),
    measure: 'agent RSS in the guest, idle after one session',
    path,
    unit: 'MiB',
    value: f.agentRssMiB,
    parts: { anon: f.agentRssAnonMiB, file: f.agentRssFileMiB, shmem: f.agentRssShmemMiB },
  });
  figures.add({ id: id('node-start'), measure: 'start Node (`node -e 0`) in the guest', path, unit: 'ms', value: f.nodeE0Ms });
  figures.add({ id: id('agent-start'), measure: 'agent start in the guest (process start → first accepted connection)', path, unit: 'ms', value: f.agentStartMs, floor: id('node-start') });
  figures.add({
    id: id('initrd'),
    measure: 'initrd (gzip)',
    path,
    unit: 'MiB',
    value: f.initrdBytes / MiB,
    parts: { unpacked: f.initrdUnpackedBytes / MiB, ...(f.runtimeImageBytes === null ? {} : { 'runtime image': f.runtimeImageBytes / MiB }) },
  });
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined ? 'n/a' : n.toFixed(digits));

/** Issue 13's targets for the guest, judged on the section's figures (reported, never asserted). */
export function judgeVmTargets(section: VmSection): Target[] {
  if (section.skipped) return [];
  const by = (layout: GuestLayout) => section.layouts.find((f) => f.layout === layout);
  const disk = by('runtime-disk');
  const pmem = by('runtime-pmem');
  const ratios = section.layouts.map((f) => `${f.agentStartRatio.toFixed(2)}×`).join(', ');
  return [
    {
      name: 'guest RAM for exec ≤ 48 MiB with the runtime image',
      measured: `${fmt(disk?.execRamMiB)} MiB on a disk, ${fmt(pmem?.execRamMiB)} MiB on virtio-pmem (single initrd: ${fmt(by('initrd')?.execRamMiB)} MiB)`,
      met: disk === undefined ? null : disk.execRamMiB <= 48,
    },
    {
      name: 'initrd ≤ 4 MiB in the runtime-image layout',
      measured: `${fmt(disk ? disk.initrdBytes / MiB : undefined)} MiB`,
      met: disk === undefined ? null : disk.initrdBytes <= 4 * MiB,
    },
    {
      name: 'agent start in the guest ≤ 1.5 × `node -e 0` in the same guest',
      measured: `${ratios} (single initrd, runtime disk, runtime pmem)`,
      met: section.layouts.every((f) => f.agentStartRatio <= 1.5),
    },
  ];
}
