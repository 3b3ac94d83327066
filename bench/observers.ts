// npm run bench:observers [-- MiB PAIRS]: the writer's throughput with two observers attached
// against none, alone (the full figure is part of npm run bench's durable section).
import { BenchStack } from './BenchStack.js';
import { targetFor } from './exec/targets.js';
import { writerWithObservers } from './exec/observers.js';

const mib = Number(process.argv[2] ?? 256);
const pairs = Number(process.argv[3] ?? 4);
const stack = await BenchStack.start();
try {
  const r = await writerWithObservers(targetFor(stack, 'api'), mib * 2 ** 20, pairs);
  const ratios = r.ratios.map((x) => x.toFixed(2)).join(', ');
  process.stdout.write(`writer, ${mib} MiB of stdout through the API server, median of ${pairs} interleaved pairs:\n`);
  process.stdout.write(`  no observer:   ${r.none.toFixed(0)} MB/s\n  two observers: ${r.two.toFixed(0)} MB/s (two ÷ none per pair: ${ratios}; observers cut: ${r.observersCut})\n`);
  process.stdout.write(`  two observers reading nothing (cut by the server): ${r.twoIdle.toFixed(0)} MB/s\n`);
} finally {
  await stack.stop();
}
