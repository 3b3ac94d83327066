// 1 GiB (or the mode's size) through the command's stdout and through its stdin.
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { type ExecOptions, type ExecTarget, execInInstance } from '../../src/host/client/index.js';
import { grpcExec } from '../grpc/GrpcExecClient.js';

const CHUNK = 64 * 1024;

export class ShortStreamError extends Error {
  readonly code = 'BENCH_SHORT_STREAM';
}

/** `bytes` of zeros in 64 KiB chunks (one buffer, reused: the bytes are not the point). */
export async function* zeros(bytes: number): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(CHUNK);
  for (let left = bytes; left > 0; left -= CHUNK) yield left >= CHUNK ? chunk : chunk.subarray(0, left);
}

export function stdoutCommand(bytes: number): string[] {
  return ['head', '-c', String(bytes), '/dev/zero'];
}

export const STDIN_COMMAND = ['sh', '-c', 'cat >/dev/null'];

function check(what: string, got: number, want: number): void {
  if (got !== want) throw new ShortStreamError(`${what}: ${got} bytes arrived, ${want} expected`);
}

/** Milliseconds to read `bytes` of the command's stdout (`options`: e.g. a linger). */
export async function stdoutMs(target: ExecTarget, bytes: number, options: ExecOptions = {}): Promise<number> {
  const t0 = performance.now();
  const s = await execInInstance(target, { ...options, argv: stdoutCommand(bytes) });
  s.closeStdin();
  let got = 0;
  s.stdout.on('data', (c: Buffer) => (got += c.length));
  s.stderr.resume();
  await Promise.all([s.exit, finished(s.stdout)]);
  const ms = performance.now() - t0;
  check('stdout', got, bytes);
  return ms;
}

/** Milliseconds to write `bytes` into `cat >/dev/null` and see it exit. */
export async function stdinMs(target: ExecTarget, bytes: number, options: ExecOptions = {}): Promise<number> {
  const t0 = performance.now();
  const s = await execInInstance(target, { ...options, argv: STDIN_COMMAND });
  s.stdout.resume();
  s.stderr.resume();
  await pipeline(Readable.from(zeros(bytes), { objectMode: false }), s.stdin);
  const status = await s.exit;
  const ms = performance.now() - t0;
  check('stdin', status.code === 0 ? bytes : 0, bytes);
  return ms;
}

export async function grpcStdoutMs(vsockSocket: string, port: number, bytes: number): Promise<number> {
  const t0 = performance.now();
  const r = await grpcExec(vsockSocket, port, { argv: stdoutCommand(bytes) });
  const ms = performance.now() - t0;
  check('gRPC stdout', r.stdoutBytes, bytes);
  return ms;
}

export async function grpcStdinMs(vsockSocket: string, port: number, bytes: number): Promise<number> {
  const t0 = performance.now();
  const r = await grpcExec(vsockSocket, port, { argv: STDIN_COMMAND, stdin: zeros(bytes) });
  const ms = performance.now() - t0;
  check('gRPC stdin', r.exitCode === 0 ? bytes : 0, bytes);
  return ms;
}
