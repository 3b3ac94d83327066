// The figures of the VM runs (issue 13, item 3), computed the same way for the VM test's
// diagnostics and the bench's VM section: boot times, the guest RAM exec costs, the agent's
// RSS and start-up, image sizes.
import type { VmFixtures, GuestLayout, GuestRun, VmResult } from './vmGuest.js';

const MiB = 2 ** 20;

export interface LayoutFigures {
  readonly layout: GuestLayout;
  /** Guest uptime when /init began (kernel start to /init, as /init logs it once /proc is mounted), s. */
  readonly kernelToInitS: number;
  /** /init start to the agent's process start, s. */
  readonly initToAgentS: number;
  /** The agent's process start to its first accepted connection, s. */
  readonly agentToListeningS: number;
  /** First accepted connection to the first Exit (`true`), s. */
  readonly listeningToFirstExitS: number;
  /** Guest uptime at the first Exit, s. */
  readonly firstExitS: number;
  /** MemAvailable of the baseline guest minus this guest's, both after one session and with the page cache dropped. */
  readonly execRamMiB: number;
  /** The same with MemFree: page cache the kernel could drop (the runtime image's pages) counts as used. */
  readonly execRamFreeMiB: number;
  readonly agentRssMiB: number;
  readonly agentRssAnonMiB: number;
  readonly agentRssFileMiB: number;
  readonly agentRssShmemMiB: number;
  /** The agent's start (process start to accepting) in this guest, median of 3, ms. */
  readonly agentStartMs: number;
  /** `node -e 0` in this guest, median of 3, ms. */
  readonly nodeE0Ms: number;
  readonly agentStartRatio: number;
  readonly initrdBytes: number;
  readonly initrdUnpackedBytes: number;
  readonly runtimeImageBytes: number | null;
  readonly wallS: number;
}

const mib = (kib: number) => kib / 1024;

/** The figures of one acceptance run against the baseline run booted the same way. */
export function layoutFigures(fixtures: VmFixtures, run: GuestRun, baseline: GuestRun): LayoutFigures {
  const r = run.result as VmResult;
  const b = baseline.result as VmResult;
  const u = r.uptime;
  const image = run.layout === 'initrd' ? fixtures.single : fixtures.split;
  const agent = r.agentMemory!;
  return {
    layout: run.layout,
    kernelToInitS: run.initUptime!,
    initToAgentS: u.agent! - run.initUptime!,
    agentToListeningS: u.listening! - u.agent!,
    listeningToFirstExitS: u.firstExit! - u.listening!,
    firstExitS: u.firstExit!,
    execRamMiB: mib(b.memory.MemAvailable - r.memory.MemAvailable),
    execRamFreeMiB: mib(b.memory.MemFree - r.memory.MemFree),
    agentRssMiB: mib(agent.VmRSS),
    agentRssAnonMiB: mib(agent.RssAnon),
    agentRssFileMiB: mib(agent.RssFile),
    agentRssShmemMiB: mib(agent.RssShmem),
    agentStartMs: r.agentStartMs!.median,
    nodeE0Ms: r.nodeE0ms!.median,
    agentStartRatio: r.agentStartMs!.median / r.nodeE0ms!.median,
    initrdBytes: image.compressedBytes,
    initrdUnpackedBytes: image.fileBytes,
    runtimeImageBytes: image.runtimeImage?.bytes ?? null,
    wallS: run.wallMs / 1000,
  };
}

/** One line per layout, for test diagnostics and logs. */
export function describeFigures(f: LayoutFigures): string {
  const s = (x: number) => x.toFixed(2);
  return [
    `${f.layout}: kernel→/init ${s(f.kernelToInitS)} s, /init→agent ${s(f.initToAgentS)} s, agent→listening ${s(f.agentToListeningS)} s, →first Exit ${s(f.listeningToFirstExitS)} s (at ${s(f.firstExitS)} s)`,
    `exec RAM ${f.execRamMiB.toFixed(1)} MiB (MemAvailable; ${f.execRamFreeMiB.toFixed(1)} MiB by MemFree)`,
    `agent RSS ${f.agentRssMiB.toFixed(1)} MiB (anon ${f.agentRssAnonMiB.toFixed(1)}, file ${f.agentRssFileMiB.toFixed(1)}, shmem ${f.agentRssShmemMiB.toFixed(1)})`,
    `agent start ${f.agentStartMs.toFixed(0)} ms vs node -e 0 ${f.nodeE0Ms.toFixed(0)} ms (${f.agentStartRatio.toFixed(2)}×)`,
    `initrd ${(f.initrdBytes / MiB).toFixed(1)} MiB (unpacked ${(f.initrdUnpackedBytes / MiB).toFixed(1)} MiB)${f.runtimeImageBytes === null ? '' : `, runtime image ${(f.runtimeImageBytes / MiB).toFixed(1)} MiB`}`,
    `VM wall time ${f.wallS.toFixed(1)} s`,
  ].join('; ');
}
