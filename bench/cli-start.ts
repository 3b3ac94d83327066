// npm run bench:cli [-- --runs N] [--also NAME=SCRIPT …]: the CLI's start-up, its own
// measure (issue 18 item 2: `hypeman-exec INSTANCE true` at most `node -e 0` + 30 ms). The
// bench stack's API server, mux and agent as in `npm run bench`; then, in rounds so that the
// machine's load falls on all alike, one run each of: `node -e 0`; the launcher users run
// (dist/bin/hypeman-exec: the one-file bundle with its code cache) with --version and with
// `bench-1 true`; and the same CLI as tsc compiles it (dist/src/host/cli/main.js), which is
// how it ran before. `--also NAME=SCRIPT` adds another CLI script (e.g. another checkout's).
import { parseArgs } from 'node:util';
import { BenchStack, INSTANCE } from './BenchStack.js';
import { CLI_SCRIPT, runNode } from './exec/cli.js';
import { compiled } from './paths.js';
import { latencyStats } from './stats.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, also: { type: 'string', multiple: true, default: [] } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs takes a whole number of rounds, got ${values.runs}`);

const stack = await BenchStack.start();
try {
  const env = { ...process.env, HYPEMAN_API_URL: stack.apiUrl, HYPEMAN_TOKEN: stack.token };
  const measures: Array<[string, string[]]> = [
    ['node -e 0', ['-e', '0']],
    ['hypeman-exec --version', [CLI_SCRIPT, '--version']],
    [`hypeman-exec ${INSTANCE} true`, [CLI_SCRIPT, INSTANCE, 'true']],
    [`dist/src/host/cli/main.js ${INSTANCE} true (unbundled)`, [compiled('src/host/cli/main.js'), INSTANCE, 'true']],
    ...values.also.map((entry): [string, string[]] => {
      const [name, script] = entry.split('=');
      return [`${name} ${INSTANCE} true`, [script, INSTANCE, 'true']];
    }),
  ];
  const samples = measures.map(() => [] as number[]);
  // A first round unmeasured: the code cache is written by the first session, and the OS's caches warm up.
  for (let round = 0; round <= runs; round++) {
    for (const [k, [, args]] of measures.entries()) {
      const t0 = performance.now();
      await runNode(args, env);
      if (round > 0) samples[k].push(performance.now() - t0);
    }
  }
  const floor = latencyStats(samples[0]).p50;
  console.log(`${runs} rounds, p50 / p90 in ms, and the p50 over node -e 0's`);
  for (const [k, [name]] of measures.entries()) {
    const s = latencyStats(samples[k]);
    console.log(`${name.padEnd(58)} ${s.p50.toFixed(1).padStart(6)} ${s.p90.toFixed(1).padStart(6)}   ${(s.p50 / floor).toFixed(2)}× (+${(s.p50 - floor).toFixed(1)} ms)`);
  }
} finally {
  await stack.stop();
}
