// Every figure of a run, its ratios to its floor and to the gRPC baseline, and the targets.
import type { LatencyStats } from '../stats.js';

export type Unit = 'ms' | 'MB/s' | 'files/s' | 'KiB' | 'MiB' | 'sessions';

export interface Figure {
  /** Stable key, e.g. `roundtrip.library`, `stdout.api`, `floor.spawn`. */
  id: string;
  /** What is measured, e.g. "exec round trip of `true`". */
  measure: string;
  /** How it travels: a path of the project, `gRPC baseline`, or `floor`. */
  path: string;
  unit: Unit;
  /** The headline: p50 for latencies, MB/s for streams, KiB or MiB for memory; null when not measured. */
  value: number | null;
  latency?: LatencyStats;
  /** The value's components, shown beside it (e.g. the phases of a boot), in the value's unit. */
  parts?: Record<string, number>;
  /** Anything else worth keeping (bytes moved, failures, per-component figures…). */
  detail?: Record<string, unknown>;
  /** Why the value is null, or what to know about it. */
  note?: string;
  /** The id of the floor this figure is compared with, and value ÷ floor value. */
  floor?: string;
  ratioToFloor?: number;
  /** The id of the gRPC baseline figure for the same command, and value ÷ baseline value. */
  grpc?: string;
  ratioToGrpc?: number;
}

export interface Target {
  name: string;
  /** The figure(s) it is judged on and what was measured, as text. */
  measured: string;
  /** null when its figures could not be measured in this run. */
  met: boolean | null;
}

export interface Report {
  mode: string;
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; os: string; node: string };
  seconds: number;
  figures: Figure[];
  targets: Target[];
  /** Sections not measured in this run, and why (e.g. no QEMU for the VM section). */
  skipped: Record<string, string>;
}

export class Figures {
  readonly list: Figure[] = [];

  add(figure: Figure): Figure {
    this.list.push(figure);
    return figure;
  }

  get(id: string): Figure | undefined {
    return this.list.find((f) => f.id === id);
  }

  /** Fills ratioToFloor and ratioToGrpc wherever both values exist. */
  computeRatios(): void {
    for (const f of this.list) {
      const floor = f.floor ? this.get(f.floor)?.value : null;
      const grpc = f.grpc ? this.get(f.grpc)?.value : null;
      if (f.value !== null && floor) f.ratioToFloor = f.value / floor;
      if (f.value !== null && grpc) f.ratioToGrpc = f.value / grpc;
    }
  }
}
