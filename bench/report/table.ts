// The report as text tables for stdout (Markdown, so the README can show it as it is).
import type { Figure, Report } from './Report.js';

function num(n: number, unit: string): string {
  if (unit === 'ms') return n < 10 ? n.toFixed(2) : n.toFixed(1);
  if (unit === 'KiB' || unit === 'MiB') return n.toFixed(1);
  return n.toFixed(0);
}

function valueText(f: Figure): string {
  if (f.value === null) return f.note ?? 'not measured';
  if (f.unit === 'sessions') {
    const d = f.detail as { sessions: number; failures: number; startP99: number };
    return `${f.value}/${d.sessions} ok, ${d.failures} failed, start p99 ${num(d.startP99, 'ms')} ms`;
  }
  if (f.latency) return `p50 ${num(f.latency.p50, 'ms')} · p90 ${num(f.latency.p90, 'ms')} · p99 ${num(f.latency.p99, 'ms')} ms (n=${f.latency.n})`;
  const parts = Object.entries(f.parts ?? {}).map(([name, n]) => `${name} ${num(n, f.unit)}`);
  return `${num(f.value, f.unit)} ${f.unit}${parts.length > 0 ? ` (${parts.join(' · ')})` : ''}`;
}

const ratio = (r: number | undefined) => (r === undefined ? '' : `${r.toFixed(2)}×`);

export function renderTable(report: Report): string {
  const lines = [
    '| measure | path | result | ÷ floor | ÷ gRPC |',
    '| --- | --- | --- | --- | --- |',
    ...report.figures.map((f) => {
      const failures = f.detail?.failures;
      const extra = typeof failures === 'number' && failures > 0 && !f.id.startsWith('concurrency') ? ` (${failures} failed)` : '';
      return `| ${f.measure} | ${f.path} | ${valueText(f)}${extra} | ${ratio(f.ratioToFloor)} | ${ratio(f.ratioToGrpc)} |`;
    }),
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...report.targets.map((t) => `| ${t.name} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'met' : '**missed**'} |`),
    ...Object.entries(report.skipped).flatMap(([section, why]) => ['', `${section} section skipped: ${why}`]),
  ];
  return lines.join('\n');
}
