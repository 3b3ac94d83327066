// Shared by the initrd tests: temporary trees that are removed only once nothing is mounted
// in them and no process runs in them, stand-in agents, and container roots made of busybox.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const exec = promisify(execFile);
export const isRoot = process.getuid?.() === 0;
export const needsRoot = isRoot ? false : 'needs root (chroot, mount and pid namespaces)';

export function temporaryDirectory(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `hypeman-initrd-${prefix}-`));
}

/** Mount points at or below `dir`, as this process's mount namespace sees them. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)));
}

/** Processes whose root directory is at or below `dir` (a chroot left running). */
export function processesRootedUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const root = readlinkSync(`/proc/${name}/root`);
      if (root === dir || root.startsWith(`${dir}/`)) pids.push(Number(name));
    } catch {
      // gone, or not ours to inspect
    }
  }
  return pids;
}

/**
 * Removes a test's tree. Refuses while anything is mounted inside (rm -r would walk into a
 * bind mount of /dev): lazily unmounts what is left, then fails loudly, since a test that
 * leaks a mount is broken even if cleanup saved the day.
 */
export async function removeTree(dir: string): Promise<void> {
  const leftovers = mountsUnder(dir).sort().reverse();
  for (const point of leftovers) await exec('umount', ['-l', point]).catch(() => undefined);
  if (mountsUnder(dir).length > 0) throw new Error(`still mounted under ${dir}: ${mountsUnder(dir).join(', ')}; not removing it`);
  await rm(dir, { recursive: true, force: true });
  if (leftovers.length > 0) throw new Error(`the test left mounts behind: ${leftovers.join(', ')}`);
}

/** Extracts a gzip-compressed cpio archive with the real tools, as a kernel would see it. */
export async function extractImage(image: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  await exec('sh', ['-c', 'gzip -dc "$1" | cpio -idm --quiet', 'extract', image], { cwd: into });
}

/** `cpio -t` of a gzip-compressed archive: its member names in archive order. */
export async function listImage(image: string): Promise<string[]> {
  const { stdout } = await exec('sh', ['-c', 'gzip -dc "$1" | cpio -t --quiet', 'list', image], { maxBuffer: 16 << 20 });
  return stdout.split('\n').filter((line) => line.length > 0);
}

/** A container root made of busybox alone: no libc, no loader, no node. */
export async function busyboxOnlyRoot(root: string, busybox: string): Promise<void> {
  for (const dir of ['bin', 'proc', 'sys', 'dev', 'tmp', 'srv', '.hypeman']) await mkdir(join(root, dir), { recursive: true });
  await copyFile(busybox, join(root, 'bin', 'busybox'));
  const { stdout } = await exec(busybox, ['--list']);
  for (const applet of stdout.split('\n')) {
    if (applet && applet !== 'busybox') await symlink('busybox', join(root, 'bin', applet));
  }
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `argv` in new mount, pid, net, uts and ipc namespaces (unshare --kill-child: when the
 * unshare process dies, the namespace's PID 1 is killed, and with it everything inside).
 * Mounts made inside vanish with the mount namespace. Killed after `timeoutMs`.
 */
export function runInNamespaces(argv: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Finished> {
  const child = spawn('unshare', ['--mount', '--pid', '--net', '--uts', '--ipc', '--fork', '--kill-child', '--', ...argv], {
    env: options.env ?? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
}

/**
 * A stand-in for the agent (src/guest/main.ts is being written elsewhere) that proves what
 * the image gives it: a bundled CommonJS dependency (pino, through the createRequire banner),
 * node-pty from /.hypeman/node_modules spawning a PTY, and the vsock addon named by
 * HYPEMAN_VSOCK_ADDON. It reports as one `STAND-IN {json}` line on stdout and in
 * /tmp/agent-result.json. /etc/stand-in.json in the root it runs in may say
 * {"exitFirst":true} (exit 3 on the first start, to be restarted) and {"stay":true}.
 */
export const STAND_IN_AGENT = `
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import pino from 'pino';
import * as pty from 'node-pty';

const settings = existsSync('/etc/stand-in.json') ? JSON.parse(readFileSync('/etc/stand-in.json', 'utf8')) : {};
const starts = existsSync('/tmp') ? (appendFileSync('/tmp/agent-starts', process.argv.slice(2).join(' ') + '\\n'), readFileSync('/tmp/agent-starts', 'utf8').trim().split('\\n').length) : 1;
if (settings.exitFirst && starts === 1) process.exit(3);
pino({ base: null }, pino.destination(2)).info({ starts }, 'stand-in agent up');
const addonPath = process.env.HYPEMAN_VSOCK_ADDON;
const addon = addonPath ? typeof createRequire(import.meta.url)(addonPath) : null;
// The shell waits once it has printed: node-pty may report the exit before the last output
// (its reader stops at the hang-up), so the report waits for the output instead.
const term = pty.spawn('/bin/sh', ['-c', 'echo pty-ok; tty; stty size; exec sleep 30'], { cols: 91, rows: 17 });
let output = '';
let reported = false;
const report = () => {
  if (reported) return;
  reported = true;
  const result = { argv: process.argv.slice(2), node: process.version, pid: process.pid, starts, env: process.env, addon, pty: { output } };
  if (existsSync('/tmp')) writeFileSync('/tmp/agent-result.json', JSON.stringify(result));
  console.log('STAND-IN ' + JSON.stringify(result));
  term.kill('SIGKILL');
  if (!settings.stay) process.exit(0);
};
term.onData((d) => {
  output += d;
  if (/\\d+ \\d+\\r\\n/.test(output)) report();
});
setTimeout(report, 10_000);
setInterval(() => {}, 60_000);
`;

/** Writes the stand-in agent entry into `dir` and returns its path. */
export async function writeStandInAgent(dir: string): Promise<string> {
  const entry = join(dir, 'stand-in-agent.ts');
  await mkdir(dir, { recursive: true });
  await writeFile(entry, STAND_IN_AGENT);
  return entry;
}

/** The node-pty native module: a real N-API addon, shipped as the vsock addon where that is not built. */
export const ptyAddon = join(createRequire(import.meta.url).resolve('node-pty/package.json'), '..', 'build', 'Release', 'pty.node');
