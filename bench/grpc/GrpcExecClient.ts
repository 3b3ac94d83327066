// Runs one command through the gRPC baseline, on a fresh channel (a new connection through
// the mux), as the original's client does per exec.
import grpc from '@grpc/grpc-js';
import { HybridVsockCredentials } from './HybridVsockCredentials.js';
import { ExecServiceClient, type GrpcExecRequest, type GrpcExecResponse } from './execService.js';

export interface GrpcExecResult {
  exitCode: number;
  stdoutBytes: number;
  stderrBytes: number;
}

export interface GrpcExecOptions {
  argv: string[];
  /** Written to stdin (with backpressure), then stdin is closed; none: closed at once. */
  stdin?: AsyncIterable<Buffer>;
}

export class GrpcExecError extends Error {
  readonly code = 'BENCH_GRPC_EXEC';
}

export async function grpcExec(vsockSocket: string, port: number, options: GrpcExecOptions): Promise<GrpcExecResult> {
  // A local subchannel pool: a new client must open its own connection, not reuse one.
  const client = new ExecServiceClient(`unix:${vsockSocket}`, new HybridVsockCredentials(port), { 'grpc.use_local_subchannel_pool': 1 });
  try {
    const call = (client as unknown as { Exec(): grpc.ClientDuplexStream<GrpcExecRequest, GrpcExecResponse> }).Exec();
    const result = new Promise<GrpcExecResult>((resolve, reject) => {
      let stdoutBytes = 0;
      let stderrBytes = 0;
      let exitCode: number | undefined;
      call.on('data', (m: GrpcExecResponse) => {
        if (m.stdout) stdoutBytes += m.stdout.length;
        else if (m.stderr) stderrBytes += m.stderr.length;
        else if (m.response === 'exit_code') exitCode = m.exit_code ?? 0;
      });
      call.on('error', (err) => reject(new GrpcExecError(`gRPC exec of ${options.argv[0]} failed: ${err.message}`)));
      call.on('end', () => {
        if (exitCode === undefined) reject(new GrpcExecError(`gRPC exec of ${options.argv[0]} ended without an exit code`));
        else resolve({ exitCode, stdoutBytes, stderrBytes });
      });
    });
    call.write({ start: { command: options.argv } });
    if (options.stdin) {
      for await (const chunk of options.stdin) {
        if (!call.write({ stdin: chunk })) await new Promise((r) => call.once('drain', r));
      }
    }
    call.end();
    return await result;
  } finally {
    client.close();
  }
}
