// OpenSSH beside hypeman-exec (issue 18 item 7), against the bench's own sshd: a whole
// `ssh peer true` over a warm ControlMaster (what an ssh user who runs many commands has,
// beside the CLI's wall time), and stdout and stdin streams with aes128-gcm (the fastest
// cipher here, with AES-NI), read and written by this Node process as our client's are.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Samples, sampleMs } from '../stats.js';
import { STDIN_COMMAND, ShortStreamError, stdoutCommand, zeros } from '../exec/throughput.js';
import type { SshPeer } from './SshPeer.js';

const CIPHER = ['-c', 'aes128-gcm@openssh.com'];
const MASTER_READY_MS = 15_000;

function exited(child: ChildProcess, what: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => (code === 0 ? resolve(code) : reject(new ShortStreamError(`${what} exited with ${code ?? signal}: ${stderr.trim().slice(0, 300)}`))));
  });
}

/** `runs` wall times of `ssh peer true` through a ControlMaster opened first (not timed). */
export async function sshRoundTrips(peer: SshPeer, dir: string, runs: number, warmup: number): Promise<Samples> {
  const control = join(dir, 'ssh-control');
  const master = spawn('ssh', ['-M', '-N', '-S', control, ...peer.args], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const deadline = Date.now() + MASTER_READY_MS;
    while (spawnSync('ssh', ['-S', control, '-O', 'check', ...peer.args], { stdio: 'ignore' }).status !== 0) {
      if (Date.now() > deadline || master.exitCode !== null) throw new ShortStreamError('the ssh ControlMaster did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
    return await sampleMs(runs, warmup, async () => {
      await exited(spawn('ssh', ['-S', control, ...peer.args, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] }), 'ssh true');
    });
  } finally {
    master.kill('SIGTERM');
  }
}

/** Milliseconds to read `bytes` of `head -c N /dev/zero` through ssh (a fresh connection, its handshake included). */
export async function sshStdoutMs(peer: SshPeer, bytes: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn('ssh', [...CIPHER, ...peer.args, stdoutCommand(bytes).join(' ')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let got = 0;
  child.stdout!.on('data', (c: Buffer) => (got += c.length));
  await exited(child, 'ssh head');
  const ms = performance.now() - t0;
  if (got !== bytes) throw new ShortStreamError(`ssh stdout: ${got} bytes arrived, ${bytes} expected`);
  return ms;
}

/** Milliseconds to write `bytes` into `cat >/dev/null` through ssh and see it exit. */
export async function sshStdinMs(peer: SshPeer, bytes: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn('ssh', [...CIPHER, ...peer.args, STDIN_COMMAND.map((w) => `'${w}'`).join(' ')], { stdio: ['pipe', 'ignore', 'pipe'] });
  const done = exited(child, 'ssh cat');
  await pipeline(Readable.from(zeros(bytes), { objectMode: false }), child.stdin!);
  await done;
  return performance.now() - t0;
}
