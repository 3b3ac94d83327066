// 1 GiB each way through the mux and the real agent, checksummed, with the memory of this
// process and of the agent checked to stay bounded (nothing buffers the stream whole).
// Figures (MB/s) are printed as diagnostics, not asserted: the machine is shared.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { execInInstance } from '../../src/host/client/index.js';
import { type MuxedAgent, startMuxedAgent } from './muxedAgent.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Far below 1 GiB, far above what a bounded pipeline holds. */
const MEMORY_BOUND = 256 * MiB;

/** A reproducible byte pattern, `bytes` long, and the sha256 of what it produced. */
function patternSource(bytes: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131 + (i >> 8)) & 0xff;
  let left = bytes;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      hash.update(piece);
      this.push(piece);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** Samples this process's RSS until stopped; returns the peak growth over the start. */
function watchRss(): () => number {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage.rss()) - start;
  };
}

describe('1 GiB through the hybrid vsock mux and the real agent', () => {
  let muxed: MuxedAgent;
  before(async () => {
    muxed = await startMuxedAgent();
  });
  after(() => muxed.stop());

  it('stdout: 1 GiB of a pattern, sha256 equal on both ends, memory bounded', async (t) => {
    // The command checksums what it writes, to stderr, so both ends can be compared. (Its
    // stdout is a socket, which /dev/fd cannot reopen: the checksum gets a pipe, fd 4.)
    const script = 'exec 4> >(sha256sum >&2); head -c 1073741824 /dev/urandom | tee /dev/fd/4; exec 4>&-; wait $!';
    const s = await execInInstance({ socketPath: muxed.mux.socketPath }, { argv: ['bash', '-c', script] });
    s.closeStdin();
    const hash = createHash('sha256');
    let bytes = 0;
    let remoteSum = '';
    s.stdout.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    s.stderr.on('data', (c: Buffer) => (remoteSum += c));
    const rssGrowth = watchRss();
    const agentRssBefore = muxed.agent.statusKb('VmRSS');
    const start = performance.now();
    const status = await s.exit;
    const seconds = (performance.now() - start) / 1000;
    const growth = rssGrowth();
    assert.equal(bytes, GiB);
    assert.equal(status.stdoutBytes, GiB);
    assert.equal(remoteSum.split(' ')[0], hash.digest('hex'));
    assert.ok(growth < MEMORY_BOUND, `this process grew by ${growth} bytes`);
    const agentGrowthKb = muxed.agent.statusKb('VmHWM') - agentRssBefore;
    assert.ok(agentGrowthKb * 1024 < MEMORY_BOUND, `the agent's peak grew by ${agentGrowthKb} kB`);
    t.diagnostic(`stdout 1 GiB in ${seconds.toFixed(2)} s: ${(GiB / MiB / seconds).toFixed(0)} MiB/s, client RSS +${(growth / MiB).toFixed(0)} MiB`);
  });

  it('stdin: 1 GiB of a pattern through sha256sum, equal on both ends, memory bounded', async (t) => {
    const s = await execInInstance({ socketPath: muxed.mux.socketPath }, { argv: ['sha256sum'] });
    const source = patternSource(GiB);
    let out = '';
    s.stdout.on('data', (c: Buffer) => (out += c));
    const rssGrowth = watchRss();
    const start = performance.now();
    await pipeline(source.stream, s.stdin);
    await s.exit;
    const seconds = (performance.now() - start) / 1000;
    const growth = rssGrowth();
    assert.equal(out.split(' ')[0], source.digest());
    assert.ok(growth < MEMORY_BOUND, `this process grew by ${growth} bytes`);
    t.diagnostic(`stdin 1 GiB in ${seconds.toFixed(2)} s: ${(GiB / MiB / seconds).toFixed(0)} MiB/s, client RSS +${(growth / MiB).toFixed(0)} MiB`);
  });
});
