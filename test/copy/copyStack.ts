// Test helpers for the copy operations: an agent with a container root of the test's own,
// reached through a HybridVsockMux as a VM's would be, and ways to look at trees.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type BigIntStats, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HybridVsockMux } from '../../src/host/local/HybridVsockMux.js';
import { AgentProcess } from '../guest/agentProcess.js';

export interface CopyAgent {
  /** A scratch directory; the container root is `root` inside it, so `dir` itself is outside the root. */
  dir: string;
  root: string;
  agent: AgentProcess;
  target: { socketPath: string };
  stop(): Promise<void>;
}

/** An agent whose container root is a fresh directory (`setup` may fill it before the agent starts). */
export async function startCopyAgent(setup?: (root: string, dir: string) => void): Promise<CopyAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'hypeman-copy-'));
  const root = join(dir, 'root');
  execFileSync('mkdir', ['-p', root]);
  setup?.(root, dir);
  const agent = await AgentProcess.start({ args: ['--root', root] });
  const socketPath = join(dir, 'vsock.sock');
  const mux = new HybridVsockMux({ socketPath, ports: { 2222: agent.socketPath } });
  await mux.listen();
  return {
    dir,
    root,
    agent,
    target: { socketPath },
    async stop() {
      await mux.close();
      await agent.stop();
      // Mounts a test made inside the root go first (a tmpfs, a read-only bind).
      for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n').reverse()) {
        const mountPoint = line.split(' ')[1];
        if (mountPoint?.startsWith(`${dir}/`)) execFileSync('umount', ['-l', mountPoint]);
      }
      try {
        // A test may have made a file immutable; chattr also complains of the fifos and devices it cannot change.
        execFileSync('chattr', ['-R', '-i', dir], { stdio: 'ignore' });
      } catch {
        // what it could change, it changed
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a tree holds, for comparing two: per relative path (latin1 keys: names are bytes). */
export interface TreeFile {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block';
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  sha256?: string;
  link?: string;
  rdev?: bigint;
  /** The other paths of the tree that are the same file (hard links). */
  sameAs?: string[];
}

function typeOf(s: BigIntStats): TreeFile['type'] {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isCharacterDevice()) return 'char';
  return 'block';
}

/** Every entry below `path` (the root itself as ''), with its metadata and its content's SHA-256. */
export function readTree(path: string): Map<string, TreeFile> {
  const out = new Map<string, TreeFile>();
  const inodes = new Map<string, string[]>();
  const walk = (abs: Buffer, rel: string) => {
    const s = lstatSync(abs, { bigint: true });
    const type = typeOf(s);
    const f: TreeFile = { type, mode: Number(s.mode & 0o7777n), uid: Number(s.uid), gid: Number(s.gid), mtimeNs: s.mtimeNs };
    if (type === 'file') {
      f.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      const key = `${s.dev}:${s.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rel]);
    }
    if (type === 'symlink') f.link = readlinkSync(abs, { encoding: 'buffer' }).toString('latin1');
    if (type === 'char' || type === 'block') f.rdev = s.rdev;
    out.set(rel, f);
    if (type === 'dir') {
      for (const name of readdirSync(abs, { encoding: 'buffer' })) walk(Buffer.concat([abs, Buffer.from('/'), name]), rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`);
    }
  };
  walk(Buffer.from(path), '');
  for (const group of inodes.values()) {
    if (group.length > 1) for (const p of group) out.get(p)!.sameAs = group.filter((q) => q !== p).sort();
  }
  return out;
}

/** Everything below `path` as one string per entry, for assertions that print well. */
export function describeTree(tree: Map<string, TreeFile>, options: { mtimeMicroseconds?: boolean; owners?: boolean } = {}): string[] {
  return [...tree.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, f]) => {
      const time = options.mtimeMicroseconds ? f.mtimeNs / 1000n : f.mtimeNs;
      const owners = options.owners === false ? '' : ` ${f.uid}:${f.gid}`;
      // A directory's mtime changes as entries are made in it; the root's is its destination's.
      const when = f.type === 'dir' && path === '' ? '' : ` t=${time}`;
      return `${JSON.stringify(path)} ${f.type} ${f.mode.toString(8)}${owners}${when}${f.sha256 ? ` ${f.sha256.slice(0, 16)}` : ''}${f.link !== undefined ? ` -> ${JSON.stringify(f.link)}` : ''}${f.rdev !== undefined ? ` dev=${f.rdev}` : ''}${f.sameAs ? ` =${JSON.stringify(f.sameAs)}` : ''}`;
    });
}
