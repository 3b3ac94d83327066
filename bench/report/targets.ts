// The targets, judged on a run's figures (reported, never asserted).
import type { Figures, Target } from './Report.js';

const fmt = (n: number | null | undefined, digits = 2) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));

export function judgeTargets(figures: Figures, largestConcurrency: number): Target[] {
  const out: Target[] = [];

  const lib = figures.get('roundtrip.library');
  const spawn = figures.get('floor.spawn');
  const gap = lib?.value != null && spawn?.value != null ? lib.value - spawn.value : null;
  out.push({
    name: 'exec round trip p50 (library) within 1 ms of the in-process spawn floor',
    measured: `${fmt(lib?.value)} ms vs spawn ${fmt(spawn?.value)} ms: +${fmt(gap)} ms`,
    met: gap === null ? null : gap <= 1,
  });

  // Issue 18: ahead of the original's Go agent (0.76 × the spawn floor here).
  const api = figures.get('roundtrip.api');
  out.push({
    name: 'exec round trip p50 (library) ≤ 0.8 × the in-process spawn floor',
    measured: `${fmt(lib?.value)} ms = ${fmt(lib?.ratioToFloor)} × spawn ${fmt(spawn?.value)} ms`,
    met: lib?.ratioToFloor == null ? null : lib.ratioToFloor <= 0.8,
  });
  out.push({
    name: 'exec round trip p50 (API server) ≤ the in-process spawn floor',
    measured: `${fmt(api?.value)} ms = ${fmt(api?.ratioToFloor)} × spawn ${fmt(spawn?.value)} ms`,
    met: api?.ratioToFloor == null ? null : api.ratioToFloor <= 1,
  });
  const start = figures.get('agent.start');
  const nodeStart = figures.get('floor.node-start');
  const startGap = start?.value != null && nodeStart?.value != null ? start.value - nodeStart.value : null;
  out.push({
    name: 'agent start (to listening) ≤ `node -e 0` + 20 ms, natively',
    measured: `${fmt(start?.value, 1)} ms vs node -e 0 ${fmt(nodeStart?.value, 1)} ms: +${fmt(startGap, 1)} ms`,
    met: startGap === null ? null : startGap <= 20,
  });

  const out1 = figures.get('stdout.api');
  out.push({
    name: 'stdout ≥ 1 GB/s end to end through the API server',
    measured: `${fmt(out1?.value, 0)} MB/s`,
    met: out1?.value == null ? null : out1.value >= 1000,
  });
  out.push({
    name: 'stdout through the API server ≥ 2× the gRPC baseline',
    measured: `${fmt(out1?.ratioToGrpc)}× (${fmt(out1?.value, 0)} vs ${fmt(out1?.grpc ? figures.get(out1.grpc)?.value : null, 0)} MB/s)`,
    met: out1?.ratioToGrpc == null ? null : out1.ratioToGrpc >= 2,
  });

  const conc = figures.get(`concurrency.api.${largestConcurrency}`);
  const failures = conc?.detail?.failures as number | undefined;
  out.push({
    name: `${largestConcurrency} concurrent sessions with zero failures`,
    measured: conc ? `${conc.value} succeeded, ${failures} failed` : 'n/a',
    met: failures === undefined ? null : failures === 0,
  });

  const peak = figures.get('memory.slow-reader.agent');
  out.push({
    name: 'agent peak RSS under a 10 MB/s reader < 64 MiB',
    measured: `${fmt(peak?.value, 1)} MiB`,
    met: peak?.value == null ? null : peak.value < 64,
  });

  // Issue 18 (performance, round 2), items 3, 5 and 6.
  const growth = ['api-server', 'mux', 'agent'].map((name) => {
    const f = figures.get(`memory.slow-reader.${name}`);
    const before = f?.detail?.rssBeforeMib as number | undefined;
    return { name, over: f?.value != null && before !== undefined ? f.value - before : null };
  });
  out.push({
    name: 'peak RSS under a 10 MB/s reader ≤ idle + 16 MiB, for the API server, the mux and the agent',
    measured: growth.map((g) => `${g.name} +${fmt(g.over, 1)}`).join(', ') + ' MiB',
    met: growth.some((g) => g.over === null) ? null : growth.every((g) => g.over! <= 16),
  });
  const startP99 = conc?.latency?.p99;
  out.push({
    name: `${largestConcurrency} sessions started at once: start p99 ≤ 1 s through the API server`,
    measured: `${fmt(startP99 != null ? startP99 / 1000 : null)} s`,
    met: startP99 == null ? null : startP99 <= 1000,
  });
  // Issue 14: resumability costs a stream at most 5 %; a cut costs output less than the CLI's 1 s notice.
  const durable = ['stdout', 'stdin'].flatMap((dir) => ['library', 'api'].map((path) => figures.get(`durable.${dir}.${path}`)));
  out.push({
    name: 'a resumable session (linger) streams within 5 % of one that is not',
    measured: durable.map((f) => `${f?.id.replace('durable.', '') ?? '?'} ${fmt(f?.ratioToFloor)} (CPU/GiB ${fmt(f?.detail?.cpuRatio as number | undefined)})`).join(', '),
    met: durable.some((f) => f?.ratioToFloor == null) ? null : durable.every((f) => f!.ratioToFloor! >= 0.95),
  });
  const reconnect = figures.get('durable.reconnect.api');
  out.push({
    name: 'a cut connection to output flowing again, p99 < 1 s (the CLI says nothing below that)',
    measured: `p50 ${fmt(reconnect?.latency?.p50, 1)} ms, p99 ${fmt(reconnect?.latency?.p99, 1)} ms`,
    met: reconnect?.latency?.p99 == null || Number.isNaN(reconnect.latency.p99) ? null : reconnect.latency.p99 < 1000,
  });
  const library = ['stdout', 'stdin'].map((dir) => figures.get(`${dir}.library`));
  out.push({
    name: 'library stdout and stdin ≥ 1.5× the gRPC baseline',
    measured: library.map((f, i) => `${i === 0 ? 'stdout' : 'stdin'} ${fmt(f?.ratioToGrpc)}×`).join(', '),
    met: library.some((f) => f?.ratioToGrpc == null) ? null : library.every((f) => f!.ratioToGrpc! >= 1.5),
  });

  // Issue 18 items 3 and 7: through the API server at least ssh aes128-gcm's, where the
  // bench has an sshd of its own (judged only then).
  const sshStreams = ['stdout', 'stdin'].map((stream) => ({ stream, api: figures.get(`${stream}.api`), ssh: figures.get(`${stream}.ssh`) }));
  if (sshStreams.every(({ ssh }) => ssh?.value != null)) {
    out.push({
      name: 'stdout and stdin through the API server ≥ ssh aes128-gcm, in the same run',
      measured: sshStreams.map(({ stream, api, ssh }) => `${stream} ${fmt(api?.value, 0)} vs ${fmt(ssh?.value, 0)} MB/s (${fmt(api?.value != null && ssh?.value ? api.value / ssh.value : null)}×)`).join(', '),
      met: sshStreams.every(({ api, ssh }) => api?.value != null && api.value >= ssh!.value!),
    });
  }

  // Issue 17 item 5: the copy's ratio to the exec pipe is its figure's ratio to its floor.
  const copies = ['upload', 'download'].map((direction) => ({ direction, copy: figures.get(`copy.file.${direction}.api`) }));
  out.push({
    name: 'a single large file copied (API server) at least as fast as the exec pipe, both ways',
    measured: copies.map(({ direction, copy }) => `${direction} ${fmt(copy?.ratioToFloor)}× (${fmt(copy?.value, 0)} vs ${fmt(copy?.floor ? figures.get(copy.floor)?.value : null, 0)} MB/s)`).join(', '),
    met: copies.some(({ copy }) => copy?.ratioToFloor == null) ? null : copies.every(({ copy }) => copy!.ratioToFloor! >= 1),
  });
  return out;
}
