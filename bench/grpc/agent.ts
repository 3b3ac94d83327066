// The gRPC baseline's agent: exec.proto served on a Unix socket (behind the same
// HybridVsockMux as the real agent), each Exec spawning the command on pipes and streaming
// with backpressure both ways, as the original's Go agent does. Benchmark only: no TTY,
// no chroot, no timeouts. node dist/bench/grpc/agent.js SOCKET
import grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { type GrpcExecRequest, type GrpcExecResponse, execServiceDefinition } from './execService.js';

type ExecCall = grpc.ServerDuplexStream<GrpcExecRequest, GrpcExecResponse>;

/** Sends the command's output as it comes, pausing the pipe while gRPC's buffer is full. */
function forward(source: Readable, call: ExecCall, field: 'stdout' | 'stderr'): void {
  source.on('data', (chunk: Buffer) => {
    if (!call.write({ [field]: chunk })) {
      source.pause();
      call.once('drain', () => source.resume());
    }
  });
}

function exec(call: ExecCall): void {
  call.once('data', (first: GrpcExecRequest) => {
    if (!first.start || first.start.command.length === 0) {
      call.destroy(new Error('the first message must be a start with a command'));
      return;
    }
    const { command, env, cwd } = first.start;
    const child = spawn(command[0], command.slice(1), {
      cwd: cwd || '/',
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.on('error', () => undefined); // a command that exits without reading stdin
    call.on('data', (req: GrpcExecRequest) => {
      if (req.stdin && !child.stdin.write(req.stdin)) {
        call.pause();
        child.stdin.once('drain', () => call.resume());
      }
    });
    call.on('end', () => child.stdin.end());
    call.on('error', () => child.kill('SIGKILL'));
    call.on('cancelled', () => child.kill('SIGKILL'));
    forward(child.stdout, call, 'stdout');
    forward(child.stderr, call, 'stderr');
    let finished = false;
    const finish = (exitCode: number) => {
      if (finished) return;
      finished = true;
      call.write({ exit_code: exitCode });
      call.end();
    };
    child.on('error', () => finish(127));
    child.on('close', (code, signal) => finish(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

const socketPath = process.argv[2];
const server = new grpc.Server();
server.addService(execServiceDefinition, { Exec: exec });
server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`grpc agent: cannot listen on ${socketPath}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('grpc agent ready\n');
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
