// `true` from connect to Exit, a fresh connection each run (as a CLI does).
import { type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import { type Samples, sampleMs } from '../stats.js';
import { grpcExec } from '../grpc/GrpcExecClient.js';

export class UnexpectedExitError extends Error {
  readonly code = 'BENCH_UNEXPECTED_EXIT';
}

export async function execTrue(target: ExecTarget): Promise<void> {
  const s = await execInInstance(target, { argv: ['true'] });
  s.closeStdin();
  s.stdout.resume();
  s.stderr.resume();
  const status = await s.exit;
  if (status.code !== 0) throw new UnexpectedExitError(`true exited with ${status.code}`);
}

export function roundTrips(target: ExecTarget, runs: number, warmup: number): Promise<Samples> {
  return sampleMs(runs, warmup, () => execTrue(target));
}

export function grpcRoundTrips(vsockSocket: string, port: number, runs: number, warmup: number): Promise<Samples> {
  return sampleMs(runs, warmup, async () => {
    const r = await grpcExec(vsockSocket, port, { argv: ['true'] });
    if (r.exitCode !== 0) throw new UnexpectedExitError(`true exited with ${r.exitCode} through gRPC`);
  });
}
