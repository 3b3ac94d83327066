// An OpenSSH server of the bench's own on a loopback port, for the ssh figures beside ours
// (round trip over a ControlMaster, stdout and stdin, `ssh peer 'cat > f'`, `tar c | ssh
// peer tar x`): its own host key, client key and config in the bench's temp dir, so nothing
// of the machine's ssh setup is used or changed. Where sshd or ssh is not installed the
// figures are skipped with a note.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 15_000;

export class SshPeerError extends Error {
  readonly code = 'BENCH_SSH_PEER';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new SshPeerError('no port'))));
    });
  });
}

function keygen(path: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new SshPeerError(`ssh-keygen failed: ${r.stderr || r.error?.message}`);
}

export class SshPeer {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  /** ssh's arguments before the remote command. */
  readonly args: string[];

  private constructor(child: ChildProcess, args: string[]) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.args = args;
  }

  /** Why there are no ssh figures on this machine, or undefined when sshd can be started. */
  static missing(): string | undefined {
    if (!existsSync(SSHD)) return `no ${SSHD} (apt-get install openssh-server to measure ssh beside hypeman-exec)`;
    if (spawnSync('ssh', ['-V']).error) return 'no ssh client (apt-get install openssh-client)';
    return undefined;
  }

  static async start(dir: string): Promise<SshPeer> {
    mkdirSync(dir, { recursive: true });
    const hostKey = join(dir, 'host_key');
    const clientKey = join(dir, 'client_key');
    keygen(hostKey);
    keygen(clientKey);
    const authorized = join(dir, 'authorized_keys');
    writeFileSync(authorized, readFileSync(`${clientKey}.pub`));
    // sshd checks that its privilege-separation directory exists (Debian's is /run/sshd,
    // made by the service's unit, which a machine without systemd never runs).
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorized}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'LogLevel INFO',
        // bash sources ~/.bashrc for a command sshd runs when it is a top-level shell; a SHLVL
        // of 1 makes it the second level, so the figures are ssh's and not the user's dotfiles
        // (root's here runs pyenv init: 90 ms per command).
        'SetEnv SHLVL=1',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const peer = new SshPeer(child, [
      '-p', String(port), '-i', clientKey,
      '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '127.0.0.1',
    ]);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SshPeerError(`sshd did not listen within ${READY_TIMEOUT_MS / 1000} s: ${log}`)), READY_TIMEOUT_MS);
      child.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (/Server listening on/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new SshPeerError(`sshd exited (${code}): ${log.trim()}`));
      });
    });
    child.stderr!.resume();
    const probe = spawnSync('ssh', [...peer.args, 'true'], { encoding: 'utf8', timeout: READY_TIMEOUT_MS });
    if (probe.status !== 0) {
      await peer.stop();
      throw new SshPeerError(`ssh to the bench's sshd failed: ${probe.stderr.trim() || probe.error?.message}`);
    }
    return peer;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }
}
