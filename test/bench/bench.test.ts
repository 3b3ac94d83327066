// `npm run bench` in its smoke mode: every component starts as its own compiled process,
// every measure runs once or a few times, and the JSON report has its shape. No figure is
// judged (timings belong to the benchmark, not to tests). Runs dist/: `npm test` builds it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const PROJECT = new URL('../..', import.meta.url).pathname;
const RUNNER = join(PROJECT, 'dist/bench/run.js');

function bench(args: string[]) {
  return spawnSync(process.execPath, [RUNNER, ...args], { cwd: PROJECT, encoding: 'utf8', timeout: 120_000 });
}

const EXPECTED_IDS = [
  'floor.spawn', 'floor.node-start', 'floor.pipe', 'floor.unix.receive', 'floor.unix.send', 'floor.ws.receive', 'floor.ws.send', 'floor.tty',
  'memory.idle.agent', 'memory.idle.api-server', 'memory.idle.mux',
  'memory.slow-reader.agent', 'memory.slow-reader.api-server', 'memory.slow-reader.mux',
  'roundtrip.grpc', 'roundtrip.library', 'roundtrip.api', 'roundtrip.cli', 'agent.start',
  'tty.library', 'tty.api',
  'stdout.grpc', 'stdout.library', 'stdout.api', 'stdin.grpc', 'stdin.library', 'stdin.api',
  'concurrency.api.5', 'concurrency.api.10', 'concurrency.library.10',
  'durable.stdout.library', 'durable.stdout.api', 'durable.stdin.library', 'durable.stdin.api',
  'durable.stdout.library.plain', 'durable.stdout.api.plain', 'durable.stdin.library.plain', 'durable.stdin.api.plain',
  'durable.reconnect.api',
  'observers.writer.api.none', 'observers.writer.api.two',
];
// ssh beside ours (issue 18 item 7) and copies (issue 17 item 5: each of a large file and a
// tree, each way, by every way): ssh only where sshd is installed (the bench starts its own).
const SSH = existsSync('/usr/sbin/sshd');
if (SSH) EXPECTED_IDS.push('roundtrip.ssh', 'stdout.ssh', 'stdin.ssh');
for (const kind of ['file', 'files']) {
  for (const direction of ['upload', 'download']) {
    for (const way of ['pipe', 'api', 'library', ...(SSH ? ['ssh'] : [])]) EXPECTED_IDS.push(`copy.${kind}.${direction}.${way}`);
  }
}

describe('npm run bench --smoke', () => {
  it('measures every figure through real processes and writes the JSON report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypeman-bench-test-'));
    try {
      const out = join(dir, 'report.json');
      const r = bench(['--quick', '--smoke', '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^\| measure \| path \| result \| ÷ floor \| ÷ gRPC \|$/m);
      assert.match(r.stdout, /^\| target \| measured \| \|$/m);

      const report = JSON.parse(readFileSync(out, 'utf8'));
      assert.equal(report.mode, 'smoke');
      assert.equal(typeof report.machine.cpus, 'number');
      assert.deepEqual(report.figures.map((f: { id: string }) => f.id).sort(), [...EXPECTED_IDS].sort());
      for (const f of report.figures) {
        assert.ok(['ms', 'MB/s', 'files/s', 'KiB', 'MiB', 'sessions'].includes(f.unit), `${f.id} unit ${f.unit}`);
        if (f.id === 'roundtrip.cli' && f.value === null) {
          assert.match(f.note, /CLI not available/);
          continue;
        }
        assert.equal(typeof f.value, 'number', `${f.id} has a value`);
        assert.ok(Number.isFinite(f.value), `${f.id} value ${f.value}`);
        if (f.floor) assert.equal(typeof f.ratioToFloor, 'number', `${f.id} ratio to ${f.floor}`);
        if (f.grpc) assert.equal(typeof f.ratioToGrpc, 'number', `${f.id} ratio to ${f.grpc}`);
      }
      for (const id of ['stdout.api', 'stdin.api', 'roundtrip.library']) {
        const f = report.figures.find((x: { id: string }) => x.id === id);
        assert.ok(f.grpc && f.floor, `${id} is compared with a floor and the gRPC baseline`);
      }
      assert.equal(report.targets.length, SSH ? 15 : 14);
      for (const name of [/idle \+ 16 MiB/, /start p99 ≤ 1 s/, /library stdout and stdin ≥ 1\.5×/, /within 5 % of one that is not/, /output flowing again/]) {
        assert.ok(report.targets.some((t: { name: string }) => name.test(t.name)), `issue 18's target ${name} is judged`);
      }
      assert.ok(report.targets.some((t: { name: string }) => /large file copied .* as fast as the exec pipe/.test(t.name)), "issue 17's target is judged");
      if (!SSH) assert.match(report.skipped.ssh, /sshd/, 'the copy section says why ssh is missing');
      assert.match(report.skipped.VM, /--smoke/, 'the VM section says why it did not run');
      assert.match(r.stdout, /^VM section skipped: --smoke/m);
      for (const t of report.targets) assert.ok(t.met === true || t.met === false, `${t.name} judged`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown option with usage and exit status 2', () => {
    const r = bench(['--fast']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Usage: npm run bench/);
  });
});
