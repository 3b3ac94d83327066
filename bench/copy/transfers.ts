// The ways one file or one tree of small files travels, each timed from its start to its
// last byte written: the project's copy (copyToInstance, copyFromInstance), the exec pipe
// (`sh -c 'cat > f'`, `cat f`, `tar x`, `tar c` through execInInstance, as `hypeman-exec
// INSTANCE …` runs them) and ssh (`ssh peer 'cat > f'`, `tar c | ssh peer tar x`).
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { type CopyTarget, copyFromInstance, copyToInstance } from '../../src/host/client/copy/index.js';
import { execInInstance } from '../../src/host/client/index.js';

export type Direction = 'upload' | 'download';

/** Where a transfer reads and writes: a local path and a path in the instance. */
export interface Ends {
  local: string;
  remote: string;
}

export class TransferError extends Error {
  readonly code = 'BENCH_TRANSFER';
}

async function timed(run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

export function copyMs(target: CopyTarget, direction: Direction, ends: Ends): Promise<number> {
  return timed(async () => {
    if (direction === 'upload') await copyToInstance(target, { source: ends.local, destination: ends.remote });
    else await copyFromInstance(target, { source: ends.remote, destination: ends.local });
  });
}

/**
 * A command in the instance with its stdin from, or its stdout to, `local()`: made once the
 * session is open, since Node throws away what an unread child's stdout holds at its exit.
 */
async function execPipe(target: CopyTarget, argv: string[], direction: Direction, open: () => NodeJS.ReadableStream | NodeJS.WritableStream): Promise<void> {
  const s = await execInInstance(target, { argv });
  const local = open();
  let stderr = '';
  s.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  if (direction === 'upload') {
    s.stdout.resume();
    await pipeline(local as NodeJS.ReadableStream, s.stdin);
  } else {
    s.closeStdin();
    await pipeline(s.stdout, local as NodeJS.WritableStream);
  }
  const status = await s.exit;
  if (status.code !== 0) throw new TransferError(`${argv.join(' ')} exited with ${status.code ?? status.signal}: ${stderr.trim()}`);
}

/** One file through `sh -c 'cat > f'` or `cat f`. */
export function pipeFileMs(target: CopyTarget, direction: Direction, ends: Ends): Promise<number> {
  return timed(() =>
    direction === 'upload'
      ? execPipe(target, ['sh', '-c', 'cat > "$1"', 'sh', ends.remote], direction, () => createReadStream(ends.local, { highWaterMark: 256 * 1024 }))
      : execPipe(target, ['cat', ends.remote], direction, () => createWriteStream(ends.local, { highWaterMark: 256 * 1024 })),
  );
}

function exited(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new TransferError(`${what} exited with ${code ?? signal}: ${stderr.trim()}`))));
  });
}

/** A tree of files through `tar c` here and `tar x` in the instance, or the other way. */
export function pipeTreeMs(target: CopyTarget, direction: Direction, ends: Ends): Promise<number> {
  return timed(async () => {
    let tar: Promise<void> = Promise.resolve();
    const local = (argv: string[], stdio: StdioOptions) => () => {
      const child = spawn(argv[0], argv.slice(1), { stdio });
      tar = exited(child, argv.join(' '));
      return (child.stdout ?? child.stdin)!;
    };
    await (direction === 'upload'
      ? execPipe(target, ['sh', '-c', 'mkdir -p "$1" && tar x -C "$1"', 'sh', ends.remote], direction, local(['tar', 'c', '-C', ends.local, '.'], ['ignore', 'pipe', 'pipe']))
      : // tar x stops at the archive's end marker, before tar c's padding: cat reads the rest,
        // or closing the pipe early would fail the write.
        execPipe(target, ['tar', 'c', '-C', ends.remote, '.'], direction, local(['sh', '-c', 'mkdir -p "$1" && tar x -C "$1" && cat >/dev/null', 'sh', ends.local], ['pipe', 'ignore', 'pipe'])));
    await tar;
  });
}

/** A POSIX shell word for a path made by the bench (its own temp dir: no quotes in it). */
function quoted(path: string): string {
  if (path.includes("'")) throw new TransferError(`a bench path with a quote: ${path}`);
  return `'${path}'`;
}

/** One file through `ssh peer 'cat > f' < f` or `ssh peer cat f > f`. */
export function sshFileMs(sshArgs: string[], direction: Direction, ends: Ends): Promise<number> {
  return timed(async () => {
    const fd = direction === 'upload' ? openSync(ends.local, 'r') : openSync(ends.local, 'w');
    try {
      const command = direction === 'upload' ? `cat > ${quoted(ends.remote)}` : `cat ${quoted(ends.remote)}`;
      const stdio: Array<number | 'pipe' | 'ignore'> = direction === 'upload' ? [fd, 'ignore', 'pipe'] : ['ignore', fd, 'pipe'];
      await exited(spawn('ssh', [...sshArgs, command], { stdio }), 'ssh');
    } finally {
      closeSync(fd);
    }
  });
}

/** A tree through `tar c | ssh peer tar x`, or `ssh peer tar c | tar x` (one shell's pipe). */
export function sshTreeMs(sshArgs: string[], direction: Direction, ends: Ends): Promise<number> {
  const script =
    direction === 'upload'
      ? ['dir=$1; shift; tar c -C "$dir" . | ssh "$@"', `mkdir -p ${quoted(ends.remote)} && tar x -C ${quoted(ends.remote)}`]
      : ['dir=$1; shift; mkdir -p "$dir" && ssh "$@" | tar x -C "$dir"', `tar c -C ${quoted(ends.remote)} .`];
  return timed(() => exited(spawn('sh', ['-c', script[0], 'sh', ends.local, ...sshArgs, script[1]], { stdio: ['ignore', 'ignore', 'pipe'] }), 'tar and ssh'));
}
